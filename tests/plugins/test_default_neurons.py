"""Each framework's default neuron, run natively, is the oracle run on its declared canonical twin.

This checks the spec's description of each framework (update order, reset mode and timing,
threshold compare, input scaling, surrogate) against the real code: identical spikes,
membrane equal to float64 rounding, and input gradients equal through the surrogate.
"""
from __future__ import annotations

import nir
import pytest
import torch

from snn_interop.nir.neurons import node_from_neuron
from snn_interop.spec import oracle
from snn_interop.spec.schema import SpecError
from snn_interop_conformance.tolerances import FP32_BPTT, FP32_GRADIENT, FP32_MEMBRANE, FP64_REORDERED
from tests.conftest import plugin_or_skip

FRAMEWORKS = ["snntorch", "spikingjelly", "sinabs", "norse"]



@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_default_neuron_matches_oracle_forward_and_backward(framework):
    plugin = plugin_or_skip(framework)
    module, canonical = plugin.default_neuron()
    gen = torch.Generator().manual_seed(7)
    x = torch.rand(64, 3, 5, generator=gen, dtype=torch.float64) * 2.5
    w_s, w_v = torch.randn(2, 64, 3, 5, generator=gen, dtype=torch.float64)

    x_native = x.clone().requires_grad_(True)
    spikes, v = plugin.run(module, x_native)  # float64 input, parameters in the framework's own dtype
    ((spikes * w_s).sum() + (v * w_v).sum()).backward()

    x_oracle = x.clone().requires_grad_(True)
    trace = oracle.simulate(canonical, x_oracle)
    ((trace.spikes * w_s).sum() + (trace.v * w_v).sum()).backward()

    assert trace.spikes.sum() > 10, "the input must make the neuron spike"
    assert torch.equal(spikes.to(torch.float64), trace.spikes)
    torch.testing.assert_close(v.to(torch.float64), trace.v, atol=FP64_REORDERED.atol, rtol=FP64_REORDERED.rtol)
    torch.testing.assert_close(x_native.grad, x_oracle.grad, atol=FP32_GRADIENT.atol, rtol=FP32_GRADIENT.rtol)


def test_rockpool_default_neuron_is_the_oracle_on_its_description():
    """rockpool's default LIFTorch (leak_mode="taus", StepPWL: floor(v / thr) spikes capped at 2^16,
    gradient 1 / thr wherever v >= thr - 0.5) is described as a current-based LIF with the spec's
    step surrogate and max spike function. StepPWL returns float32 spikes, so rockpool runs it in
    float32 only: spikes equal to the float64 oracle's, membranes and gradients within float32."""
    from snn_interop.spec.neurons import SpikeFn

    plugin = plugin_or_skip("rockpool")
    lif_torch, _ = plugin._rockpool()
    module = lif_torch.LIFTorch((5,))
    canonical = plugin.describe_neuron(module)
    assert canonical.spike_fn is SpikeFn.MAX and canonical.surrogate.surrogate.name == "step"
    gen = torch.Generator().manual_seed(7)
    x = torch.rand(64, 3, 5, generator=gen) * 2.5
    w_s, w_v = torch.randn(2, 64, 3, 5, generator=gen)

    x_native = x.clone().requires_grad_(True)
    spikes, v = plugin.run(module, x_native)
    ((spikes * w_s).sum() + (v * w_v).sum()).backward()
    x_oracle = x.double().requires_grad_(True)
    trace = oracle.simulate(canonical, x_oracle)
    ((trace.spikes * w_s.double()).sum() + (trace.v * w_v.double()).sum()).backward()

    assert trace.spikes.max() > 1, "the input must make the neuron fire several spikes in a step"
    assert torch.equal(spikes.to(torch.float64), trace.spikes)
    # the reset removes s thr exactly: v after it carries the float32 rounding of v before it (~24 here)
    before_reset = trace.v.detach().abs() + trace.spikes.detach() * canonical.threshold
    assert not FP32_MEMBRANE.exceeded((v.detach().double() - trace.v.detach()).abs(), before_reset).any()
    torch.testing.assert_close(x_native.grad.double(), x_oracle.grad, atol=FP32_BPTT.atol, rtol=FP32_BPTT.rtol)


@pytest.mark.parametrize("layer", ["IAF", "LIF"])
def test_sinabs_layer_with_a_synaptic_current_is_described_with_it(layer):
    """sinabs's IAF and LIF take tau_syn: the description keeps the synaptic current (an IAF with one
    was once described as a plain IF, its current silently dropped); the oracle on the description
    runs as the layer does."""
    import sinabs.layers as sl

    plugin = plugin_or_skip("sinabs")
    module = (sl.IAF(tau_syn=5.0, record_states=True) if layer == "IAF"
              else sl.LIF(tau_mem=8.0, tau_syn=5.0, record_states=True)).double()
    canonical = plugin.describe_neuron(module)
    assert canonical.model.value == "cuba_lif" and canonical.syn_decay.beta == pytest.approx(0.8187307530779818)
    x = torch.rand(48, 2, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 1.5
    spikes, v = plugin.run(module, x)
    trace = oracle.simulate(canonical, x)
    assert trace.spikes.sum() > 10, "the input must make the neuron spike"
    assert torch.equal(spikes, trace.spikes)
    torch.testing.assert_close(v.detach(), trace.v, atol=FP64_REORDERED.atol, rtol=FP64_REORDERED.rtol)
    # NIR's CubaLIF leaks: an IF with a synaptic current has no NIR node, and export says so
    if layer == "IAF":
        with pytest.raises(SpecError, match="membrane does not leak"):
            node_from_neuron(canonical, (6,))
    else:
        assert isinstance(node_from_neuron(canonical, (6,)), nir.CubaLIF)
