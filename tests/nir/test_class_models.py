"""Models written as a class whose forward loops over time through its layers (snnTorch's
tutorials) or runs them on the whole sequence (spikingjelly's multi-step mode): read as the
chain of layers the forward calls (snn_interop.trace), verified against that forward, and
refused, saying why, when the forward is not a chain; a forward that loops over time through a
graph (a skip connection) is read step by step (snn_interop.dataflow)."""
from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from snn_interop import cli, conversion as conv, inputs
from snn_interop.errors import BadSource, ExitCode
from tests.conftest import plugin_or_skip

TARGETS = ["snntorch", "spikingjelly", "sinabs", "norse", "rockpool", "nir"]


def tutorial_net(variant: str = "chain") -> nn.Module:
    """snnTorch's tutorial 5 network (Leaky neurons without init_hidden, membranes passed by
    hand), fed time-major spikes; ``variant`` plants what is not a chain."""
    snn = pytest.importorskip("snntorch")

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.lif1 = nn.Linear(12, 16), snn.Leaky(beta=0.9)
            self.fc2, self.lif2 = nn.Linear(16, 5), snn.Leaky(beta=0.8)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
            spikes, membranes = [], []
            for step in range(x.shape[0]):
                inp = {"static": x[0], "whole": x}.get(variant, x[step])
                spk1, mem1 = self.lif1(self.fc1(inp), mem1)
                cur2 = self.fc2(spk1) + (inp[..., :5] if variant == "skip" else 0)
                spk2, mem2 = self.lif2(cur2, mem2)
                spikes.append(spk2)
                membranes.append(mem2)
            out = torch.stack(spikes), torch.stack(membranes)
            return out[::-1] if variant == "membranes_first" else out

    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        net.fc1.weight.mul_(4.0)
        net.fc2.weight.mul_(4.0)
    return net


@pytest.mark.parametrize("target", TARGETS)
def test_snntorchs_tutorial_class_converts_exactly(target):
    plugin_or_skip("snntorch")
    if target != "nir":
        plugin_or_skip(target)
    graph, report = conv.convert_full(tutorial_net(), "snntorch", target, steps=40)[::2]
    assert report.exact, report.table()
    assert report.forward["spikes_source"] > 20
    assert set(report.gradient["weight_rel_err"]) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    assert {"fc1", "lif1", "fc2", "lif2"} <= set(graph.nodes), "nodes named as the model names its layers"


def test_a_spikingjelly_class_in_multi_step_mode_converts_exactly():
    plugin_or_skip("spikingjelly")
    from spikingjelly.activation_based import layer, neuron, surrogate

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2 = layer.Linear(12, 16, step_mode="m"), layer.Linear(16, 5, step_mode="m")
            self.sn1 = neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan(), step_mode="m")
            self.sn2 = neuron.IFNode(surrogate_function=surrogate.ATan(), step_mode="m")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.sn2(self.fc2(self.sn1(self.fc1(x))))

    torch.manual_seed(1)
    net = Net()
    with torch.no_grad():
        net.fc1.weight.mul_(6.0)
        net.fc2.weight.mul_(6.0)
    for target in ("snntorch", "nir"):
        _, report = conv.convert(net, "spikingjelly", target, steps=40)
        assert report.exact and report.forward["spikes_source"] > 20, report.table()


@pytest.mark.parametrize("variant, words", [
    ("static", "layer fc1 is not fed the model's input at step 1"),
    ("whole", "gives its first layer fc1 the whole input at once, yet calls its layers more than once"),
    ("skip", "layer lif2 is not fed the output of fc2"),
    ("membranes_first", "does not return the time-major outputs of its last layer lif2"),
])
def test_a_forward_that_is_not_a_chain_is_refused_saying_what_was_seen(variant, words):
    plugin_or_skip("snntorch")
    with pytest.raises(BadSource, match=words):
        conv.convert(tutorial_net(variant), "snntorch", "nir", steps=10)


