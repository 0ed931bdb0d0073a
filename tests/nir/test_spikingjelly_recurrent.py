"""SpikingJelly's ``LinearRecurrentContainer`` around a neuron: its neuron gets
rc([x[t], y[t-1]]) = W_x x[t] + W_y y[t-1] + b, so it goes to NIR as Linear (W_x, b) -> neuron
<-> Linear (W_y), a cycle, and from there into every framework with SpikingJelly's own spikes,
membranes (read after each of the neuron's single steps) and gradients."""
from __future__ import annotations

import nir
import pytest
import torch

from snn_interop import conversion as conv
from snn_interop.nir.graph import to_nir
from tests.conftest import plugin_or_skip

FRAMEWORKS = ["norse", "snntorch", "spikingjelly", "sinabs", "rockpool", "nir"]


def recurrent_net(recurrence: float = 1.0) -> torch.nn.Module:
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import layer, neuron

    torch.manual_seed(0)
    net = torch.nn.Sequential(layer.Linear(4, 8), layer.LinearRecurrentContainer(neuron.LIFNode(tau=4.0), 8, 8))
    with torch.no_grad():
        net[0].weight.mul_(6.0)
        net[1].rc.weight.mul_(4.0)
        net[1].rc.weight[:, 8:].mul_(recurrence)
    return net


def _inputs() -> torch.Tensor:
    return (torch.rand(50, 2, 4, generator=torch.Generator().manual_seed(0)) < 0.3).float()


def test_the_container_goes_to_nir_as_input_weights_a_neuron_and_a_cycle():
    plugin = plugin_or_skip("spikingjelly")
    net = recurrent_net()
    graph = to_nir(net, plugin, torch.zeros(1, 4))
    rc = net[1].rc
    assert isinstance(graph.nodes["1"], nir.LIF)
    assert torch.equal(torch.as_tensor(graph.nodes["1_in"].weight), rc.weight[:, :8].detach())
    assert torch.equal(torch.as_tensor(graph.nodes["1_in"].bias), rc.bias.detach())
    assert torch.equal(torch.as_tensor(graph.nodes["1_rec"].weight), rc.weight[:, 8:].detach())
    assert {("0", "1_in"), ("1_in", "1"), ("1", "1_rec"), ("1_rec", "1")} <= set(graph.edges)


def test_the_recurrence_changes_the_spikes():
    plugin = plugin_or_skip("spikingjelly")
    y, membranes = plugin.run_model(recurrent_net(), _inputs())
    y0, _ = plugin.run_model(recurrent_net(recurrence=0.0), _inputs())
    assert y.sum() > 100 and (y != y0).sum() > 30 and membranes["1"].shape == y.shape


@pytest.mark.parametrize("target", FRAMEWORKS)
def test_a_spikingjelly_recurrent_network_converts_exactly(target):
    plugin_or_skip("spikingjelly")
    if target != "nir":
        plugin_or_skip(target)
    _, report = conv.convert(recurrent_net(), "spikingjelly", target)
    assert report.exact, report.table()
    assert report.forward["spikes_source"] > 100 and report.forward["max_membrane_abs_err"] < 1e-5
