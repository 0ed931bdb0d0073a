"""A plugin author runs the conformance suite from pytest (entry point pytest11): one test per
case, against a third-party plugin discovered through its entry point alone."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT
from tests.plugins.test_third_party_plugin import install_example


def _pytest(args: list[str], path: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([path, str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "snn_interop_conformance", *args],
                          capture_output=True, text=True, cwd=cwd, env=env, check=False)


def test_the_suite_runs_against_a_third_party_plugin_one_test_per_case(tmp_path):
    target = install_example(tmp_path)
    done = _pytest(["--snn-framework", "reference", "--snn-quick", "--snn-match", "if-none-subtract-same_step", "-rs"], str(target), tmp_path)
    # IF and LIF ("lif-none-subtract..." contains the text) x grad/detach x 2 compares x 3 surrogates x 2 dtypes
    assert done.returncode == 0, done.stdout[-3000:]
    assert "48 passed" in done.stdout and "skipped" not in done.stdout
    listed = _pytest(["--snn-framework", "reference", "--snn-quick", "--snn-match", "li-none", "--collect-only"], str(target), tmp_path)
    assert "test_conformance.py::test_case[reference:li-none-float64-small-T48]" in listed.stdout
    half = _pytest(["--snn-framework", "reference", "--snn-quick", "--snn-match", "li-none", "--snn-dtype", "bfloat16", "--collect-only"],
                   str(target), tmp_path)
    assert "reference:li-none-bfloat16-small-T48" in half.stdout and "float64" not in half.stdout


def test_not_expressible_cases_are_skipped_with_the_reason(tmp_path):
    done = _pytest(["--snn-framework", "norse", "--snn-quick", "--snn-match", "if-none-subtract-same_step-grad->=-atan", "-rs"], "", tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "4 skipped" in done.stdout  # IF and LIF ("lif-..." contains the text), 2 dtypes and "not expressible: " in done.stdout


def test_a_cuda_run_on_a_machine_without_one_is_refused_with_the_reason(tmp_path):
    import torch

    done = _pytest(["--snn-framework", "norse", "--snn-quick", "--snn-match", "li-none", "--snn-device", "cuda", "--collect-only"], "", tmp_path)
    if torch.cuda.is_available():
        assert done.returncode == 0 and "norse:li-none-float64-small-T48" in done.stdout, done.stdout[-3000:]
    else:
        assert done.returncode != 0 and "torch sees no CUDA device" in done.stdout + done.stderr, done.stdout[-3000:]
