"""Models through NIR between frameworks: A -> NIR -> B exact, forward and backward.

For each source framework A, the test networks use A's own neuron conventions (so A's model is
built from A's layers); A's model is exported with A's plugin, imported by B's, and both run on
the same seeded float64 input: identical spikes, membranes within 1e-6, input and weight
gradients within 1e-6 relative (the issue's tolerances), with neurons that really spike.
"""
from __future__ import annotations

import itertools

import nir
import numpy as np
import pytest
import torch

from snn_interop.spec.neurons import Model, ResetMode
from snn_interop_conformance.tolerances import CONVERT_FP64

from .networks import convnet, mlp, native_neuron, recurrent, skip_net
from tests.conftest import plugin_or_skip

FRAMEWORKS = ["snntorch", "spikingjelly", "sinabs", "norse", "rockpool"]
T = 50
TOL = CONVERT_FP64.atol  # the float64 tolerance (membranes; gradients relative: CONVERT_FP64.rtol, equal)



def source_graph(plugin, net: str, reset: ResetMode) -> nir.NIRGraph | None:
    try:
        if net == "mlp":
            return mlp(native_neuron(plugin, Model.LIF, reset))
        if net == "skip":
            return skip_net(native_neuron(plugin, Model.LIF, reset))
        if net == "conv":
            return convnet(native_neuron(plugin, Model.IF, reset), native_neuron(plugin, Model.LIF, reset))
        return recurrent(native_neuron(plugin, Model.CUBA_LIF, reset))
    except LookupError:
        return None


def net_input(graph: nir.NIRGraph, seed: int = 5) -> torch.Tensor:
    shape = tuple(int(s) for s in graph.nodes["input"].input_type["input"])
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(T, 2, *shape, generator=gen, dtype=torch.float64) < 0.3).to(torch.float64)


def run_with_grads(model, x: torch.Tensor):
    x = x.clone().requires_grad_(True)
    y, rec = model(x, record=True)
    w = torch.randn(y.shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    loss = (y * w).sum() + sum((r["v"] * 0.1).sum() for r in rec.values() if "v" in r)
    params = {f"{n}.{k}": p for n in model.layer_names for k, p in model.layer(n).named_parameters()}
    grads = torch.autograd.grad(loss, [x, *params.values()])
    return y.detach(), {k: r["v"].detach() for k, r in rec.items() if "v" in r}, grads[0], dict(zip(params, grads[1:]))


def assert_same(a, b) -> None:
    y_a, v_a, gx_a, gw_a = a
    y_b, v_b, gx_b, gw_b = b
    assert torch.equal(y_a, y_b), f"output spikes differ: {(y_a != y_b).sum().item()} of {y_a.numel()}"
    for name in v_a:
        torch.testing.assert_close(v_b[name], v_a[name], atol=TOL, rtol=0, msg=f"membrane of {name}")
    rel = lambda g, h: ((g - h).abs().max() / h.abs().max().clamp(min=1e-300)).item()  # noqa: E731
    assert rel(gx_b, gx_a) <= TOL, f"input gradient rel err {rel(gx_b, gx_a)}"
    for name in gw_a:
        assert rel(gw_b[name], gw_a[name]) <= TOL, f"weight gradient {name} rel err {rel(gw_b[name], gw_a[name])}"


NETS = ["mlp", "conv", "recurrent", "skip"]
RESETS = [ResetMode.SUBTRACT, ResetMode.TO_VALUE]
# Source models a framework cannot build from its own neurons (its capabilities), and why.
NOT_NATIVE = {
    ("norse", "conv", ResetMode.SUBTRACT): "IAFCell resets to v_reset only",
    ("norse", "recurrent", ResetMode.SUBTRACT): "LIFCell (current-based) resets to v_reset only",
    ("rockpool", "mlp", ResetMode.TO_VALUE): "LIFNeuronTorch subtracts the threshold only",
    ("rockpool", "skip", ResetMode.TO_VALUE): "LIFNeuronTorch subtracts the threshold only",
    ("rockpool", "conv", ResetMode.TO_VALUE): "LIFNeuronTorch subtracts the threshold only",
    ("rockpool", "recurrent", ResetMode.TO_VALUE): "LIFTorch subtracts the threshold only",
}


# rockpool steps each neuron of a layer as a batch entry through its own Python loop: the conv
# net (~20 s per pair) runs as a round trip only; every other net in all 25 ordered pairs.
SLOW = {("rockpool", "conv")}
CELLS = [(a, b, net) for a, b in itertools.product(FRAMEWORKS, FRAMEWORKS) for net in NETS
         if a == b or not ({(a, net), (b, net)} & SLOW)]


@pytest.mark.parametrize("reset", RESETS, ids=lambda r: r.value)
@pytest.mark.parametrize(("source", "target", "net"), CELLS, ids=lambda f: f)
def test_conversion_is_exact(source, target, net, reset, tmp_path):
    a, b = plugin_or_skip(source), plugin_or_skip(target)
    graph = source_graph(a, net, reset)
    assert (graph is None) == ((source, net, reset) in NOT_NATIVE), "a source framework gained or lost a native neuron"
    if graph is None:
        return  # nothing of the source framework's own to convert: checked against NOT_NATIVE above
    model_a = a.from_nir(graph)
    assert all(info.native for info in model_a.neuron_info.values()), "the source model must use its own framework's neurons"
    x = net_input(graph)
    sample = x[0]
    exported = a.to_nir(model_a, sample)
    nir.write(tmp_path / "m.nir", exported)
    model_b = b.from_nir(nir.read(tmp_path / "m.nir"))
    out_a, out_b = run_with_grads(model_a, x), run_with_grads(model_b, x)
    assert out_a[0].mean() > 0.01, "the network must spike at its output"
    assert_same(out_a, out_b)
    if source == target:  # round trip: parameters bit for bit, neurons identical
        assert {n: i.neuron for n, i in model_b.neuron_info.items()} == {n: i.neuron for n, i in model_a.neuron_info.items()}
        assert all(i.native for i in model_b.neuron_info.values())
        for name, node in exported.nodes.items():
            again = b.to_nir(model_b, sample).nodes[name]
            for field in ("weight", "bias"):
                if hasattr(node, field):
                    assert np.array_equal(getattr(node, field), getattr(again, field)), f"{name}.{field} changed"
