"""A max pool of spikes: NIR has no max pooling, but on spikes (x in {0, 1}) the max of a window is
whether it holds a spike, a SumPool2d into a Threshold at 0.5. snn-interop writes that pair,
marked, reads it back as the MaxPool2d (gradient included) and refuses a max pool of anything else."""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from torch import nn

from snn_interop import conversion as conv
from snn_interop.nir import graph as nir_graph
from snn_interop.nir.layers import MaxPoolSpikes, SumPool2d, layer_from_node, max_pool_nodes
from snn_interop.spec.schema import SpecError
from tests.conftest import plugin_or_skip
from tests.nir.test_inference_layers import _stats

TARGETS = ["snntorch", "spikingjelly", "sinabs", "norse", "rockpool", "nir"]


@pytest.mark.parametrize("kernel, stride, padding", [(2, 2, 0), (3, 1, 1), (3, 2, 1), ((2, 3), (1, 2), (1, 0))])
def test_the_nir_pair_is_the_max_pool_of_spikes(kernel, stride, padding):
    pool = nn.MaxPool2d(kernel, stride, padding)
    x = (torch.rand(4, 3, 9, 8, generator=torch.Generator().manual_seed(0)) < 0.2).double()
    summed, fired = max_pool_nodes(pool, (3, 9, 8))
    counts = SumPool2d(summed.kernel_size, summed.stride, summed.padding)(x)
    assert counts.shape[1:] == fired.threshold.shape
    assert torch.equal((counts > torch.from_numpy(fired.threshold)).double(), pool(x)), "what any NIR reader computes"
    assert counts.max() > 1, "windows with several spikes occur, and still give 1"
    assert not torch.equal((SumPool2d(summed.kernel_size, summed.stride, summed.padding)(2 * x) > 0.5).double(), pool(2 * x)), \
        "on other values it would not be the max: hence only spikes"


def csnn(pool_after_neuron: bool = True) -> nn.Sequential:
    """spikingjelly's CSNN example as its users write it: Conv, BatchNorm, IFNode, MaxPool, twice, then Linear, IFNode."""
    pytest.importorskip("spikingjelly.activation_based")
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    torch.manual_seed(0)
    block = lambda c_in: [layer.Conv2d(c_in, 8, 3, padding=1, bias=False), layer.BatchNorm2d(8),  # noqa: E731
                          neuron.IFNode(surrogate_function=surrogate.ATan()), layer.MaxPool2d(2, 2)]
    net = nn.Sequential(*block(2), *block(8), layer.Flatten(), layer.Linear(8 * 2 * 2, 10, bias=False),
                        neuron.IFNode(surrogate_function=surrogate.ATan()))
    if not pool_after_neuron:
        net[2], net[3] = net[3], net[2]
    functional.set_step_mode(net, "m")
    with torch.no_grad():
        net[0].weight.mul_(8.0)
        net[4].weight.mul_(6.0)
        net[9].weight.mul_(6.0)
    _stats(net[1], 1), _stats(net[5], 2)
    return net.eval()


@pytest.mark.parametrize("target", TARGETS)
def test_a_csnn_with_max_pools_converts_exactly(target):
    plugin_or_skip("spikingjelly")
    if target != "nir":
        plugin_or_skip(target)
    graph, report = conv.convert(csnn(), "spikingjelly", target, torch.zeros(1, 2, 8, 8), steps=40)
    assert report.exact, report.table()
    assert report.forward["spikes_source"] >= 100, report.forward["spikes_source"]
    assert report.gradient["input_rel_err"] < 1e-5, "the gradient goes through the max pool as torch routes it"
    if target == "nir":
        assert isinstance(graph.nodes["3"], nir.SumPool2d) and isinstance(graph.nodes["3_max"], nir.Threshold)
        assert ("3", "3_max") in graph.edges and ("3_max", "4") in graph.edges


def test_the_pair_travels_in_a_file_and_back_out_of_a_built_model(tmp_path):
    plugin = plugin_or_skip("spikingjelly")
    snntorch = plugin_or_skip("snntorch")
    graph = plugin.to_nir(csnn(), torch.zeros(1, 2, 8, 8))
    nir.write(tmp_path / "csnn.nir", graph)
    built = snntorch.from_nir(nir.read(tmp_path / "csnn.nir"))
    assert isinstance(built.layer("3"), MaxPoolSpikes) and built.layer("3").kernel_size == (2, 2)
    again = snntorch.to_nir(built, torch.zeros(1, 2, 8, 8))  # the built model's own graph: the same pair
    for name in ("3", "3_max", "7", "7_max"):
        assert type(again.nodes[name]) is type(graph.nodes[name]) and again.nodes[name].metadata == graph.nodes[name].metadata


def test_a_max_pool_of_anything_but_single_spikes_is_refused():
    plugin = plugin_or_skip("spikingjelly")
    with pytest.raises(SpecError, match=r"layer 2 \(MaxPool2d\) does not pool single spikes"):
        plugin.to_nir(csnn(pool_after_neuron=False), torch.zeros(1, 2, 8, 8))
    sinabs = plugin_or_skip("sinabs")
    import sinabs.layers as sl

    multi = nn.Sequential(nn.Conv2d(2, 4, 3), sl.IAF(), nn.MaxPool2d(2))  # sinabs's IAF fires several spikes per step
    with pytest.raises(SpecError, match="does not pool single spikes"):
        sinabs.to_nir(multi, torch.zeros(1, 2, 8, 8))


def test_a_threshold_node_from_elsewhere_is_refused_by_name():
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([3])}), "t": nir.Threshold(threshold=np.full(3, 0.5)),
                            "output": nir.Output(output_type={"output": np.array([3])})}, edges=[("input", "t"), ("t", "output")])
    with pytest.raises(SpecError, match="Threshold node is read only as the end of a max pool of spikes"):
        nir_graph.from_nir(g, None)
    assert isinstance(layer_from_node(nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))),
                      SumPool2d), "an unmarked SumPool2d stays a sum"
