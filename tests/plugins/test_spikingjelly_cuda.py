"""spikingjelly's CUDA backends forced through SJ_LIF_CUDA_IMPLEMENTATION, as the conformance suite
forces them (``spikingjelly[torch]``). CUDA only: ``scripts/gpu_checks.sh`` runs this file on a lent GPU.

spikingjelly 2.0.0 runs a profile its kernels lack (here '>' through the injected canonical spike
function) on its torch reference whatever is selected, and refuses it when a backend is forced
(``_require_automatic_torch``): the plugin turns that refusal into ``BackendNotRun``.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT, plugin_or_skip

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="spikingjelly's CUDA backends need a GPU")

FORCED = """
import torch
from snn_interop import registry
from snn_interop.plugin_api import BackendNotRun
from snn_interop_conformance.cases import cases
plugin = registry.get("spikingjelly")
quick = {c.id: c for c in cases(quick=True)}
for compare in (">", ">="):
    case = quick[f"lif-one_minus_beta-to_value-same_step-grad-{compare}-sigmoid(alpha=5, scale=1)-float32-small-T48"]
    module = plugin.build_neuron(case.neuron).cuda()
    try:
        spikes, v = plugin.run(module, case.inputs().float().cuda())
        print(compare, "ran", int(spikes.sum()))
    except BackendNotRun as exc:
        print(compare, "not run:", exc.reason)
"""


def test_a_profile_spikingjelly_refuses_under_a_forced_backend_is_not_run_and_the_others_run():
    plugin_or_skip("spikingjelly")
    env = {"SJ_LIF_CUDA_IMPLEMENTATION": "torch", "SJ_IF_CUDA_IMPLEMENTATION": "torch"}
    done = subprocess.run([sys.executable, "-c", FORCED], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, **env})
    assert done.returncode == 0, done.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert lines[">"].startswith("not run: SJ_LIF_CUDA_IMPLEMENTATION='torch' cannot run this execution profile")
    assert lines[">="].startswith("ran ") and int(lines[">="].split()[1]) > 0
