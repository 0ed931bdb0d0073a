"""Per-neuron parameters (trained time constants and thresholds): through NIR, exact everywhere.

A framework's own layers are built with one value per parameter, so such neurons run as the
exact CanonicalNeuron (and the report says so); a snnTorch model with a learned per-neuron
beta exports and converts into all four frameworks with identical output spikes."""
from __future__ import annotations

import nir
import pytest
import numpy as np
import torch

from snn_interop.nir import metadata
from snn_interop.nir.neurons import neuron_from_node, node_from_neuron
from snn_interop.nir import graph as nir_graph
from snn_interop.spec import oracle
from snn_interop.spec.neurons import Compare, Decay, Discretisation, InputScale, Neuron, ResetMode
from snn_interop.spec.surrogates import SURROGATES
from snn_interop_conformance.tolerances import FP32_GRADIENT
from tests.conftest import plugin_or_skip

FRAMEWORKS = ["snntorch", "spikingjelly", "sinabs", "norse"]


def per_neuron_lif(n: int, seed: int) -> Neuron:
    rng = np.random.default_rng(seed)
    tau = tuple(float(t) for t in rng.uniform(2e-4, 2e-3, n))
    return Neuron.lif(SURROGATES["atan"].configure(alpha=3.0), Decay.from_tau(tau, 1e-4, Discretisation.EXACT),
                      threshold=tuple(float(v) for v in rng.uniform(0.05, 0.15, n)), v_leak=tuple(float(v) for v in rng.normal(0, 0.01, n)))


def test_per_neuron_values_survive_metadata_and_nir_arrays(tmp_path):
    lif = per_neuron_lif(4, 0)
    assert lif.per_neuron == ["threshold", "v_leak", "decay.beta"]
    node = node_from_neuron(lif, (4,))
    assert np.asarray(node.tau).tolist() == list(lif.decay.tau)
    assert metadata.decode(metadata.encode(lif)) == lif
    plain = nir.LIF(tau=node.tau, r=node.r, v_leak=node.v_leak, v_threshold=node.v_threshold)  # no metadata: NIR arrays
    read = neuron_from_node(plain)
    assert read.threshold == lif.threshold and read.decay.beta == lif.decay.beta


def test_per_neuron_graph_runs_identically_in_all_four(tmp_path):
    rng = np.random.default_rng(1)
    graph = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([8])}),
        "fc": nir.Affine(weight=rng.normal(0, 0.6, (6, 8)), bias=np.zeros(6)),
        "lif": node_from_neuron(per_neuron_lif(6, 2), (6,)),
        "output": nir.Output(output_type={"output": np.array([6])}),
    }, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    nir.write(tmp_path / "g.nir", graph)
    graph = nir.read(tmp_path / "g.nir")
    x = (torch.rand(80, 2, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64) < 0.4).to(torch.float64)
    with torch.no_grad():
        reference = nir_graph.from_nir(graph, None)(x)
    assert 0.02 < reference.mean() < 0.9
    for name in FRAMEWORKS:
        model = plugin_or_skip(name).from_nir(graph)
        assert not model.neuron_info["lif"].native and "per-neuron" in model.neuron_info["lif"].why_not_native
        with torch.no_grad():
            assert torch.equal(model(x), reference), name


def test_snntorch_learned_per_neuron_beta_converts_exactly():
    import snntorch as snn

    snt = plugin_or_skip("snntorch")
    model = snt.example_mlp()
    beta = torch.linspace(0.6, 0.95, 16)
    model[1] = snn.Leaky(beta=beta, learn_beta=True, threshold=torch.linspace(0.8, 1.2, 16), spike_grad=model[1].spike_grad, init_hidden=True)
    x = (torch.rand(60, 2, 12, generator=torch.Generator().manual_seed(3)) < 0.4).float()
    with torch.no_grad():
        y, _ = snt.run_model(model, x)
    graph = snt.to_nir(model, x[0])
    assert np.asarray(graph.nodes["1"].v_threshold).tolist() == as_floats(torch.linspace(0.8, 1.2, 16))
    for name in FRAMEWORKS:
        converted = plugin_or_skip(name).from_nir(graph, dtype=torch.float32)
        with torch.no_grad():
            assert torch.equal(converted(x), y), name
    assert snt.from_nir(graph).neuron_info["1"].native, "snnTorch takes a per-neuron beta and threshold natively"


def as_floats(t: torch.Tensor) -> list[float]:
    return [float(v) for v in t.numpy().astype(np.float64)]


