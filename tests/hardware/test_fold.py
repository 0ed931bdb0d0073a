"""A BatchNorm's per-channel affine folded into the weight layer before it for a chip
(snn_interop.nir.fold), and a model with one handed off to Loihi."""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from torch import nn

from snn_interop import hardware
from snn_interop.conversion import convert_full
from snn_interop.nir.fold import channel_affine, fold
from snn_interop.nir.layers import layer_from_node, node_from_layer
from snn_interop_plugins import loihi as target
from tests.conftest import plugin_or_skip
from tests.nir.test_inference_layers import _stats


def _chain(*named: tuple[str, nir.NIRNode], shape: tuple[int, ...]) -> nir.NIRGraph:
    names = ["input", *(n for n, _ in named), "output"]
    nodes = {"input": nir.Input(input_type={"input": np.array(shape)}), **dict(named),
             "output": nir.Output(output_type={"output": np.array([1])})}
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])))


def _run(nodes: list[nir.NIRNode], x: torch.Tensor) -> torch.Tensor:
    for node in nodes:
        x = layer_from_node(node, torch.float64)(x)
    return x


@pytest.mark.parametrize("weights, bn, shape", [
    (lambda: nn.Conv2d(3, 5, 3, padding=1), lambda: nn.BatchNorm2d(5), (3, 6, 6)),
    (lambda: nn.Conv2d(3, 5, 3, bias=False), lambda: nn.BatchNorm2d(5), (3, 6, 6)),
    (lambda: nn.Conv1d(3, 5, 2), lambda: nn.BatchNorm1d(5), (3, 7)),
    (lambda: nn.Linear(4, 5), lambda: nn.BatchNorm1d(5), (4,)),
    (lambda: nn.Linear(4, 5, bias=False), lambda: nn.BatchNorm1d(5), (4,)),
])
def test_folding_computes_the_same_function(weights, bn, shape):
    torch.manual_seed(0)
    w, b = weights().double(), _stats(bn(), 1).double()
    with torch.no_grad():
        mid = tuple(w(torch.zeros(1, *shape, dtype=torch.float64)).shape[1:])
    first, second = node_from_layer(w, shape), node_from_layer(b, mid)
    assert channel_affine(second) is not None
    folded, notes = fold(_chain(("w", first), ("bn", second), shape=shape))
    assert list(folded.nodes) == ["input", "w", "output"] and folded.edges == [("input", "w"), ("w", "output")]
    assert notes == [{"node": "bn", "into": "w", "note": notes[0]["note"]}] and "folded into 'w'" in notes[0]["note"]
    x = torch.randn(7, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, got = _run([first, second], x), _run([folded.nodes["w"]], x)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    assert (expected - _run([first], x)).abs().max() > 0.1, "the BatchNorm matters"


def test_only_a_per_channel_affine_after_a_weight_layer_that_feeds_nothing_else_is_folded():
    conv = nir.Conv2d(input_shape=(4, 4), weight=np.ones((2, 2, 1, 1)), stride=1, padding=0, dilation=1, groups=1, bias=np.zeros(2))
    depthwise = nir.Conv2d(input_shape=(4, 4), weight=np.full((2, 1, 1, 1), 2.0), stride=1, padding=0, dilation=1, groups=2, bias=np.ones(2))
    strided = nir.Conv2d(input_shape=(4, 4), weight=np.full((2, 1, 1, 1), 2.0), stride=2, padding=0, dilation=1, groups=2, bias=np.ones(2))
    assert channel_affine(strided) is None and channel_affine(conv) is None
    assert channel_affine(nir.Affine(weight=np.ones((2, 2)), bias=np.zeros(2))) is None
    after_flatten = _chain(("f", nir.Flatten(input_type={"input": np.array([2, 1, 1])})), ("d", nir.Affine(weight=np.eye(2), bias=np.ones(2))), shape=(2, 1, 1))
    assert fold(after_flatten) == (after_flatten, [])
    branching = _chain(("c", conv), ("d", depthwise), shape=(2, 4, 4))
    branching.edges.append(("c", "output"))
    assert fold(branching)[1] == []
    assert fold(_chain(("c", conv), ("s", strided), shape=(2, 4, 4)))[1] == []


def test_a_model_with_a_batchnorm_goes_to_loihi_folded(tmp_path):
    """Linear -> BatchNorm1d -> LIF -> Linear -> LIF (reset to zero, same step): Loihi has no layer
    for the BatchNorm; folded into the first Linear it runs within the bound."""
    snn = pytest.importorskip("snntorch")
    plugin_or_skip("snntorch")
    torch.manual_seed(0)
    neuron = lambda: snn.Leaky(beta=0.9, reset_mechanism="zero", reset_delay=False, init_hidden=True)  # noqa: E731
    net = nn.Sequential(nn.Linear(20, 16), nn.BatchNorm1d(16), neuron(), nn.Linear(16, 4, bias=False), neuron())
    with torch.no_grad():
        net[0].weight.uniform_(-0.2, 0.6)
        net[3].weight.uniform_(-0.3, 0.5)
    _stats(net[1], 4)
    net.eval()
    graph, _, _ = convert_full(net, "snntorch", "nir", verify_result=False, input_shape_=(20,))
    assert [v.rule for v in target.check(graph)] != [], "unfolded, the graph does not fit"
    report = hardware.handoff(graph, "loihi", tmp_path / "out", steps=300, seed=0, rate=0.3)
    assert [(n["node"], n["into"]) for n in report.folded] == [("1", "0")]
    f = report.forward
    assert report.within_bound and f["mismatch_fraction"] <= target.BOUND["mismatch_fraction"], report.table()
    assert 50 < f["spikes_float"] < 0.8 * f["outputs"], report.table()  # the outputs fire, not every step
    assert "folded" in report.table()
