"""Pooling and convolution options NIR's nodes lack: written only where they change nothing on
the model's input (ceil_mode that adds no window, count_include_pad without padding, a
divisor equal to the window size), as the node that computes the same (divisor_override=1: a
SumPool2d; an AdaptiveAvgPool2d whose output size divides its input: the AvgPool2d with the
same windows), refused by name otherwise; never dropped. Before, AvgPool2d(divisor_override=1)
was written as an average (--verify: membranes off by up to 1.92) and ceil_mode was lost (the
converted model did not run)."""
from __future__ import annotations

import itertools

import nir
import pytest
import torch
from torch import nn

from snn_interop import cli, conversion as conv
from snn_interop.errors import ExitCode
from snn_interop.nir import graph as nir_graph
from snn_interop.nir.layers import _pooled_size
from snn_interop.spec.schema import SpecError
from tests.conftest import plugin_or_skip

TARGETS = ["snntorch", "spikingjelly", "sinabs", "norse", "rockpool", "nir"]


def pooled_net(pool: nn.Module, size: int, conv: nn.Module | None = None) -> nn.Sequential:
    """Conv, Leaky, ``pool``, Flatten, Linear, Leaky (snnTorch) on 2 x size x size input, weights
    scaled so that both neuron layers fire."""
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(3)
    conv = conv if conv is not None else nn.Conv2d(2, 6, 3, padding=1)
    with torch.no_grad():
        features = pool(conv(torch.zeros(1, 2, size, size))).numel()
    net = nn.Sequential(conv, snn.Leaky(beta=0.8, init_hidden=True), pool, nn.Flatten(), nn.Linear(features, 5),
                        snn.Leaky(beta=0.9, init_hidden=True, output=True))
    with torch.no_grad():
        net[0].weight.mul_(4.0)
        net[4].weight.mul_(40.0 / features ** 0.5)
        net[4].bias.fill_(0.3)
    return net


ACCEPTED = [  # (pool, input size, the node written, its kernel, what the note says or None)
    (lambda: nn.AdaptiveAvgPool2d(1), 6, nir.AvgPool2d, (6, 6), "AvgPool2d with kernel and stride 6x6, the same windows on its 6x6"),
    (lambda: nn.AdaptiveAvgPool2d((2, None)), 8, nir.AvgPool2d, (4, 1), "kernel and stride 4x1"),
    (lambda: nn.AvgPool2d(2, divisor_override=1), 6, nir.SumPool2d, (2, 2), "SumPool2d: divisor_override=1 sums each window"),
    (lambda: nn.AvgPool2d(3, stride=3, divisor_override=9), 6, nir.AvgPool2d, (3, 3), None),
    (lambda: nn.AvgPool2d(2, ceil_mode=True), 6, nir.AvgPool2d, (2, 2), "without ceil_mode, which adds no window on its 6x6 input"),
    (lambda: nn.AvgPool2d(2, count_include_pad=False), 6, nir.AvgPool2d, (2, 2), None),
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("pool, size, node_type, kernel, note", ACCEPTED)
def test_pooling_options_that_change_nothing_here_convert_exactly(pool, size, node_type, kernel, note, target):
    plugin_or_skip("snntorch")
    if target != "nir":
        plugin_or_skip(target)
    net = pooled_net(pool(), size)
    graph, report = conv.convert(net, "snntorch", target, torch.zeros(1, 2, size, size), steps=40)
    assert report.exact, report.table()
    assert report.forward["spikes_source"] >= 20, report.forward["spikes_source"]
    assert min(report.forward["spikes_by_layer"].values()) > 0, report.forward["spikes_by_layer"]
    written = nir_graph.to_nir(net, conv.resolve("snntorch"), torch.zeros(1, 2, size, size))
    assert type(written.nodes["2"]) is node_type and tuple(written.nodes["2"].kernel_size) == kernel
    notes = [n["note"] for n in report.written_as if n["layer"] == "2"]
    assert (notes == []) if note is None else (len(notes) == 1 and note in notes[0]), report.written_as


REFUSED = [  # (pool or conv layer, input size, what the message names)
    (nn.AvgPool2d(2, divisor_override=3), 6, r"layer 1: AvgPool2d with divisor_override=3 divides each window's sum by 3; "
                                             r"NIR's AvgPool2d divides by the window size \(4\)"),
    (nn.AvgPool2d(2, ceil_mode=True), 5, r"layer 1: AvgPool2d with ceil_mode=True adds a partial window at the edge of its 5x5 input"),
    (nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), 6, r"layer 1: AvgPool2d with count_include_pad=False and padding"),
    (nn.AdaptiveAvgPool2d(3), 7, r"layer 1: AdaptiveAvgPool2d to 3x3 on 7x7 input pools windows of unequal sizes"),
    (nn.AdaptiveAvgPool2d((None, 4)), 6, r"AdaptiveAvgPool2d to 6x4 on 6x6 input"),
]


@pytest.mark.parametrize("layer, size, match", REFUSED)
def test_pooling_options_nir_cannot_carry_are_refused_by_name(layer, size, match):
    plugin = plugin_or_skip("snntorch")
    net = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), layer, nn.Flatten())
    with pytest.raises(SpecError, match=match):
        nir_graph.to_nir(net, plugin, torch.zeros(1, 2, size, size))


