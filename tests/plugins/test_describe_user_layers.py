"""Layers as users write them, with options the plugins' ``build_neuron`` never sets: each is
either described exactly (the oracle run on the description gives the layer's own spikes,
membrane and input gradient, in float64) or refused with the reason, never described with an option dropped.

Found by probing each framework's constructor options (2026-11-26): sinabs's IAF with tau_syn
was described as a plain IF, its MaxSpike(n) raised a TypeError, and snnTorch's
graded_spikes_factor, inhibition and state_quant were ignored (surrogate_disable raised a
confusing SpecError), and spikingjelly's surrogate with spiking=False (a graded output) too;
spikingjelly's ParametricLIFNode and sinabs's ALIF were not recognised as neurons. Norse's
decays were described as 1 - dt tau_inv in float64 where norse rounds dt tau_inv to float32
(LIF()'s membrane then drifted by ~1e-9), and its LSNN was not recognised.
"""
from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from snn_interop.plugin_api import NotExpressible
from snn_interop.spec import oracle
from snn_interop.spec.neurons import Compare, Decay, InputScale, Neuron, ResetMode, SpikeFn
from snn_interop.spec.surrogates import SURROGATES
from snn_interop_conformance.tolerances import FP32_GRADIENT, FP64_REORDERED
from tests.conftest import plugin_or_skip


#: sinabs activation objects, named in the parameter lists (built only once sinabs is known to be there)
ACTIVATIONS = {"MaxSpike(3)": lambda sa: sa.MaxSpike(3), "MembraneReset()": lambda sa: sa.MembraneReset(),                "Gaussian()": lambda sa: sa.Gaussian(),
               "MembraneSubtract(0.5)": lambda sa: sa.MembraneSubtract(subtract_value=0.5)}


def _sinabs(name: str, **kw: object) -> Callable[[], torch.nn.Module]:
    def make() -> torch.nn.Module:
        import sinabs.activation as sa
        import sinabs.layers as sl

        built = {k: ACTIVATIONS[v](sa) if v in ACTIVATIONS else v for k, v in kw.items()}
        return getattr(sl, name)(record_states=True, **built)
    return make


def _snntorch(name: str, **kw: object) -> Callable[[], torch.nn.Module]:
    def make() -> torch.nn.Module:
        import snntorch as snn

        args = dict(alpha=0.7, beta=0.8) if name == "Synaptic" else dict(beta=0.8)
        if kw.get("state_quant"):
            from snntorch.functional import quant

            kw["state_quant"] = quant.state_quant(num_bits=4, uniform=True)
        return getattr(snn, name)(**(args | kw))
    return make


def _spikingjelly(name: str, surrogate: str | None = None, **kw: object) -> Callable[[], torch.nn.Module]:
    def make() -> torch.nn.Module:
        from spikingjelly.activation_based import neuron
        from spikingjelly.activation_based import surrogate as sg

        if surrogate == "ATan(spiking=False)":
            kw["surrogate_function"] = sg.ATan(spiking=False)
        return getattr(neuron, name)(store_v_seq=True, **kw)
    return make


def _norse(name: str, **kw: object) -> Callable[[], torch.nn.Module]:
    """A norse cell or time-wrapped module; parameters in float32 as norse's own defaults are."""
    def make() -> torch.nn.Module:
        import norse.torch as nt

        params = {"LSNN": nt.LSNNParameters, "LSNNCell": nt.LSNNParameters, "LIF": nt.LIFParameters,
                  "LIFBoxCell": nt.LIFBoxParameters, "LICell": nt.LIParameters, "LI": nt.LIParameters}[name]
        p = params(**{k: v if isinstance(v, str) else torch.tensor(v) for k, v in kw.items()})
        return getattr(nt, name)(p, **(dict(record_states=True) if name in ("LSNN", "LIF", "LI") else {}))
    return make


