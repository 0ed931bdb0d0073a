"""snn-convert --to speck for graphs that are not chains: a layer's spikes sent to two layers,
two layers' spikes summed into one (sinabs Merge), pooling per destination; the rules that
refuse the rest (docs/hardware-speck.md). The discretised model is checked against sinabs' own
DynapcnnNetworkModule forward, built by sinabs' own GraphExtractor."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nir
import numpy as np
import pytest
import torch
from torch import nn

from snn_interop import hardware
from snn_interop.cli import convert_main
from snn_interop.conversion import convert_full
from tests.conftest import plugin_or_skip, seeded_weights

pytest.importorskip("sinabs")
from snn_interop_plugins import speck  # noqa: E402 - after the skip: this target needs sinabs

SHAPE = (2, 4, 4)
STEPS, RATE = 40, 0.3


def _weights(model: nn.Module) -> nn.Module:
    """Seeded weights, a half for Linear: every layer fires on 30 % input spikes."""
    return seeded_weights(model, linear=0.5)


def _spikingjelly() -> nn.Module:
    """SEW-style: conv1 -> sn1 -> conv2 -> sn2; conv3 reads sn1 + sn2; flatten -> fc -> sn4 (multi-step)."""
    from spikingjelly.activation_based import layer, neuron

    class Sew(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.sn1 = layer.Conv2d(2, 4, 3, padding=1, bias=False, step_mode="m"), neuron.IFNode(v_reset=0.0, step_mode="m")
            self.conv2, self.sn2 = layer.Conv2d(4, 4, 3, padding=1, bias=False, step_mode="m"), neuron.IFNode(v_reset=0.0, step_mode="m")
            self.conv3, self.sn3 = layer.Conv2d(4, 4, 3, padding=1, bias=False, step_mode="m"), neuron.IFNode(v_reset=0.0, step_mode="m")
            self.flat = layer.Flatten(step_mode="m")
            self.fc, self.sn4 = layer.Linear(64, 5, bias=False, step_mode="m"), neuron.IFNode(v_reset=0.0, step_mode="m")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            a = self.sn1(self.conv1(x))
            b = self.sn2(self.conv2(a))
            return self.sn4(self.fc(self.flat(self.sn3(self.conv3(a + b)))))
    return _weights(Sew())


def _snntorch() -> nn.Module:
    """The same graph as snnTorch's tutorials write it: a loop over time, Leaky(beta=1) reset to zero."""
    import snntorch as snn

    class Loop(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.lif1 = nn.Conv2d(2, 4, 3, padding=1, bias=False), snn.Leaky(beta=1.0, reset_mechanism="zero")
            self.conv2, self.lif2 = nn.Conv2d(4, 4, 3, padding=1, bias=False), snn.Leaky(beta=1.0, reset_mechanism="zero")
            self.conv3, self.lif3 = nn.Conv2d(4, 4, 3, padding=1, bias=False), snn.Leaky(beta=1.0, reset_mechanism="zero")
            self.fc, self.lif4 = nn.Linear(64, 5, bias=False), snn.Leaky(beta=1.0, reset_mechanism="zero")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mem = [lif.init_leaky() for lif in (self.lif1, self.lif2, self.lif3, self.lif4)]
            out = []
            for step in range(x.shape[0]):
                s1, mem[0] = self.lif1(self.conv1(x[step]), mem[0])
                s2, mem[1] = self.lif2(self.conv2(s1), mem[1])
                s3, mem[2] = self.lif3(self.conv3(s1 + s2), mem[2])
                s4, mem[3] = self.lif4(self.fc(torch.flatten(s3, 1)), mem[3])
                out.append(s4)
            return torch.stack(out)
    return _weights(Loop())


def _sinabs_forward(model: nn.Module, x: torch.Tensor, dvs_input: bool = False) -> torch.Tensor:
    """sinabs' own DynapcnnNetworkModule (float32) of the saved model on one sample: [T, ...]
    (with ``dvs_input``, its DVS layer included)."""
    net, _ = speck.network(model, tuple(x.shape[2:]), dvs_input)
    assert (net.dvs_layer is not None) == dvs_input
    for layer in net.dynapcnn_layers.values():
        layer.spk.reset_states()
    with torch.no_grad():
        return net(x[:, 0].float()).double()


def _sinabs() -> nn.Module:
    """As sinabs's DynapcnnNetwork takes a residual block: IAFSqueeze layers, a sinabs Merge."""
    from tests.nir.test_batch_first_classes import residual

    return _weights(residual())


@pytest.mark.parametrize("framework,make,names", [("spikingjelly", _spikingjelly, ("conv", "sn")), ("snntorch", _snntorch, ("conv", "lif")),
                                                  ("sinabs", _sinabs, ("conv", "iaf"))])
def test_residual_networks_go_through(framework: str, make, names: tuple[str, str], tmp_path: Path) -> None:
    plugin_or_skip(framework)
    graph, _, _ = convert_full(make(), framework, "nir", verify_result=False, input_shape_=SHAPE)
    assert speck.check(graph) == []
    report = hardware.handoff(graph, "speck", tmp_path / "out", steps=STEPS, rate=RATE)
    f = report.forward
    assert report.within_bound and f["mismatch_fraction"] <= speck.BOUND, report.table()
    assert f["spikes_float"] >= 10 and f["spikes_target"] >= 10, report.table()
    model, meta = speck.load(tmp_path / "out")
    assert isinstance(model, torch.fx.GraphModule) and sum(type(m).__name__ == "Merge" for m in model.modules()) == 1
    conv, neuron = names
    # per layer: each IF layer against the float model; the last one is the output
    assert list(f["layers"]) == [f"{neuron}{i}" for i in (1, 2, 3, 4)]
    assert f["layers"][f"{neuron}4"]["spike_mismatches"] == f["spike_mismatches"] and f["layers"][f"{neuron}1"]["outputs"] == STEPS * 64
    fc, last = "fc", f"{neuron}4"
    assert [layer["nodes"] for layer in meta["layers"]] == [[f"{conv}{i}", f"{neuron}{i}"] for i in (1, 2, 3)] + [[fc, last]]
    assert [sorted(layer["destinations"]) for layer in meta["layers"]] == [[1, 2], [2], [3], [-1]]  # layer 0 feeds 1 and 2; 2 sums 0 and 1
    assert meta["layer_to_core"] == {str(i): c for i, c in report.figures["layer_to_core"].items()} and len(meta["layer_to_core"]) == 4
    x = hardware.spike_input(graph, STEPS, 0, RATE)
    ours = speck.run(model, x)
    assert torch.equal(ours, speck.build(graph).simulate(x))  # the saved model is the one simulated
    assert torch.equal(_sinabs_forward(model, x).reshape(STEPS, -1), ours[:, 0].reshape(STEPS, -1))  # = sinabs' own graph forward
    assert all(float(p).is_integer() for p in torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert "samna" not in sys.modules


def _conv(c_in: int, c_out: int, size: int, seed: int) -> nir.Conv2d:
    w = (np.random.default_rng(seed).random((c_out, c_in, 3, 3)) * 3 - 0.5) / (c_in * 9)
    return nir.Conv2d(input_shape=(size, size), weight=w, stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(c_out))


def _if(*shape: int) -> nir.IF:
    return nir.IF(r=np.full(shape, 1e4), v_threshold=np.ones(shape))  # NIR's IF with dt 1e-4 s: input gain dt r = 1


def _pool() -> nir.SumPool2d:
    return nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))


