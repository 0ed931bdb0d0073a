"""Backends a framework picks once per process (spikingjelly 2.0's CUDA kernels) run as their own
implementations, in processes started with the plugin's environment; nothing here needs a GPU:
the implementations are planned for CUDA, and a fresh process shows that the environment is in
place before spikingjelly reads it."""
from __future__ import annotations

import subprocess
import sys

from snn_interop_conformance.runner import backends_not_run, implementations, plugin_implementations
from tests.conftest import ROOT, plugin_or_skip


def test_spikingjelly_cuda_backends_are_planned_as_implementations_of_their_own():
    plugin_or_skip("spikingjelly")
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


def test_a_worker_sets_its_environment_before_spikingjelly_reads_it():
    plugin_or_skip("spikingjelly")
    done = subprocess.run([sys.executable, "-c", WORKER], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    # spikingjelly's own selection object saw the variable; on CPU no implementation needs that environment
    assert done.stdout.split()[-2:] == ["torch", "0"]