EXACT = [
    ("sinabs", "IAF spike_fn=MaxSpike(3)", _sinabs("IAF", spike_fn="MaxSpike(3)")),
    ("sinabs", "IAF tau_syn=4", _sinabs("IAF", tau_syn=4.0)),
    ("sinabs", "IAF min_v_mem=-0.5", _sinabs("IAF", min_v_mem=-0.5)),
    ("sinabs", "IAF reset_fn=MembraneReset()", _sinabs("IAF", reset_fn="MembraneReset()")),
    ("sinabs", "LIF tau_mem=5 norm_input=False", _sinabs("LIF", tau_mem=5.0, norm_input=False)),
    ("sinabs", "ExpLeak tau_mem=4 norm_input=True", _sinabs("ExpLeak", tau_mem=4.0, norm_input=True)),
    ("snntorch", "Leaky reset_mechanism=zero", _snntorch("Leaky", reset_mechanism="zero")),
    ("snntorch", "Leaky reset_mechanism=none", _snntorch("Leaky", reset_mechanism="none")),
    ("snntorch", "Leaky threshold=0.5 learn_threshold", _snntorch("Leaky", threshold=0.5, learn_threshold=True)),
    ("snntorch", "Synaptic threshold=inf reset_mechanism=none", _snntorch("Synaptic", threshold=float("inf"), reset_mechanism="none")),
    ("snntorch", "Lapicque beta=0.8", _snntorch("Lapicque")),
    ("snntorch", "Lapicque reset_mechanism=zero threshold=0.5", _snntorch("Lapicque", reset_mechanism="zero", threshold=0.5)),
    ("snntorch", "Lapicque R=2 C=3 time_step=0.5 reset_mechanism=none", _snntorch("Lapicque", beta=False, R=2.0, C=3.0, time_step=0.5,
                                                                                 reset_mechanism="none")),
    ("spikingjelly", "LIFNode v_reset=None", _spikingjelly("LIFNode", v_reset=None)),
    ("spikingjelly", "LIFNode decay_input=False", _spikingjelly("LIFNode", decay_input=False)),
    ("spikingjelly", "LIFNode v_threshold=0.5 v_reset=-0.2", _spikingjelly("LIFNode", v_threshold=0.5, v_reset=-0.2)),
    ("spikingjelly", "ParametricLIFNode init_tau=3", _spikingjelly("ParametricLIFNode", init_tau=3.0)),
    ("spikingjelly", "ParametricLIFNode decay_input=False v_reset=None", _spikingjelly("ParametricLIFNode", decay_input=False, v_reset=None)),
    ("norse", "LIF defaults", _norse("LIF")),
    ("norse", "LIFBoxCell defaults", _norse("LIFBoxCell")),
    ("norse", "LSNNCell defaults", _norse("LSNNCell")),
    ("norse", "LICell defaults", _norse("LICell")),
    ("norse", "LI tau_syn_inv=300 v_leak=0.2", _norse("LI", tau_syn_inv=300.0, v_leak=0.2)),
    ("norse", "LSNNCell tau_adapt_inv=40 beta=0.3 method=tanh", _norse("LSNNCell", tau_adapt_inv=40.0, beta=0.3, method="tanh", alpha=4.0)),
    ("norse", "LSNNCell tau_adapt_inv=40 v_th=(0.8, 1, 1.2, 1, 0.9)", _norse("LSNNCell", tau_adapt_inv=40.0, v_th=(0.8, 1.0, 1.2, 1.0, 0.9))),
    ("norse", "LSNN tau_adapt_inv=40 v_leak=0.1", _norse("LSNN", tau_adapt_inv=40.0, v_leak=0.1)),  # per-neuron v_th crashes its torch.full
]

