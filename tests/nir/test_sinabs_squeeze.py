"""sinabs's Squeeze neurons (IAFSqueeze: batch and time folded into one dimension, the form
DYNAP-CNN takes) to NIR and into every framework, spikes and gradients as sinabs computes them.

sinabs's own SumPool2d (LPPool2d with p = 1) has zero gradient wherever a window sums to 0, so a
model that pools with it converts exactly forward only (docs/frameworks/sinabs.md); these nets
do not pool."""
from __future__ import annotations

import pytest
import torch

from snn_interop import conversion as conv
from tests.conftest import plugin_or_skip

FRAMEWORKS = ["sinabs", "snntorch", "spikingjelly", "norse", "rockpool"]


def squeeze_net(batch_size: int = 1) -> torch.nn.Module:
    sl = pytest.importorskip("sinabs.layers")
    torch.manual_seed(3)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, bias=False), sl.IAFSqueeze(batch_size=batch_size), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 5, bias=False), sl.IAFSqueeze(batch_size=batch_size))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[3].weight.mul_(4.0)
    return net


@pytest.mark.parametrize("target", FRAMEWORKS)
def test_iaf_squeeze_conv_nets_convert_exactly(target):
    plugin_or_skip("sinabs")
    plugin_or_skip(target)
    net = squeeze_net()
    _, report = conv.convert(net, "sinabs", target, steps=50, input_shape_=(2, 8, 8))
    assert report.forward["spikes_source"] >= 50, report.forward["spikes_source"]
    assert report.exact, report.table()
    assert [net[1].batch_size, net[4].batch_size] == [1, 1], "the run leaves the layers as the user built them"


def test_mixing_squeeze_and_batch_first_neurons_is_refused():
    sl = pytest.importorskip("sinabs.layers")
    plugin = plugin_or_skip("sinabs")
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), sl.IAFSqueeze(batch_size=1), torch.nn.Linear(3, 2), sl.IAF())
    with pytest.raises(ValueError, match="mixes Squeeze neurons"):
        plugin.run_model(net, torch.zeros(4, 1, 3))


@pytest.mark.parametrize("target", ["snntorch", "nir"])
def test_a_network_from_sinabs_from_model_converts_as_its_spiking_model(target):
    """sinabs.from_torch.from_model(ann) gives a Network wrapping the spiking Sequential (ReLU ->
    IAFSqueeze); snn-convert takes the Network itself."""
    plugin_or_skip("sinabs")
    if target != "nir":
        plugin_or_skip(target)
    from sinabs.from_torch import from_model

    torch.manual_seed(4)
    ann = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5), torch.nn.ReLU())
    with torch.no_grad():
        ann[0].weight.mul_(4.0)
        ann[3].weight.mul_(8.0)
    network = from_model(ann, input_shape=(2, 8, 8), batch_size=1)
    _, report = conv.convert(network, "sinabs", target, torch.zeros(1, 2, 8, 8), steps=40)
    assert report.exact and report.forward["spikes_source"] > 20, report.table()
