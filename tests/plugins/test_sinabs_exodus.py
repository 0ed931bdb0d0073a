"""sinabs-exodus (CUDA kernels for sinabs's IAF, LIF and ExpLeak) through the sinabs plugin.

exodus is a source distribution built with nvcc, for CUDA only: these tests run where it is
installed (``scripts/gpu_checks.sh`` builds it on a lent GPU and runs this file); the
conformance suite runs its layers against the oracle as ``sinabs[exodus]``.
"""
from __future__ import annotations

import importlib.util

import pytest
import torch

from snn_interop.spec import oracle
from snn_interop_conformance.tolerances import FP32_BPTT, TOLERANCES
from tests.conftest import plugin_or_skip

pytestmark = pytest.mark.skipif(importlib.util.find_spec("exodus_cuda") is None or not torch.cuda.is_available(),
                                reason="sinabs-exodus is not installed (a CUDA build: scripts/gpu_checks.sh builds it on a GPU)")

LAYERS = {  # the same arguments to sinabs's layer and to exodus's
    "IAF": dict(spike_threshold=1.0),
    "IAF tau_syn": dict(spike_threshold=1.0, tau_syn=4.0),
    "LIF": dict(tau_mem=8.0, norm_input=False),
    "LIF tau_syn": dict(tau_mem=8.0, tau_syn=4.0),
    "ExpLeak": dict(tau_mem=6.0),
}


def _pair(kind: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    import sinabs.exodus.layers as el
    import sinabs.layers as sl

    name = kind.split()[0]
    return getattr(sl, name)(record_states=True, **LAYERS[kind]), getattr(el, name)(record_states=True, **LAYERS[kind])


@pytest.mark.parametrize("kind", list(LAYERS))
def test_exodus_layers_are_described_as_sinabs_layers_and_run_as_the_oracle(kind):
    plugin = plugin_or_skip("sinabs")
    torch_layer, exodus_layer = _pair(kind)
    neuron = plugin.describe_neuron(exodus_layer)
    assert neuron == plugin.describe_neuron(torch_layer)
    x = (torch.rand(64, 3, 7, generator=torch.Generator().manual_seed(5)) * 1.5).cuda().requires_grad_(True)
    w = torch.randn(64, 3, 7, generator=torch.Generator().manual_seed(6)).cuda()
    spikes, v = plugin.run(exodus_layer.cuda(), x)
    (((spikes + v) * w).sum()).backward()
    x64 = x.detach().cpu().double().requires_grad_(True)
    trace = oracle.simulate(neuron, x64)
    (((trace.spikes + trace.v) * w.cpu().double()).sum()).backward()
    if kind != "ExpLeak":
        assert trace.spikes.sum() > 10, "the input must make the neurons spike"
    assert torch.equal(spikes.cpu().double(), trace.spikes)
    tol = TOLERANCES[("float32", "membrane")]
    torch.testing.assert_close(v.detach().cpu().double(), trace.v, atol=tol.atol, rtol=tol.rtol)
    grad = x.grad.cpu().double()  # judged as the conformance suite does: relative to the largest entry
    assert float((grad - x64.grad).abs().max()) <= FP32_BPTT.rtol * float(x64.grad.abs().max())


def test_an_exodus_model_exports_to_nir_as_its_sinabs_twin():
    import sinabs.exodus.layers as el
    import sinabs.layers as sl

    plugin = plugin_or_skip("sinabs")
    torch.manual_seed(0)
    first, second = torch.nn.Linear(4, 6), torch.nn.Linear(6, 3)
    exodus_model = torch.nn.Sequential(first, el.LIF(tau_mem=8.0, tau_syn=4.0), second, el.IAFSqueeze(batch_size=2))
    sinabs_model = torch.nn.Sequential(first, sl.LIF(tau_mem=8.0, tau_syn=4.0), second, sl.IAFSqueeze(batch_size=2))
    sample = torch.zeros(2, 4)
    a, b = plugin.to_nir(exodus_model, sample), plugin.to_nir(sinabs_model, sample)
    assert sorted(a.nodes) == sorted(b.nodes) and a.edges == b.edges
    for name in ("1", "3"):
        assert a.nodes[name].metadata == b.nodes[name].metadata