def assert_native_matches_oracle(plugin, module, neuron: Neuron, level: float, grad_atol: float, grad_rtol: float) -> None:
    """``module`` (``plugin``'s layer for ``neuron``) on seeded input in [0, level): spikes identical
    to the oracle's (which must fire now and then), membranes to 1e-12, input gradients within the tolerance."""
    x = torch.rand(80, 2, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * level
    x_native, x_oracle = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    spikes, v = plugin.run(module, x_native)
    trace = oracle.simulate(neuron, x_oracle)
    (spikes.sum() + v.sum()).backward()
    (trace.spikes.sum() + trace.v.sum()).backward()
    if neuron.spikes:
        assert 0.05 < trace.spikes.mean() < 0.9 and torch.equal(spikes.to(torch.float64), trace.spikes)
    torch.testing.assert_close(v.to(torch.float64), trace.v, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(x_native.grad, x_oracle.grad, atol=grad_atol, rtol=grad_rtol)


@pytest.mark.parametrize("model", ["lif", "cuba_lif", "li"])
def test_sinabs_builds_per_neuron_thresholds_and_decays_natively(model):
    """Sinabs' LIF/ExpLeak take tensors shaped like the neurons: the layer is sinabs' own and exact."""
    sinabs = plugin_or_skip("sinabs")
    lif = per_neuron_lif(6, 4).with_(v_leak=0.0)
    neuron = {"lif": lif,
              "cuba_lif": Neuron.cuba_lif(lif.surrogate, lif.decay, Decay(tuple(np.linspace(0.5, 0.8, 6))), threshold=lif.threshold,
                                          syn_input_scale=InputScale.BETA),
              "li": Neuron.li(lif.decay)}[model]
    module = sinabs.build_neuron(neuron)
    assert_native_matches_oracle(sinabs, module, neuron, 0.1, FP32_GRADIENT.atol, FP32_GRADIENT.rtol)  # float32 spikes
    described = sinabs.describe_neuron(module)
    assert described.threshold == neuron.threshold and described.decay.beta == neuron.decay.beta


@pytest.mark.parametrize("model", ["lif", "cuba_lif", "li"])
def test_norse_builds_per_neuron_thresholds_and_decays_natively(model):
    """Norse's parameters are tensors broadcast over the neurons: per-neuron thresholds and decays
    build its own LIFBoxCell / LIFCell / LIBoxCell, exact against the oracle."""
    norse = plugin_or_skip("norse")
    rng = np.random.default_rng(7)
    beta = Decay(tuple(float(b) for b in rng.uniform(0.6, 0.95, 6)))
    threshold = tuple(float(v) for v in rng.uniform(0.3, 0.6, 6))
    surrogate = norse.default_neuron()[1].surrogate  # norse's default "super", as its own canonical twin has it
    lif = Neuron.lif(surrogate, beta, threshold=threshold, input_scale=InputScale.ONE_MINUS_BETA, compare=Compare.GT)
    neuron = {"lif": lif,
              "cuba_lif": Neuron.cuba_lif(surrogate, beta, Decay(tuple(float(b) for b in rng.uniform(0.5, 0.8, 6))), threshold=threshold,
                                          input_scale=InputScale.ONE_MINUS_BETA, compare=Compare.GT, reset=ResetMode.TO_VALUE),
              "li": Neuron.li(beta, input_scale=InputScale.ONE_MINUS_BETA)}[model]
    module = norse.build_neuron(neuron)
    assert_native_matches_oracle(norse, module, neuron, 2.0, 1e-12, 1e-12)
    assert norse.describe_neuron(module).threshold == neuron.threshold


@pytest.mark.parametrize("target", [*FRAMEWORKS, "rockpool"])
def test_per_neuron_synaptic_decays_with_their_input_gain_convert_exactly(target):
    """A synaptic current whose input gain is its own decay (sinabs LIF with tau_syn, rockpool's
    LIFTorch) has a per-neuron gain when its decays are per neuron: the snnTorch plugin once
    formatted that gain as a number and crashed (TypeError) instead of refusing its own layer."""
    import sinabs.layers as sl

    plugin_or_skip("sinabs")
    plugin_or_skip(target)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(12, 8), sl.LIF(tau_mem=torch.linspace(5, 12, 8), tau_syn=torch.linspace(3, 6, 8)),
                                  torch.nn.Linear(8, 4), sl.LIF(tau_mem=8.0))
    with torch.no_grad():
        net[0].weight.mul_(20.0)
        net[2].weight.mul_(20.0)
    from snn_interop import conversion as conv

    _, report = conv.convert(net, "sinabs", target, steps=40)
    assert report.exact, report.table()
    assert report.forward["spikes_source"] > 20, report.forward
