"""The conformance suite as a pytest plugin (entry point ``pytest11``): one test per case.

A plugin author runs the suite against their plugin with::

    pytest --pyargs snn_interop_conformance --snn-framework myframework [--snn-quick] [--snn-match TEXT] [--snn-dtype float16]
           [--snn-device cuda]

or requests the ``conformance_run`` fixture from a test of their own. A case the framework
cannot express is skipped with its NotExpressible reason (shown by ``pytest -rs``); a declared
deviation passes with a warning naming its reason. Nothing is imported until a test asks.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("snn-conformance")
    group.addoption("--snn-framework", action="append", default=[], metavar="FW",
                    help="run the snn-interop conformance suite against this plugin (repeatable; default: every installed one)")
    group.addoption("--snn-quick", action="store_true", help="the quick conformance suite")
    group.addoption("--snn-match", metavar="TEXT", help="only conformance cases whose id contains TEXT")
    group.addoption("--snn-dtype", action="append", default=[], metavar="DTYPE",
                    help="a dtype of the conformance cases (repeatable: float64, float32, float16, bfloat16; default float64 and float32)")
    group.addoption("--snn-device", choices=("cpu", "cuda"), default="cpu",
                    help="where the framework's layers run (the oracle runs on the CPU in float64 either way)")


@dataclass(frozen=True)
class ConformanceRun:
    """One case for one framework; ``check()`` runs it and fails the test with the numbers."""

    framework: str
    case: Any  # snn_interop_conformance.cases.Case
    device: str = "cpu"

    def check(self) -> None:
        from snn_interop_conformance import deviations
        from snn_interop_conformance.runner import plugin_implementations, run_case

        (result,) = run_case(self.case, plugin_implementations([self.framework], self.device), deviations.load())
        if result.status == "not_expressible":
            pytest.skip(f"not expressible: {result.reason}")
        if result.status == "deviation":
            warnings.warn(f"declared deviation: {result.reason}", stacklevel=2)
        if result.status in ("fail", "error"):
            pytest.fail("\n".join([result.reason] * bool(result.reason) + result.failures), pytrace=False)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_run" not in metafunc.fixturenames:
        return
    from snn_interop import registry
    from snn_interop_conformance.cases import cases

    config = metafunc.config
    device = config.getoption("snn_device")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise pytest.UsageError("--snn-device cuda, but torch sees no CUDA device on this machine")
    frameworks = config.getoption("snn_framework") or [n for n in registry.names() if registry.load(n).available() is None]
    match = config.getoption("snn_match")
    dtypes = tuple(config.getoption("snn_dtype")) or ("float64", "float32")
    selected = [c for c in cases(quick=config.getoption("snn_quick"), dtypes=dtypes) if match is None or match in c.id]
    runs = [ConformanceRun(fw, c, device) for fw in frameworks for c in selected]
    metafunc.parametrize("conformance_run", runs, ids=[f"{r.framework}:{r.case.id}" for r in runs])