REFUSED = [
    ("snntorch", "Leaky graded_spikes_factor=2", _snntorch("Leaky", graded_spikes_factor=2.0), "scaled by it"),
    ("snntorch", "Leaky inhibition=True", _snntorch("Leaky", inhibition=True), "largest membrane"),
    ("snntorch", "Synaptic inhibition=True", _snntorch("Synaptic", inhibition=True), "largest membrane"),
    ("snntorch", "Leaky state_quant", _snntorch("Leaky", state_quant=True), "quantised"),
    ("snntorch", "Leaky surrogate_disable=True", _snntorch("Leaky", surrogate_disable=True), "without gradient"),
    ("spikingjelly", "LIFNode ATan(spiking=False)", _spikingjelly("LIFNode", surrogate="ATan(spiking=False)"), "graded value"),
    ("sinabs", "ALIF", _sinabs("ALIF", tau_mem=8.0, tau_adapt=20.0), "no gradient to the adaptive threshold"),
    ("sinabs", "ALIF Gaussian()", _sinabs("ALIF", tau_mem=8.0, tau_adapt=20.0, surrogate_grad_fn="Gaussian()"), "no gradient to the adaptive"),
    ("sinabs", "ALIF tau_syn=4", _sinabs("ALIF", tau_mem=8.0, tau_adapt=20.0, tau_syn=4.0), "restarts its synaptic current"),
    ("sinabs", "IAF reset_fn=MembraneSubtract(0.5)", _sinabs("IAF", reset_fn="MembraneSubtract(0.5)"), "MembraneSubtract"),
    ("norse", "LSNNCell tau_adapt_inv=0", _norse("LSNNCell", tau_adapt_inv=0.0), "never decays"),
]


