"""Residual networks written as classes (SpikingJelly's SEW-ResNet and Spiking ResNet blocks):
their forward is not a chain, so torch.fx reads it as a graph whose skip connections become
several NIR edges into one node (a NIR node sums its inputs); converted exactly into every
framework, and refused, naming the computation, where the forward does more than add."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from snn_interop import cli, conversion as conv
from snn_interop.errors import BadSource, ExitCode
from tests.conftest import plugin_or_skip
from examples.sj_resnet.model import build as residual_net, spiking_resnet

TARGETS = ["snntorch", "spikingjelly", "sinabs", "norse", "rockpool", "nir"]
SHAPE = (2, 8, 8)
#: each block's input reaches the node after the sum: SEW adds spikes after the block's last
#: neuron (into what the next block reads), Spiking ResNet adds currents into that neuron
SKIPS = {"sew": [("maxpool_max", "layer1.1.conv1"), ("layer1.0.sn2", "layer1.1.conv1"),
                 ("maxpool_max", "layer1.1.downsample.0"), ("layer1.1.downsample_sn", "avgpool"), ("layer1.1.sn2", "avgpool")],
         "spiking": [("maxpool_max", "layer1.0.sn2"), ("layer1.0.bn2", "layer1.0.sn2"), ("layer1.1.downsample.1", "layer1.1.sn2")]}


@pytest.mark.parametrize("kind", ["sew", "spiking"])
@pytest.mark.parametrize("target", TARGETS)
def test_a_residual_class_converts_exactly(kind, target):
    plugin_or_skip("spikingjelly")
    if target != "nir":
        plugin_or_skip(target)
    net = residual_net(kind)
    graph, _, report = conv.convert_full(net, "spikingjelly", target, steps=20, input_shape_=SHAPE)
    assert report.exact, report.table()
    assert report.forward["spikes_source"] > 20, report.table()
    assert set(SKIPS[kind]) <= set(graph.edges), sorted(graph.edges)
    convs = {f"{name}.weight" for name, m in net.named_modules() if isinstance(m, nn.Conv2d)}
    assert len(convs) == 6 and convs <= set(report.gradient["weight_rel_err"]), "every convolution's gradient compared"


def test_a_forward_written_for_time_major_values_flattens_each_step():
    """``x.flatten(2)`` on [T, B, C, 1, 1] in multi-step mode is the per-step flatten from 1: the
    graph ran once on time-major input knows which values hold time."""
    plugin_or_skip("spikingjelly")
    graph, _, report = conv.convert_full(residual_net(flatten="time_major"), "spikingjelly", "snntorch", steps=20,
                                         input_shape_=SHAPE)
    assert report.exact and report.forward["spikes_source"] > 20, report.table()
    node = graph.nodes["flatten"]
    assert (int(node.start_dim), int(node.end_dim)) == (0, -1), "NIR's dims exclude the batch"


def test_the_graph_runs_the_forward_it_was_read_from():
    """Not only the output: the converted model's every layer gives what the class's own layer gave
    (hooks on the source's layers; the converted model recorded node by node)."""
    plugin_or_skip("spikingjelly")
    from spikingjelly.activation_based import functional

    net = residual_net("sew")
    _, converted, _ = conv.convert_full(net, "spikingjelly", "nir", input_shape_=SHAPE, verify_result=False)
    seen: dict[str, torch.Tensor] = {}
    for name, m in net.named_modules():
        if name and not list(m.children()) or name.endswith(("sn1", "sn2", "downsample_sn", "sn_out")):
            m.register_forward_hook(lambda mod, inp, out, name=name: seen.__setitem__(name, out.detach()))
    x = (torch.rand(12, 3, *SHAPE, generator=torch.Generator().manual_seed(4)) < 0.4).float()
    functional.reset_net(net)
    net(x)
    _, rec = converted(x, record=True)
    for name in ("sn1", "layer1.0.sn2", "layer1.1.downsample_sn", "layer1.1.conv1", "fc", "sn_out"):
        assert torch.equal(rec[name]["out"], seen[name]), name
    assert seen["layer1.0.sn2"].sum() > 0 and seen["layer1.1.sn2"].sum() > 0


def test_a_computation_with_no_nir_node_is_named():
    plugin_or_skip("spikingjelly")
    with pytest.raises(BadSource, match=r"nor a graph of layers: Net's forward computes mul\(layer1.0.sn2, maxpool_max\)"):
        conv.convert(residual_net("sew", connect="AND"), "spikingjelly", "nir", input_shape_=SHAPE)


def test_a_layer_called_twice_is_refused():
    plugin_or_skip("spikingjelly")
    from spikingjelly.activation_based import layer, neuron

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.sn = layer.Linear(6, 6, step_mode="m"), neuron.IFNode(step_mode="m")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.sn(self.fc(self.fc(x)) + x)

    with pytest.raises(BadSource, match="calls layer fc twice"):
        conv.convert(Twice(), "spikingjelly", "nir", input_shape_=(6,))


def test_snn_convert_takes_a_residual_class(tmp_path, capsys):
    plugin_or_skip("spikingjelly")
    plugin_or_skip("sinabs")
    code = cli.convert_main(["--from", "spikingjelly", "--to", "sinabs", "examples.sj_resnet.model:build", "-o", str(tmp_path / "out"),
                             "--input-shape", "2", "8", "8", "--steps", "20", "--verify"])
    out = capsys.readouterr().out
    assert code == ExitCode.OK and "EXACT" in out, out
    bn = [line for line in out.splitlines() if line.startswith("written as: ") and "(BatchNorm2d)" in line]
    assert len(bn) == 1 and bn[0].startswith("written as: layers bn1, layer1.0.bn1, layer1.0.bn2, layer1.1.bn1,"), out


def test_compare_records_a_residual_class_by_its_graph_and_finds_where_a_conversion_parts_ways():
    from snn_interop import compare

    spikingjelly = plugin_or_skip("spikingjelly")
    net = spiking_resnet()
    x = (torch.rand(16, 2, *SHAPE, generator=torch.Generator().manual_seed(5)) < 0.4).float()
    native = compare.record(net, x, spikingjelly)
    assert set(native.preds["layer1.0.sn2"]) == {"maxpool_max", "layer1.0.bn2"}, "the skip connection's two edges"
    assert {"sn1", "layer1.0.sn2", "layer1.1.sn2", "sn_out"} <= set(native.neurons)
    assert native.nodes["maxpool_max"]["out"].shape == (16, 2, 4, 4, 4), "the max pool's output under its _max node"
    graph, converted, _ = conv.convert_full(net, "spikingjelly", "nir", verify_result=False, input_shape_=SHAPE)
    clean = compare.localise(native, compare.record(converted, x, None, graph=graph))
    assert clean.status == "match" and len(clean.results) >= 20, clean.text()
    with torch.no_grad():
        converted.layer("layer1.1.downsample.0").weight.mul_(1.5)  # the skip path of the second block drifts
    result = compare.localise(native, compare.record(converted, x, None, graph=graph))
    assert result.status != "match" and result.first.node == "layer1.1.downsample.0", result.text()


def test_layers_inside_a_framework_container_are_nodes_of_the_graph():
    """A SeqToANNContainer (SpikingJelly's idiom for torch layers over a sequence) inside a
    residual class: its layers are nodes named by their path, the sum after it two edges."""
    plugin_or_skip("spikingjelly")
    from spikingjelly.activation_based import functional, layer, neuron

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Sequential(layer.SeqToANNContainer(nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2)))
            self.sn, self.fc, self.sn2 = neuron.IFNode(), layer.Linear(2 * 8 * 8, 5), neuron.IFNode()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.sn2(self.fc((self.sn(self.conv(x)) + x).flatten(2)))

    torch.manual_seed(2)
    net = Net()
    with torch.no_grad():
        net.conv[0][0].weight.mul_(4.0)
        net.fc.weight.mul_(6.0)
    functional.set_step_mode(net, "m")
    graph, _, report = conv.convert_full(net.eval(), "spikingjelly", "snntorch", steps=30, input_shape_=SHAPE)
    assert report.exact and report.forward["spikes_source"] > 10, report.table()
    assert {("input", "conv.0.0"), ("conv.0.0", "conv.0.1"), ("sn", "flatten"), ("input", "flatten")} <= set(graph.edges)


@pytest.mark.parametrize("add", ["torch.add", "method"])
def test_every_way_of_writing_a_sum_is_a_skip_connection(add):
    plugin_or_skip("spikingjelly")
    from spikingjelly.activation_based import functional, layer, neuron

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.sn1 = layer.Linear(6, 6), neuron.IFNode()
            self.fc2, self.sn2 = layer.Linear(6, 4), neuron.IFNode()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.sn1(self.fc1(x))
            return self.sn2(self.fc2(torch.add(h, x) if add == "torch.add" else h.add(x)))

    torch.manual_seed(1)
    net = Net()
    with torch.no_grad():
        net.fc1.weight.mul_(4.0)
        net.fc2.weight.mul_(4.0)
    functional.set_step_mode(net, "m")
    graph, _, report = conv.convert_full(net, "spikingjelly", "norse", steps=30, input_shape_=(6,))
    assert report.exact and report.forward["spikes_source"] > 10, report.table()
    assert {("sn1", "fc2"), ("input", "fc2")} <= set(graph.edges)