def _downsampling() -> tuple[dict[str, nir.NIRNode], list[tuple[str, str]]]:
    """2x8x8 -> c1 -> n1 -> c2 -> n2 -> pool_b; n1 -> pool_a; c3 reads pool_a + pool_b (4x4x4) -> n3 -> flat -> fc -> n4."""
    nodes = {"input": nir.Input(input_type={"input": np.array([2, 8, 8])}), "c1": _conv(2, 4, 8, 1), "n1": _if(4, 8, 8),
             "c2": _conv(4, 4, 8, 2), "n2": _if(4, 8, 8), "pool_a": _pool(), "pool_b": _pool(), "c3": _conv(4, 4, 4, 3), "n3": _if(4, 4, 4),
             "flat": nir.Flatten(start_dim=0, input_type={"input": np.array([4, 4, 4])}),
             "fc": nir.Linear(weight=(np.random.default_rng(4).random((5, 64)) * 3 - 0.5) / 64 * 0.5), "n4": _if(5),
             "output": nir.Output(output_type={"output": np.array([5])})}
    edges = [("input", "c1"), ("c1", "n1"), ("n1", "c2"), ("c2", "n2"), ("n1", "pool_a"), ("n2", "pool_b"), ("pool_a", "c3"),
             ("pool_b", "c3"), ("c3", "n3"), ("n3", "flat"), ("flat", "fc"), ("fc", "n4"), ("n4", "output")]
    return nodes, edges


