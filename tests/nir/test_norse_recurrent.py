"""Norse's recurrent cell, ``LIFRecurrentCell`` (input and recurrent weights inside the cell,
i += W_in x + W_rec z[t-1], the reset detached): to NIR as Linear -> CubaLIF <-> Linear (a cycle),
and from there into every framework with norse's own spikes, membranes and gradients."""
from __future__ import annotations

import nir
import pytest
import torch

from snn_interop import conversion as conv
from snn_interop.errors import Unsupported
from snn_interop.nir.graph import to_nir
from tests.conftest import plugin_or_skip

FRAMEWORKS = ["norse", "snntorch", "spikingjelly", "sinabs", "rockpool", "nir"]


def recurrent_net(recurrence: float = 5.0, time_wrapped: bool = False) -> torch.nn.Module:
    nt = pytest.importorskip("norse.torch")
    torch.manual_seed(0)
    if time_wrapped:
        net = nt.SequentialState(nt.LIFRecurrent(4, 8), torch.nn.Linear(8, 3), nt.LI())
    else:
        net = nt.SequentialState(nt.LIFRecurrentCell(4, 8), torch.nn.Linear(8, 3), nt.LICell())
    with torch.no_grad():
        net[0].input_weights.mul_(20.0)
        net[0].recurrent_weights.mul_(recurrence)
    return net


def test_the_cell_goes_to_nir_as_its_input_weights_a_neuron_and_a_recurrent_cycle():
    plugin = plugin_or_skip("norse")
    net = recurrent_net()
    graph = to_nir(net, plugin, torch.zeros(1, 4))
    assert isinstance(graph.nodes["0_in"], nir.Linear) and isinstance(graph.nodes["0"], nir.CubaLIF)
    assert isinstance(graph.nodes["0_rec"], nir.Linear)
    assert {("input", "0_in"), ("0_in", "0"), ("0", "0_rec"), ("0_rec", "0"), ("0", "1")} <= set(graph.edges)
    assert torch.equal(torch.as_tensor(graph.nodes["0_rec"].weight), net[0].recurrent_weights.detach())
    assert torch.equal(torch.as_tensor(graph.nodes["0_in"].weight), net[0].input_weights.detach())


def test_the_recurrence_changes_the_output():
    """Not vacuous: the cell spikes, and without its recurrent weights the readout differs."""
    plugin = plugin_or_skip("norse")
    import norse.torch as nt

    x = (torch.rand(50, 2, 4, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    spikes, _ = plugin.run_model(nt.SequentialState(recurrent_net()[0]), x)
    y, _ = plugin.run_model(recurrent_net(), x)
    y0, _ = plugin.run_model(recurrent_net(recurrence=0.0), x)
    assert spikes.sum() > 50 and (y - y0).abs().max() > 0.1


@pytest.mark.parametrize("target", FRAMEWORKS)
@pytest.mark.parametrize("time_wrapped", [False, True], ids=["cells", "time-wrapped"])
def test_a_norse_recurrent_network_converts_exactly(target, time_wrapped):
    plugin_or_skip("norse")
    if target != "nir":
        plugin_or_skip(target)
    _, report = conv.convert(recurrent_net(time_wrapped=time_wrapped), "norse", target)  # the input shape comes from the cell's input weights
    assert report.exact, report.table()
    assert report.forward["max_membrane_abs_err"] < 1e-4 and report.gradient["max_rel_err"] < 1e-5


def test_the_recurrent_lsnn_is_refused_with_the_reason():
    plugin_or_skip("norse")
    import norse.torch as nt

    with pytest.raises(Unsupported, match="detached spike"):
        conv.convert(nt.SequentialState(nt.LSNNRecurrentCell(4, 8), torch.nn.Linear(8, 3), nt.LICell()), "norse", "snntorch")
    with pytest.raises(Unsupported, match="detached spike"):
        conv.convert(nt.SequentialState(nt.LSNNRecurrent(4, 8), torch.nn.Linear(8, 3), nt.LI()), "norse", "snntorch")
