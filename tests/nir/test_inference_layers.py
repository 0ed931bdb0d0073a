"""Layers NIR has no node for, written as what they compute at inference: a BatchNorm as the
per-channel affine of its running statistics, a Dropout left out. Both only in eval mode; the
report and the graph's metadata say what was done; --verify compares the BatchNorm's gradients
through the chain rule. Also: a SpikingJelly model in multi-step mode exports (its layers see one
step)."""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from torch import nn

from snn_interop import cli, conversion as conv
from snn_interop.errors import ExitCode
from snn_interop.nir import graph as nir_graph
from snn_interop.nir.layers import batchnorm_gradients, layer_from_node, node_from_layer
from snn_interop.spec.schema import SpecError
from tests.conftest import plugin_or_skip

TARGETS = ["snntorch", "spikingjelly", "sinabs", "norse", "rockpool", "nir"]


def _stats(bn: nn.modules.batchnorm._BatchNorm, seed: int) -> nn.Module:
    """Running statistics and an affine far from the identity, eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        c = bn.num_features
        bn.running_mean.copy_(torch.rand(c, generator=g) - 0.5)
        bn.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=g))
        if bn.weight is not None:
            bn.weight.copy_(0.5 + 1.5 * torch.rand(c, generator=g))
            bn.bias.copy_(0.7 * torch.rand(c, generator=g) - 0.2)
    return bn.eval()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bn, shape, node_type", [
    (lambda: nn.BatchNorm2d(6), (6, 5, 4), nir.Conv2d),
    (lambda: nn.BatchNorm1d(6), (6,), nir.Affine),
    (lambda: nn.BatchNorm1d(6), (6, 7), nir.Conv1d),
    (lambda: nn.BatchNorm2d(6, affine=False), (6, 5, 4), nir.Conv2d),
])
def test_a_batchnorm_is_written_as_the_affine_it_computes(bn, shape, node_type, dtype):
    layer = _stats(bn(), 0).to(dtype)
    node = node_from_layer(layer, shape)
    assert isinstance(node, node_type)
    rebuilt = layer_from_node(node)
    spikes = (torch.rand(9, *shape, generator=torch.Generator().manual_seed(1)) < 0.4).to(dtype)
    with torch.no_grad():
        assert torch.equal(rebuilt(spikes), layer(spikes)), "on spikes every implementation rounds once: bit for bit"
        x = torch.randn(9, *shape, generator=torch.Generator().manual_seed(2), dtype=dtype)
        y, z = layer(x), rebuilt(x)
    ulp = torch.finfo(dtype).eps * y.abs().clamp_min(1.0)
    assert ((y - z).abs() <= ulp).all(), f"real input: within one rounding, max {(y - z).abs().max().item():.3g}"
    assert (y - x).abs().max() > 0.1, "the statistics matter"


def test_batchnorm_gradients_map_onto_the_affine_by_the_chain_rule():
    bn = _stats(nn.BatchNorm2d(4), 3).double()
    x = torch.randn(5, 4, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    proj = torch.randn(5, 4, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    gw, gb = torch.autograd.grad((bn(x) * proj).sum(), [bn.weight, bn.bias])
    affine = layer_from_node(node_from_layer(bn, (4, 3, 3)))
    ga, gc = torch.autograd.grad((affine(x) * proj).sum(), [affine.weight, affine.bias])
    mapped_w, mapped_b = batchnorm_gradients(bn, ga.reshape(-1), gc)
    torch.testing.assert_close(mapped_w, gw, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mapped_b, gb, rtol=1e-12, atol=1e-12)
    assert (ga.reshape(-1) - gw).abs().max() > 0.1, "the mapping is not the identity"


@pytest.mark.parametrize("layer, match", [
    (nn.BatchNorm2d(3), "layer 1: BatchNorm2d is in training mode, where it normalises by each batch's statistics.*model.eval"),
    (nn.BatchNorm2d(3, track_running_stats=False).eval(), "layer 1: BatchNorm2d has no running statistics"),
    (nn.Dropout(0.2), "layer 1: Dropout is in training mode, where it zeroes random elements.*model.eval"),
    (nn.MaxPool2d(2), r"layer 1 \(MaxPool2d\) does not pool single spikes .*NIR has no max pooling node"),
])
def test_what_nir_cannot_carry_is_refused_by_layer(layer, match):
    plugin = plugin_or_skip("snntorch")
    net = nn.Sequential(nn.Conv2d(1, 3, 3), layer, nn.Flatten())
    with pytest.raises(SpecError, match=match):
        nir_graph.to_nir(net, plugin, torch.zeros(1, 1, 6, 6))


def snntorch_convnet() -> nn.Sequential:
    """Conv, BatchNorm2d, Leaky, AvgPool, Flatten, Dropout, Linear, BatchNorm1d, Leaky: eval mode."""
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(5)
    net = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), snn.Leaky(beta=0.8, init_hidden=True),
                        nn.AvgPool2d(2), nn.Flatten(), nn.Dropout(0.3), nn.Linear(6 * 4 * 4, 5, bias=False), nn.BatchNorm1d(5),
                        snn.Leaky(beta=0.9, init_hidden=True, output=True))
    with torch.no_grad():
        net[0].weight.mul_(4.0)
        net[6].weight.mul_(6.0)
    _stats(net[1], 6), _stats(net[7], 7)
    return net.eval()


def spikingjelly_csnn(step_mode: str) -> nn.Sequential:
    """The shape of SpikingJelly's CSNN example: layer.Conv2d, BatchNorm2d, IFNode, pooling,
    Flatten, its own Dropout, Linear, BatchNorm1d, LIFNode, in ``step_mode``, eval mode."""
    sj = pytest.importorskip("spikingjelly.activation_based")
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    torch.manual_seed(0)
    net = nn.Sequential(layer.Conv2d(2, 8, 3, padding=1, bias=False), layer.BatchNorm2d(8),
                        neuron.IFNode(surrogate_function=surrogate.ATan()), layer.AvgPool2d(2, 2), layer.Flatten(),
                        layer.Dropout(0.5), layer.Linear(8 * 4 * 4, 10, bias=False), layer.BatchNorm1d(10),
                        neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan()))
    assert sj is not None
    functional.set_step_mode(net, step_mode)
    with torch.no_grad():
        net[0].weight.mul_(8.0)
        net[6].weight.mul_(6.0)
    _stats(net[1], 8), _stats(net[7], 9)
    return net.eval()


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("source", ["snntorch", "spikingjelly"])
def test_convnets_with_batchnorm_and_dropout_convert_exactly(source, target):
    plugin_or_skip(source)
    if target != "nir":
        plugin_or_skip(target)
    net = snntorch_convnet() if source == "snntorch" else spikingjelly_csnn("m")
    _, report = conv.convert(net, source, target, torch.zeros(1, 2, 8, 8), steps=40)
    assert report.exact, report.table()
    assert report.forward["spikes_source"] >= 30, report.forward["spikes_source"]
    compared = report.gradient["weight_rel_err"]
    assert {"1.weight", "1.bias", "7.weight", "7.bias"} <= set(compared), compared
    assert [(n["layer"], n["type"]) for n in report.written_as] == [("1", "BatchNorm2d"), ("5", "Dropout"), ("7", "BatchNorm1d")]
    if source == "spikingjelly":
        assert {m.step_mode for m in net if hasattr(m, "step_mode")} == {"m"}, "the user's step modes are left as they were"


def test_verify_catches_a_batchnorm_written_with_the_wrong_statistics():
    plugin_or_skip("snntorch")
    net = snntorch_convnet()
    graph = conv.convert(net, "snntorch", "nir", torch.zeros(1, 2, 8, 8), verify_result=False)[0]
    assert graph.nodes["1"].groups == 6 and "5" not in graph.nodes and ("4", "6") in graph.edges
    with torch.no_grad():
        net[1].running_var.mul_(1.5)  # the source no longer computes what the graph says
    run_source, _ = conv._runner(net, conv.resolve("snntorch"), torch.float32)
    measured = conv.verify(run_source, net, conv.resolve("snntorch").from_nir(graph), (torch.rand(40, 2, 2, 8, 8) < 0.3).float(), 0)
    assert measured["forward"]["spike_mismatches"] > 0 or measured["forward"]["max_membrane_abs_err"] > 1e-2


def test_a_spikingjelly_model_in_single_step_mode_exports_too():
    plugin_or_skip("spikingjelly")
    net = spikingjelly_csnn("s")
    _, report = conv.convert(net, "spikingjelly", "snntorch", torch.zeros(1, 2, 8, 8), steps=30)
    assert report.exact, report.table()
    assert {m.step_mode for m in net if hasattr(m, "step_mode")} == {"s"}


def test_export_notes_travel_in_the_nir_file(tmp_path):
    plugin_or_skip("snntorch")
    graph, _ = conv.convert(snntorch_convnet(), "snntorch", "nir", torch.zeros(1, 2, 8, 8), verify_result=False)
    nir.write(tmp_path / "net.nir", graph)
    notes = nir_graph.export_notes(nir.read(tmp_path / "net.nir"))
    assert [n["type"] for n in notes] == ["BatchNorm2d", "Dropout", "BatchNorm1d"]
    assert "running statistics" in notes[0]["note"] and "identity at inference" in notes[1]["note"]
    assert isinstance(graph.nodes["7"], nir.Affine) and np.count_nonzero(graph.nodes["7"].weight - np.diag(np.diag(graph.nodes["7"].weight))) == 0


def test_snn_convert_prints_what_was_written_for_inference(tmp_path, monkeypatch, capsys):
    plugin_or_skip("snntorch")
    plugin_or_skip("norse")
    (tmp_path / "bnnet.py").write_text("from tests.nir.test_inference_layers import snntorch_convnet as build\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code = cli.convert_main(["--from", "snntorch", "--to", "norse", "bnnet:build", "-o", str(tmp_path / "out"), "--input-shape", "2", "8", "8"])
    out = capsys.readouterr().out
    assert code == ExitCode.OK, out
    lines = [line for line in out.splitlines() if line.startswith("written as: layer ")]
    assert [line.split(":")[1].strip() for line in lines] == ["layer 1 (BatchNorm2d)", "layer 5 (Dropout)", "layer 7 (BatchNorm1d)"], out


def test_a_batchnorm_after_a_silent_layer_compares_its_gradients():
    """Its input all zeros: the affine's dL/da is exactly 0, and the BatchNorm's own gradients
    are what is compared (the other mapping compared a 1e-8 residual with 0: "relative error 1")."""
    snn = pytest.importorskip("snntorch")
    plugin_or_skip("snntorch")
    net = nn.Sequential(nn.Linear(12, 5, bias=False), nn.BatchNorm1d(5), snn.Leaky(beta=0.9, init_hidden=True))
    with torch.no_grad():
        net[0].weight.zero_()
    _stats(net[1], 11)
    with torch.no_grad():
        net[1].bias.fill_(0.6)  # the neurons fire on the BatchNorm's shift alone
    _, report = conv.convert(net.eval(), "snntorch", "nir", torch.zeros(1, 12), steps=30)
    assert report.forward["spikes_source"] > 20 and report.exact, report.table()
    assert report.gradient["weight_rel_err"]["1.weight"] < 1e-6