def test_pooling_per_destination_through_the_cli(tmp_path: Path) -> None:
    """A downsampling skip: n1's spikes go to c2 unpooled and to c3 pooled 2x2, as two destinations of one core."""
    source = tmp_path / "down.nir"
    nir.write(source, nir.NIRGraph(*_downsampling()))
    out = tmp_path / "out"
    code = convert_main(["--from", "nir", "--to", "speck", str(source), "-o", str(out), "--steps", str(STEPS), "--input-rate", "0.1", "--quiet"])
    report = json.loads((out / "report.json").read_text())
    assert int(code) == 0 and report["within_bound"] and report["forward"]["spikes_float"] >= 10, report
    model, meta = speck.load(out)
    layers = {tuple(layer["nodes"]): layer for layer in meta["layers"]}
    first = layers[("c1", "n1", "pool_a")]
    index = {nodes: i for i, nodes in enumerate(layers)}
    assert sorted(zip(first["destinations"], first["pooling"])) == [(index[("c2", "n2", "pool_b")], 1), (index[("c3", "n3")], 2)]
    assert layers[("c2", "n2", "pool_b")]["pooling"] == [2] and layers[("c3", "n3")]["pooling"] == [1]
    graph = nir.read(source)
    x = hardware.spike_input(graph, STEPS, 0, RATE)
    assert torch.equal(_sinabs_forward(model, x).reshape(STEPS, -1), speck.run(model, x)[:, 0].reshape(STEPS, -1))
    assert sum(type(m).__name__ == "SumPool2d" and m.kernel_size == 1 for m in model.modules()) == 1  # n1 -> c2, see _torch_model