@pytest.mark.parametrize("mode", ["circular", "reflect", "replicate"])
def test_a_convolution_that_pads_with_other_values_is_refused_and_one_that_does_not_pad_converts(mode):
    plugin_or_skip("snntorch")
    plugin = conv.resolve("snntorch")
    padded = pooled_net(nn.AvgPool2d(2), 6, nn.Conv2d(2, 6, 3, padding=1, padding_mode=mode))
    with pytest.raises(SpecError, match=f"layer 0: Conv2d with padding_mode='{mode}' pads with other values than zeros"):
        nir_graph.to_nir(padded, plugin, torch.zeros(1, 2, 6, 6))
    unpadded = pooled_net(nn.AvgPool2d(2), 8, nn.Conv2d(2, 6, 3, padding=0, padding_mode=mode))
    _, report = conv.convert(unpadded, "snntorch", "norse", torch.zeros(1, 2, 8, 8), steps=30)
    assert report.exact and report.forward["spikes_source"] > 0, report.table()


def test_pooled_size_is_torchs():
    """The rule that decides whether ceil_mode adds a window, against torch's own output shapes."""
    for size, k, s, p, ceil in itertools.product(range(3, 12), (1, 2, 3), (1, 2, 3), (0, 1), (False, True)):
        if p > k // 2:
            continue
        shape = nn.AvgPool2d(k, s, p, ceil_mode=ceil)(torch.zeros(1, 1, size, size)).shape
        assert _pooled_size(size, k, s, p, ceil) == shape[-1], (size, k, s, p, ceil)


def test_sinabs_sum_pool_with_ceil_mode():
    plugin_or_skip("sinabs")
    from sinabs.layers import SumPool2d

    plugin = conv.resolve("sinabs")
    net = lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), SumPool2d(2, ceil_mode=True), nn.Flatten())  # noqa: E731
    with pytest.raises(SpecError, match="layer 1: SumPool2d with ceil_mode=True adds a partial window at the edge of its 5x5 input"):
        nir_graph.to_nir(net(), plugin, torch.zeros(1, 2, 5, 5))
    graph = nir_graph.to_nir(net(), plugin, torch.zeros(1, 2, 6, 6))
    assert isinstance(graph.nodes["1"], nir.SumPool2d)
    assert "without ceil_mode" in nir_graph.export_notes(graph)[0]["note"]


def test_spikingjelly_global_average_pooling_in_multi_step_mode(tmp_path):
    """SpikingJelly's own AdaptiveAvgPool2d((1, 1)), as its ResNets end, multi-step: into NIR and every framework."""
    plugin_or_skip("spikingjelly")
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    torch.manual_seed(0)
    net = nn.Sequential(layer.Conv2d(2, 8, 3, padding=1), neuron.IFNode(surrogate_function=surrogate.ATan()),
                        layer.AdaptiveAvgPool2d((1, 1)), layer.Flatten(), layer.Linear(8, 10),
                        neuron.IFNode(surrogate_function=surrogate.ATan()))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[4].weight.mul_(8.0)
    functional.set_step_mode(net, "m")
    for target in ["snntorch", "sinabs", "norse", "nir"]:
        if target != "nir":
            plugin_or_skip(target)
        graph, report = conv.convert(net, "spikingjelly", target, torch.zeros(1, 2, 8, 8), steps=40)
        assert report.exact and report.forward["spikes_source"] >= 20, (target, report.table())
    nir.write(tmp_path / "gap.nir", graph)
    read = nir.read(tmp_path / "gap.nir")
    assert tuple(read.nodes["2"].kernel_size) == (8, 8) and tuple(read.nodes["2"].stride) == (8, 8)
    assert [(n["layer"], n["type"]) for n in nir_graph.export_notes(read)] == [("2", "AdaptiveAvgPool2d")]


def test_snn_convert_says_what_a_pool_was_written_as(tmp_path, monkeypatch, capsys):
    plugin_or_skip("snntorch")
    plugin_or_skip("sinabs")
    (tmp_path / "gapnet.py").write_text("from torch import nn\nfrom tests.nir.test_pool_options import pooled_net\n"
                                        "def build():\n    return pooled_net(nn.AdaptiveAvgPool2d(1), 6)\n"
                                        "def unequal():\n    return pooled_net(nn.AdaptiveAvgPool2d(4), 6)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    args = ["--from", "snntorch", "--to", "sinabs", "--input-shape", "2", "6", "6", "--force"]
    assert cli.convert_main([*args, "gapnet:build", "-o", str(tmp_path / "out")]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "written as: layer 2 (AdaptiveAvgPool2d): AvgPool2d with kernel and stride 6x6, the same windows on its 6x6 input" in out
    assert cli.convert_main([*args, "gapnet:unequal", "-o", str(tmp_path / "out2")]) == ExitCode.UNSUPPORTED
    err = capsys.readouterr().err
    assert "AdaptiveAvgPool2d to 4x4 on 6x6 input pools windows of unequal sizes" in err
    assert not (tmp_path / "out2").exists(), "nothing written for a refused model"
