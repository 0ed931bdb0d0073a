"""Backends a framework picks once per process (spikingjelly 2.0's CUDA kernels) run as their own
implementations, in processes started with the plugin's environment; nothing here needs a GPU:
the implementations are planned for CUDA, and a fresh process shows that the environment is in
place before spikingjelly reads it."""
from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys

import torch

from snn_interop import registry
from snn_interop.plugin_api import BackendNotRun, NotExpressible
from snn_interop_conformance import deviations
from snn_interop_conformance.cases import cases
from snn_interop_conformance.runner import Implementation, backends_not_run, implementations, plugin_implementations, run_case
from tests.conftest import ROOT, plugin_or_skip


def test_spikingjelly_cuda_backends_are_planned_as_implementations_of_their_own():
    plugin_or_skip("spikingjelly")
    sj = registry.get("spikingjelly")
    if sj.native_cuda_built():  # a GPU machine that built it (scripts/gpu_checks.sh): auto runs it
        every = plugin_implementations(["spikingjelly"], "cuda", all_backends=True)
        assert [(i.name, i.backend, dict(i.env)) for i in every] == [
            ("spikingjelly", "cuda", {}), ("spikingjelly[triton]", "triton", dict.fromkeys(sj.CUDA_SELECTION, "triton")),
            ("spikingjelly[torch]", "torch", dict.fromkeys(sj.CUDA_SELECTION, "torch"))]
        return
    default = plugin_implementations(["spikingjelly"], "cuda")
    assert [(i.name, i.backend, i.env) for i in default] == [("spikingjelly", "triton", ())]
    every = plugin_implementations(["spikingjelly"], "cuda", all_backends=True)
    torch_backend = next(i for i in every if i.name == "spikingjelly[torch]")
    assert torch_backend.backend == "torch" and dict(torch_backend.env) == {"SJ_IF_CUDA_IMPLEMENTATION": "torch",
                                                                          "SJ_LIF_CUDA_IMPLEMENTATION": "torch"}
    # its native CUDA build is not in the PyPI wheel: listed as not available, not run
    assert "spikingjelly[cuda]" not in {i.name for i in every}
    assert backends_not_run(["spikingjelly"], "cuda", True) == [
        "spikingjelly/cuda: not available here (its plugin's backend_environment gives none)"]
    assert backends_not_run(["spikingjelly"], "cuda", False)[0] == "spikingjelly/torch: not run (--backends default)"
    assert [i.name for i in implementations(["spikingjelly"], "cpu", all_backends=True)] == ["spikingjelly"]  # one CPU backend


WORKER = """
import sys
from snn_interop_conformance import runner
runner._init_worker(("spikingjelly",), "cpu", None, True, (("SJ_LIF_CUDA_IMPLEMENTATION", "torch"),))
from spikingjelly._ops import lif
print(lif._selection._requested, len(runner._WORKER["impls"]))
"""


def test_spikingjelly_native_build_is_found_only_where_both_its_operators_are(tmp_path):
    plugin_or_skip("spikingjelly")
    plugin = registry.get("spikingjelly")
    (tmp_path / "_ops" / "lif").mkdir(parents=True)
    (tmp_path / "_ops" / "if_").mkdir()
    (tmp_path / "_ops" / "lif" / "_C.cpython-312-x86_64-linux-gnu.so").touch()
    assert not plugin.native_cuda_built(tmp_path)  # LIFNode's alone: IFNode would still run Triton under auto
    (tmp_path / "_ops" / "if_" / "_native_build.json").touch()
    assert not plugin.native_cuda_built(tmp_path)
    (tmp_path / "_ops" / "if_" / "_C.cpython-312-x86_64-linux-gnu.so").touch()
    assert plugin.native_cuda_built(tmp_path)
    assert plugin.native_cuda_built() == all(  # the installed spikingjelly, as spikingjelly itself finds its operators
        importlib.util.find_spec(f"spikingjelly._ops.{name}._C") is not None for name in ("if_", "lif"))