def _rules(nodes: dict[str, nir.NIRNode], edges: list[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(v.node, v.rule) for v in speck.check(nir.NIRGraph(nodes=nodes, edges=edges))}


def test_graph_rules_name_the_node() -> None:
    nodes, edges = _downsampling()
    assert _rules(nodes, edges) == set()
    c4, n5 = _conv(4, 4, 8, 5), _if(4, 8, 8)
    # n1 sends to c2, c3 (pooled) and a third layer c4, which c3 also reads: 3 destinations, 3 inputs summed
    three = edges + [("n1", "c4"), ("c4", "n5"), ("n5", "pool_c"), ("pool_c", "c3")]
    assert _rules({**nodes, "c4": c4, "n5": n5, "pool_c": _pool()}, three) == {("n1", "graph: destinations"), ("c3", "graph: merge")}
    # two convolutions summed into one neuron: the chip sums spikes into a kernel, not currents into a neuron
    assert _rules({**nodes, "c4": _conv(2, 4, 8, 5)}, edges + [("input", "c4"), ("c4", "n2")]) == {("n2", "graph: merge")}
    # the input summed with a layer's spikes (sinabs' GraphExtractor cannot read it)
    assert _rules(nodes, edges + [("input", "c2")]) == {("c2", "graph: merge")}
    # unequal shapes summed: n1 unpooled (4x8x8) with pool_b (4x4x4)
    unequal = [e for e in edges if "pool_a" not in e] + [("n1", "c3")]
    assert _rules({k: v for k, v in nodes.items() if k != "pool_a"}, unequal) == {("c3", "graph: merge")}
    # the output fed by two layers; the output layer also sending to another layer
    two_out = {**nodes, "fc2": nir.Linear(weight=np.ones((5, 64))), "n6": _if(5)}
    assert _rules(two_out, edges + [("flat", "fc2"), ("fc2", "n6"), ("n6", "output")]) == {("output", "graph: output")}
    assert _rules(nodes, edges + [("n3", "output")]) == {("output", "graph: output"), ("n3", "graph: output")}
    # a recurrent edge; a layer whose spikes go nowhere
    assert _rules(nodes, edges + [("n3", "c2")]) == {("c2", "graph: feed-forward")}
    assert _rules({**nodes, "c4": c4, "n5": n5}, edges + [("n1", "c4"), ("c4", "n5")]) == {
        ("n1", "graph: destinations"), ("c4", "graph: connected"), ("n5", "graph: connected")}
    with pytest.raises(hardware.ConstraintViolation, match="node 'c2': graph: merge: the input summed with a layer's spikes"):
        hardware.handoff(nir.NIRGraph(nodes=nodes, edges=edges + [("input", "c2")]), "speck", Path("never-written"))


def _pooled_input() -> tuple[dict[str, nir.NIRNode], list[tuple[str, str]]]:
    """2x16x16 -> SumPool2d(2) -> c1 -> n1 -> flat -> fc -> n2: the input pooled, as the DVS layer does."""
    nodes = {"input": nir.Input(input_type={"input": np.array([2, 16, 16])}), "pool": _pool(), "c1": _conv(2, 4, 8, 1), "n1": _if(4, 8, 8),
             "flat": nir.Flatten(start_dim=0, input_type={"input": np.array([4, 8, 8])}),
             "fc": nir.Linear(weight=(np.random.default_rng(4).random((5, 256)) * 3 - 0.5) / 256 * 0.5), "n2": _if(5),
             "output": nir.Output(output_type={"output": np.array([5])})}
    edges = [("input", "pool"), ("pool", "c1"), ("c1", "n1"), ("n1", "flat"), ("flat", "fc"), ("fc", "n2"), ("n2", "output")]
    return nodes, edges


def test_pooled_input_goes_to_the_dvs_layer(tmp_path: Path) -> None:
    """A pooling of the input is the DVS layer's: sinabs builds DynapcnnNetwork with dvs_input, its
    DVS layer pooling 2x2 into layer 1; the forward equals sinabs' own, DVS layer included."""
    nodes, edges = _pooled_input()
    graph = nir.NIRGraph(nodes=nodes, edges=edges)
    assert speck.check(graph) == []
    report = hardware.handoff(graph, "speck", tmp_path / "out", steps=30, rate=0.2)
    assert report.within_bound and report.forward["spikes_float"] >= 10, report.table()
    layers = report.forward["layers"]
    assert [(n, c["outputs"]) for n, c in layers.items()] == [("n1", 30 * 256), ("n2", 30 * 5)]
    assert layers["n2"]["spike_mismatches"] == report.forward["spike_mismatches"]  # n2 is the output
    assert f"per layer                n1 {layers['n1']['spike_mismatches']} of 7680, n2 " in report.table()
    model, meta = speck.load(tmp_path / "out")
    assert meta["dvs_input"] and meta["dvs"] == {"node": "pool", "pooling": 2, "destinations": [1]}
    assert [(layer["index"], layer["nodes"], layer["destinations"]) for layer in meta["layers"]] == [(1, ["c1", "n1"], [2]), (2, ["fc", "n2"], [-1])]
    assert set(meta["layer_to_core"]) == {"1", "2"}
    x = hardware.spike_input(graph, 30, 0, 0.2)
    assert torch.equal(_sinabs_forward(model, x, dvs_input=True).reshape(30, -1), speck.run(model, x)[:, 0].reshape(30, -1))


def test_input_pooling_rules() -> None:
    nodes, edges = _pooled_input()
    c2, n3 = _conv(2, 4, 16, 2), _if(4, 16, 16)
    # part of the input pooled, part not: the DVS layer has one pooling for all of it
    assert ("pool", "input: pooling") in _rules({**nodes, "c2": c2, "n3": n3}, edges + [("input", "c2"), ("c2", "n3"), ("n3", "output")])
    # the pooled input to three layers (the DVS layer has two destinations)
    more = {**nodes, **{f"c{i}": _conv(2, 4, 8, i) for i in (3, 4)}, **{f"m{i}": _if(4, 8, 8) for i in (3, 4)}}
    wider = edges + [("pool", "c3"), ("pool", "c4"), ("c3", "m3"), ("c4", "m4"), ("m3", "c1"), ("m4", "c1")]
    assert ("pool", "graph: destinations") in _rules(more, wider)
    # the pooled input summed with a layer's spikes, as the input itself may not be
    assert ("c1", "graph: merge") in _rules({**nodes, "c3": _conv(2, 2, 8, 3), "m3": _if(2, 8, 8)},
                                            edges + [("pool", "c3"), ("c3", "m3"), ("m3", "c1")])


def test_average_pooling_is_a_sum_with_its_factor_in_the_next_weights(tmp_path: Path) -> None:
    """spikingjelly's AvgPool2d(2): the chip's SumPool2d(2), the next layer's weights times 1/4 before
    discretisation (sinabs' rescale_weights); exact before rounding, so the model goes through."""
    plugin_or_skip("spikingjelly")
    from spikingjelly.activation_based import layer, neuron

    net = seeded_weights(nn.Sequential(layer.Conv2d(2, 4, 3, bias=False, step_mode="m"), neuron.IFNode(v_reset=0.0, step_mode="m"),
                                       layer.AvgPool2d(2, step_mode="m"), layer.Flatten(step_mode="m"),
                                       layer.Linear(36, 5, bias=False, step_mode="m"), neuron.IFNode(v_reset=0.0, step_mode="m")))
    graph, _, _ = convert_full(net, "spikingjelly", "nir", verify_result=False, input_shape_=(2, 8, 8))
    assert any(isinstance(n, nir.AvgPool2d) for n in graph.nodes.values()) and speck.check(graph) == []
    report = hardware.handoff(graph, "speck", tmp_path / "out", steps=STEPS, rate=RATE)
    assert report.within_bound and report.forward["spikes_float"] >= 20, report.table()
    model, meta = speck.load(tmp_path / "out")
    assert [type(m).__name__ for m in model] == ["Conv2d", "IAFSqueeze", "SumPool2d", "Flatten", "Linear", "IAFSqueeze"]
    assert [layer["rescale"] for layer in meta["layers"]] == [1.0, 0.25]
    # the chip's weights in the graph's units: W / (s g) / (1/4), within half a level of the float weights
    fc = next(n for n, node in graph.nodes.items() if isinstance(node, (nir.Linear, nir.Affine)))
    applied = speck.build(graph).applied[fc]
    assert np.abs(applied - np.asarray(graph.nodes[fc].weight)).max() <= 0.5 / (meta["layers"][1]["scale"] * 0.25) * (1 + 1e-6)
    x = hardware.spike_input(graph, STEPS, 0, RATE)
    assert torch.equal(_sinabs_forward(model, x).reshape(STEPS, -1), speck.run(model, x)[:, 0].reshape(STEPS, -1))


def test_average_pooling_rules() -> None:
    nodes, edges = _downsampling()
    avg = nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    # c3 sums an average (x 1/4) and a sum (x 1): one weight matrix cannot take both
    assert _rules({**nodes, "pool_a": avg}, edges) == {("c3", "pooling: average")}
    assert _rules({**nodes, "pool_a": avg, "pool_b": avg}, edges) == set()  # both averaged: one factor
    # an average into the output: the chip's output is a sum
    tail = [e for e in edges if e[0] not in ("n3", "flat", "fc", "n4")] + [("n3", "avg_out"), ("avg_out", "output")]
    kept = {k: v for k, v in nodes.items() if k not in ("flat", "fc", "n4")}
    assert ("avg_out", "pooling: average") in _rules({**kept, "avg_out": avg}, tail)