def test_snn_convert_takes_a_class(tmp_path, monkeypatch, capsys):
    plugin_or_skip("snntorch")
    (tmp_path / "tutnet.py").write_text("from tests.nir.test_class_models import tutorial_net as build\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code = cli.convert_main(["--from", "snntorch", "--to", "nir", "tutnet:build", "-o", str(tmp_path / "net.nir"), "--verify"])
    out = capsys.readouterr().out
    assert code == ExitCode.OK and "EXACT" in out, out
    assert "n/a (no neuron membranes to compare)" in out, "a class's forward shows no membranes; the table says so"


def test_compare_records_a_class_by_its_chain_and_finds_where_a_conversion_parts_ways():
    from snn_interop import compare

    snntorch = plugin_or_skip("snntorch")
    net = tutorial_net()
    x = inputs.bernoulli_input(40, (12,), 0, torch.float32)
    native = compare.record(net, x, snntorch)
    assert native.order == ["input", "fc1", "lif1", "fc2", "lif2", "output"] and set(native.neurons) == {"lif1", "lif2"}
    assert torch.equal(native.nodes["output"]["out"], net(x)[0]), "recording only reads"
    graph, converted, _ = conv.convert_full(net, "snntorch", "nir", verify_result=False)
    assert compare.localise(native, compare.record(converted, x, None, graph=graph)).status == "match"
    with torch.no_grad():
        converted.layer("fc2").weight[2, :] += 0.5  # the converted model's second layer drifts
    result = compare.localise(native, compare.record(converted, x, None, graph=graph))
    assert result.status != "match" and result.first.node == "fc2", result.text()


def test_a_forward_over_a_fixed_number_of_steps_needs_steps_to_match():
    """snnTorch's tutorials loop ``for step in range(num_steps)``: the conversion runs it with
    --steps equal to that, and says so when it differs."""
    snn = pytest.importorskip("snntorch")
    plugin_or_skip("snntorch")

    class Fixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.lif = nn.Linear(12, 5), snn.Leaky(beta=0.9)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mem, out = self.lif.init_leaky(), []
            for step in range(25):
                spk, mem = self.lif(self.fc(x[step]), mem)
                out.append(spk)
            return torch.stack(out)

    torch.manual_seed(0)
    net = Fixed()
    with torch.no_grad():
        net.fc.weight.mul_(5.0)
    with pytest.raises(BadSource, match="--steps equal to it"):
        conv.convert(net, "snntorch", "nir", steps=10)
    _, report = conv.convert(net, "snntorch", "nir", steps=25)
    assert report.exact and report.forward["spikes_source"] > 0, report.table()
    _, one = conv.convert(tutorial_net(), "snntorch", "nir", steps=1)  # one step: per step and whole sequence look alike
    assert one.exact


def skip_net(variant: str = "linear") -> nn.Module:
    """snnTorch's tutorial network with a skip connection around its hidden layer, each step:
    "linear" adds a Linear of the input step to the second layer's current, "inplace" the same
    with ``+=``, "spikes" feeds the readout both hidden layers' spikes summed."""
    snn = pytest.importorskip("snntorch")

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.lif1 = nn.Linear(12, 16), snn.Leaky(beta=0.9)
            self.fc2, self.lif2 = nn.Linear(16, 16), snn.Leaky(beta=0.8)
            self.skip, self.fc3, self.lif3 = nn.Linear(12, 16), nn.Linear(16, 5), snn.Leaky(beta=0.7)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            mem1, mem2, mem3 = self.lif1.init_leaky(), self.lif2.init_leaky(), self.lif3.init_leaky()
            spikes, membranes = [], []
            for step in range(x.shape[0]):
                spk1, mem1 = self.lif1(self.fc1(x[step]), mem1)
                cur2 = self.fc2(spk1)
                if variant == "inplace":
                    cur2 += self.skip(x[step])
                elif variant == "linear":
                    cur2 = cur2 + self.skip(x[step])
                spk2, mem2 = self.lif2(cur2, mem2)
                spk3, mem3 = self.lif3(self.fc3(spk2 + spk1 if variant == "spikes" else spk2), mem3)
                spikes.append(spk3)
                membranes.append(mem3)
            return torch.stack(spikes), torch.stack(membranes)

    torch.manual_seed(3)
    net = Net()
    with torch.no_grad():
        for fc in (net.fc1, net.fc2, net.skip, net.fc3):
            fc.weight.mul_(3.0)
    if variant == "spikes":
        del net.skip
    return net


SKIP_EDGES = {"linear": {("skip", "lif2"), ("fc2", "lif2"), ("input", "skip")}, "inplace": {("skip", "lif2"), ("fc2", "lif2")},
              "spikes": {("lif1", "fc3"), ("lif2", "fc3")}}


@pytest.mark.parametrize("variant", list(SKIP_EDGES))
@pytest.mark.parametrize("target", TARGETS)
def test_a_forward_that_loops_over_a_graph_converts_exactly(variant, target):
    plugin_or_skip("snntorch")
    if target != "nir":
        plugin_or_skip(target)
    graph, _, report = conv.convert_full(skip_net(variant), "snntorch", target, steps=30)
    assert report.exact and report.forward["spikes_source"] > 20, report.table()
    assert SKIP_EDGES[variant] <= set(graph.edges), sorted(graph.edges)
    assert report.gradient["max_rel_err"] == 0.0 and report.gradient["input_rel_err"] == 0.0, "the same arithmetic, bit for bit"


def test_compare_records_a_forward_that_loops_over_a_graph():
    from snn_interop import compare

    snntorch = plugin_or_skip("snntorch")
    net = skip_net()
    x = inputs.bernoulli_input(30, (12,), 1, torch.float32)
    native = compare.record(net, x, snntorch)
    assert set(native.preds["lif2"]) == {"fc2", "skip"} and native.nodes["skip"]["out"].shape == (30, 2, 16)
    graph, converted, _ = conv.convert_full(net, "snntorch", "nir", verify_result=False)
    assert compare.localise(native, compare.record(converted, x, None, graph=graph)).status == "match"
    with torch.no_grad():
        converted.layer("skip").bias += 0.3
    result = compare.localise(native, compare.record(converted, x, None, graph=graph))
    assert result.status != "match" and result.first.node == "skip", result.text()


@pytest.mark.parametrize("change, words", [
    ("product", "feeds layer lif2 at step 0 mul(fc2 (step 0), skip (step 0)), which computes mul"),
    ("previous", "feeds layer lif2 at step 1 fc2 (step 1) + skip (step 0), from another step"),
])
def test_a_forward_whose_steps_are_not_a_graph_of_layers_is_refused(change, words):
    snn = pytest.importorskip("snntorch")
    plugin_or_skip("snntorch")

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc2, self.skip, self.lif2 = nn.Linear(12, 5), nn.Linear(12, 5), snn.Leaky(beta=0.8, init_hidden=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, before = [], None
            for step in range(x.shape[0]):
                skip = self.skip(x[step])
                cur = self.fc2(x[step]) * skip if change == "product" else self.fc2(x[step]) + (skip if before is None else before)
                before = skip
                out.append(self.lif2(cur))
            return torch.stack(out)

    with pytest.raises(BadSource, match=re.escape(words)):
        conv.convert(Net(), "snntorch", "nir", steps=10)


def test_a_view_that_flattens_each_step_is_a_flatten():
    """``spk.view(batch, -1)`` in a loop over steps (snnTorch's convolutional tutorial) and
    ``y.view(T, B, -1)`` on a whole sequence (SpikingJelly's multi-step mode) flatten each step's
    values after the batch: a Flatten node. The forward is then not a chain, but a graph."""
    snn = pytest.importorskip("snntorch")
    plugin_or_skip("snntorch")
    plugin_or_skip("spikingjelly")
    from spikingjelly.activation_based import functional, layer, neuron

    class Loop(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.lif1 = nn.Conv2d(2, 4, 3, padding=1), snn.Leaky(beta=0.9)
            self.fc1, self.lif2 = nn.Linear(4 * 8 * 8, 5), snn.Leaky(beta=0.9)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mem1, mem2, out = self.lif1.init_leaky(), self.lif2.init_leaky(), []
            for t in range(x.size(0)):
                spk1, mem1 = self.lif1(self.conv1(x[t]), mem1)
                spk2, mem2 = self.lif2(self.fc1(spk1.view(x.size(1), -1)), mem2)
                out.append(spk2)
            return torch.stack(out)

    class Whole(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.lif1 = layer.Conv2d(2, 4, 3, padding=1, step_mode="m"), neuron.IFNode(step_mode="m")
            self.fc1, self.lif2 = layer.Linear(4 * 8 * 8, 5, step_mode="m"), neuron.IFNode(step_mode="m")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            steps, batch = x.shape[0], x.shape[1]
            return self.lif2(self.fc1(self.lif1(self.conv1(x)).reshape(steps, batch, -1)))

    for source, net in (("snntorch", Loop()), ("spikingjelly", Whole())):
        torch.manual_seed(0)
        with torch.no_grad():
            net.conv1.weight.mul_(3.0)
            net.fc1.weight.mul_(5.0)
        if source == "spikingjelly":
            functional.set_step_mode(net, "m")
        graph, _, report = conv.convert_full(net, source, "nir", steps=30, input_shape_=(2, 8, 8))
        assert report.exact and report.forward["spikes_source"] > 10, (source, report.table())
        flat = [n for n, node in graph.nodes.items() if type(node).__name__ == "Flatten"]
        assert len(flat) == 1 and ("lif1", flat[0]) in graph.edges and (flat[0], "fc1") in graph.edges, sorted(graph.edges)