def test_a_worker_sets_its_environment_before_spikingjelly_reads_it():
    plugin_or_skip("spikingjelly")
    done = subprocess.run([sys.executable, "-c", WORKER], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    # spikingjelly's own selection object saw the variable; on CPU no implementation needs that environment
    assert done.stdout.split()[-2:] == ["torch", "0"]


def test_sinabs_exodus_is_planned_where_its_cuda_extension_is_and_listed_as_not_available_elsewhere():
    plugin_or_skip("sinabs")
    planned = {i.name: dict(i.env) for i in plugin_implementations(["sinabs"], "cuda", all_backends=True)}
    if importlib.util.find_spec("exodus_cuda") is not None:  # a GPU machine that built it (scripts/gpu_checks.sh)
        assert planned == {"sinabs": {}, "sinabs[exodus]": {"SNN_INTEROP_SINABS_BACKEND": "exodus"}}
        assert backends_not_run(["sinabs"], "cuda", True) == []
    else:
        assert planned == {"sinabs": {}}
        assert backends_not_run(["sinabs"], "cuda", True) == [
            "sinabs/exodus: not available here (its plugin's backend_environment gives none)"]
    assert registry.get("sinabs").backend_environment("cpu", "exodus") is None


def test_a_dtype_refused_when_the_layer_runs_is_reported_not_expressible():
    """sinabs-exodus builds its layers for any neuron it can express, but its kernels take float32
    alone: the plugin raises NotExpressible from run, and the case says so instead of erroring."""
    plugin_or_skip("sinabs")
    plugin = registry.get("sinabs")

    def float32_only(module, x):
        if x.dtype != torch.float32:
            raise NotExpressible("sinabs[float32 only]", f"dtype {x.dtype}", "its kernels take float32 only")
        return plugin.run(module, x)

    impl = Implementation("sinabs[float32 only]", "sinabs", "test", "cpu", plugin.build_neuron, float32_only,
                          parameters=plugin.parameters)
    case = next(c for c in cases(quick=True) if c.dtype == "float64" and c.id.startswith("lif-one_minus_beta-subtract-same_step-grad"))
    (result,) = run_case(case, [impl])
    assert result.status == "not_expressible" and result.reason.startswith("dtype torch.float64: its kernels take float32 only")
    (result,) = run_case(dataclasses.replace(case, dtype="float32"), [impl], deviations.load())
    assert result.status == "deviation"  # sinabs's declared threshold gradient, the rest equal to the oracle
    assert [f.split(":")[0] for f in result.failures] == ["param_grad.threshold"]


def test_a_case_a_forced_backend_does_not_run_is_reported_not_run_with_the_reason():
    """spikingjelly 2.0.0 runs a surrogate it has no kernel for on its torch reference whatever is
    selected, and refuses it when a backend is forced: its plugin raises BackendNotRun, and the case
    reads not_run with the reason while the other cases of that implementation run and pass."""
    plugin_or_skip("spikingjelly")
    plugin = registry.get("spikingjelly")

    def builtin_surrogates_only(module, x):
        if type(module.surrogate_function).__module__ != "spikingjelly.activation_based.surrogate":
            raise BackendNotRun("spikingjelly[planted]", "its torch reference runs this case under any selection")
        return plugin.run(module, x)

    impl = Implementation("spikingjelly[planted]", "spikingjelly", "planted", "cpu", plugin.build_neuron, builtin_surrogates_only)
    quick = {c.id: c for c in cases(quick=True)}
    # '>' is spikingjelly's own surrogate with the canonical spike function injected; '>=' its own
    injected = quick["lif-one_minus_beta-to_value-same_step-grad->-sigmoid(alpha=5, scale=1)-float32-small-T48"]
    native = quick["lif-one_minus_beta-to_value-same_step-grad->=-sigmoid(alpha=5, scale=1)-float32-small-T48"]
    (result,) = run_case(injected, [impl])
    assert (result.status, result.reason) == ("not_run", "its torch reference runs this case under any selection")
    (result,) = run_case(native, [impl])
    assert result.status == "pass", result.failures