def assert_runs_as_the_oracle(plugin, layer: torch.nn.Module, neuron: Neuron, x: torch.Tensor, min_spikes: int) -> object:
    """The layer's spikes, membrane (float64 rounding) and input gradient (under a random loss on
    both) are the oracle's on ``neuron``; returns the oracle's trace."""
    w_s, w_v = torch.randn(2, *x.shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    x_native, x_oracle = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    spikes, v = plugin.run(layer, x_native)
    ((spikes.double() * w_s).sum() + (v.double() * w_v).sum()).backward()
    trace = oracle.simulate(neuron, x_oracle)
    ((trace.spikes * w_s).sum() + (trace.v * w_v).sum()).backward()
    if neuron.spikes:
        assert trace.spikes.sum() > min_spikes, "the input must make the neurons spike"
    assert torch.equal(spikes.double(), trace.spikes)
    torch.testing.assert_close(v.detach().double(), trace.v, atol=FP64_REORDERED.atol, rtol=FP64_REORDERED.rtol)
    torch.testing.assert_close(x_native.grad, x_oracle.grad, atol=FP32_GRADIENT.atol, rtol=FP32_GRADIENT.rtol)
    return trace


@pytest.mark.parametrize("framework,label,make", EXACT, ids=[f"{f}: {label}" for f, label, _ in EXACT])
def test_a_user_layer_is_described_exactly(framework, label, make):
    plugin = plugin_or_skip(framework)
    layer = make().double()  # decays sinabs derives from tau are then computed in float64, as described
    neuron = plugin.describe_neuron(layer)
    x = torch.rand(48, 2, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2.5
    assert_runs_as_the_oracle(plugin, layer, neuron, x, min_spikes=10)


@pytest.mark.parametrize("framework,label,make,reason", REFUSED, ids=[f"{f}: {label}" for f, label, _, _ in REFUSED])
def test_a_user_layer_with_an_option_no_canonical_neuron_has_is_refused(framework, label, make, reason):
    plugin = plugin_or_skip(framework)
    with pytest.raises(NotExpressible, match=reason):
        plugin.describe_neuron(make())


def test_a_spikingjelly_plif_network_converts_exactly():
    plugin_or_skip("spikingjelly")
    plugin_or_skip("snntorch")
    from spikingjelly.activation_based import layer, neuron

    from snn_interop.conversion import convert

    torch.manual_seed(0)
    model = torch.nn.Sequential(layer.Linear(4, 8), neuron.ParametricLIFNode(init_tau=3.0), layer.Linear(8, 3), neuron.ParametricLIFNode())
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(6.0)  # enough drive to spike under the verification's input
    _, report = convert(model, "spikingjelly", "snntorch")
    assert report.forward["spikes_source"] > 10 and report.forward["spike_mismatches"] == 0
    assert report.exact and report.gradient["max_rel_err"] < 1e-5


def test_a_spikingjelly_non_spiking_readout_converts_exactly_and_its_decode_is_refused():
    """NonSpikingLIFNode last (decode=None) returns its membranes as a Python list, one per step:
    the verification failed on it (internal error, "'list' object has no attribute 'shape'"). A
    decode reduces the sequence over time, which no canonical neuron does: refused by name."""
    plugin = plugin_or_skip("spikingjelly")
    from spikingjelly.activation_based import functional, layer, neuron

    from snn_interop.conversion import convert

    torch.manual_seed(2)
    model = torch.nn.Sequential(layer.Linear(8, 12), neuron.LIFNode(), layer.Linear(12, 4), neuron.NonSpikingLIFNode(tau=2.0))
    with torch.no_grad():
        model[0].weight.mul_(3.0)
    functional.set_step_mode(model, "m")
    for target in ["snntorch", "sinabs", "norse", "nir"]:
        if target != "nir":
            plugin_or_skip(target)
        _, report = convert(model, "spikingjelly", target)
        assert report.exact and report.forward["output_kind"] == "values", report.table()
        assert report.forward["spikes_by_layer"]["1"] > 20, report.forward["spikes_by_layer"]
    with pytest.raises(NotExpressible, match=r"NonSpikingLIFNode\(decode='mean-mem'\).*reduces the membrane sequence over time"):
        plugin.describe_neuron(neuron.NonSpikingLIFNode(decode="mean-mem"))


ADAPTIVE = {
    "subtract >=": dict(),
    "to zero, >": dict(reset=ResetMode.TO_VALUE, detach_reset=True, compare=Compare.GT),
    "input unscaled, v_min": dict(input_scale=InputScale.NONE, v_min=-0.5),
}


@pytest.mark.parametrize("variant", list(ADAPTIVE))
def test_sinabs_builds_the_adaptive_lif_and_reads_it_back(variant):
    """sinabs's ALIF with the canonical spike function, which carries the adaptive threshold's
    gradient (its own spike functions do not): forward and input gradient as the oracle's."""
    plugin = plugin_or_skip("sinabs")
    neuron = Neuron.adaptive_lif(SURROGATES["fast_sigmoid"].configure(), Decay(0.85), Decay(0.9), 0.6, input_scale=InputScale.ONE_MINUS_BETA,
                                 spike_fn=SpikeFn.SINGLE).with_(**ADAPTIVE[variant])
    layer = plugin.build_neuron(neuron)
    assert plugin.describe_neuron(layer) == neuron
    x = torch.rand(64, 2, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x *= 8.0 if neuron.input_scale is InputScale.ONE_MINUS_BETA else 1.2
    trace = assert_runs_as_the_oracle(plugin, layer, neuron, x, min_spikes=20)
    assert bool((trace.theta > neuron.threshold).any()), "the threshold must adapt"


def test_a_network_with_an_adaptive_neuron_is_refused_by_nir_with_the_reason():
    """NIR has no adaptive node: converting an LSNN network fails naming it, rather than writing a
    LIF that other NIR readers would run without its adaptation."""
    plugin_or_skip("norse")
    import norse.torch as nt

    from snn_interop.conversion import convert
    from snn_interop.errors import Unsupported

    model = nt.SequentialState(torch.nn.Linear(4, 8), nt.LSNNCell(), torch.nn.Linear(8, 3), nt.LIFBoxCell())
    with pytest.raises(Unsupported, match="no node for the adaptive_lif neuron .*cannot be converted"):
        convert(model, "norse", "snntorch")


@pytest.mark.parametrize("target", ["norse", "spikingjelly", "sinabs", "rockpool", "nir"])
def test_a_snntorch_lapicque_network_converts_exactly(target):
    """Lapicque's decay is 1 - dt / (R C) (its beta only sets C) and its reset the previous step's."""
    plugin_or_skip("snntorch")
    if target != "nir":
        plugin_or_skip(target)
    import snntorch as snn

    from snn_interop.conversion import convert

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), snn.Lapicque(beta=0.9, init_hidden=True), torch.nn.Linear(8, 3),
                                snn.Lapicque(R=2.0, C=3.0, reset_mechanism="zero", init_hidden=True, output=True))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(12.0)
    _, report = convert(model, "snntorch", target)
    assert report.forward["spikes_source"] > 40 and report.forward["spike_mismatches"] == 0
    assert report.exact and report.gradient["max_rel_err"] < 1e-5
