"""Models written as a class whose forward loops over time through its layers (snnTorch's
tutorials) or runs them on the whole sequence (spikingjelly's multi-step mode): read as the
chain of layers the forward calls (snn_interop.trace), verified against that forward, and
refused, saying why, when the forward is not a chain."""
from __future__ import annotations

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
