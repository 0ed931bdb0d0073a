"""The current-based leaky integrator (norse's ``LICell``, the readout of most norse models;
snnTorch's ``Synaptic`` that never fires): NIR 1.0.4 has no CubaLI node, so it travels as two LI
nodes in a row, the current's and the membrane's, and converts exactly into every framework.
Before this, a norse network ending in ``LICell`` could not be exported at all, and a network
whose output is a membrane was judged by exact equality of its floats."""
from __future__ import annotations

import nir
import pytest
import torch

from snn_interop import conversion as conv
from snn_interop.nir.graph import to_nir
from snn_interop.nir.neurons import split_current
from snn_interop.spec import oracle
from snn_interop.spec.neurons import Decay, InputScale, Neuron, SynapseOrder
from snn_interop.spec.schema import SpecError
from tests.conftest import plugin_or_skip

FRAMEWORKS = ["norse", "snntorch", "spikingjelly", "sinabs", "rockpool", "nir"]
CUBA_LI = Neuron.li(Decay(0.875), input_scale=InputScale.ONE_MINUS_BETA, v_leak=0.25, v_init=0.25, synaptic_current=True,
                    syn_decay=Decay(0.625), syn_input_scale=InputScale.BETA, w_in=1.5)


def test_two_leaky_integrators_in_a_row_are_the_current_based_one_bit_for_bit():
    x = torch.rand(64, 2, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3 - 1
    current, membrane = split_current(CUBA_LI)
    whole = oracle.simulate(CUBA_LI, x)
    i = oracle.simulate(current, x).v
    assert torch.equal(i, whole.i)
    assert torch.equal(oracle.simulate(membrane, i).v, whole.v)


def test_a_membrane_that_sees_the_current_a_step_late_has_no_nir_form():
    with pytest.raises(SpecError, match="a step late"):
        split_current(CUBA_LI.with_(synapse_order=SynapseOrder.MEMBRANE_FIRST))
    assert split_current(CUBA_LI.with_(synaptic_current=False, syn_decay=Decay(1.0))) is None


def readout_net(time_wrapped: bool | str) -> torch.nn.Module:
    nt = pytest.importorskip("norse.torch")
    torch.manual_seed(0)
    li = nt.LIParameters(tau_syn_inv=torch.tensor(300.0), tau_mem_inv=torch.tensor(50.0), v_leak=torch.tensor(0.1))
    if time_wrapped == "linear":  # LILinearCell weighs its input itself (norse's readout in its MNIST example)
        net = nt.SequentialState(torch.nn.Linear(4, 8), nt.LIFCell(), nt.LILinearCell(8, 3, p=li))
        with torch.no_grad():
            net[0].weight.mul_(30.0)
            net[2].input_weights.mul_(3.0)
        return net
    if time_wrapped:
        net = nt.SequentialState(torch.nn.Linear(4, 8), nt.LIF(), torch.nn.Linear(8, 3), nt.LI(li))
    else:
        net = nt.SequentialState(torch.nn.Linear(4, 8), nt.LIFCell(), torch.nn.Linear(8, 3), nt.LICell(li))
    with torch.no_grad():
        net[0].weight.mul_(30.0)
        net[2].weight.mul_(3.0)
    return net


def test_a_norse_readout_goes_to_nir_as_two_li_nodes():
    plugin = plugin_or_skip("norse")
    graph = to_nir(readout_net(False), plugin, torch.zeros(1, 4))
    assert isinstance(graph.nodes["3_syn"], nir.LI) and isinstance(graph.nodes["3"], nir.LI)
    assert ("2", "3_syn") in graph.edges and ("3_syn", "3") in graph.edges and ("2", "3") not in graph.edges


@pytest.mark.parametrize("target", FRAMEWORKS)
@pytest.mark.parametrize("time_wrapped", [False, True, "linear"], ids=["cells", "time-wrapped", "LILinearCell"])
def test_a_norse_network_with_a_leaky_integrator_readout_converts_exactly(target, time_wrapped):
    plugin_or_skip("norse")
    if target != "nir":
        plugin_or_skip(target)
    _, report = conv.convert(readout_net(time_wrapped), "norse", target)
    f = report.forward
    assert f["output_kind"] == "values" and f["spikes_source"] is None
    assert report.exact and f["spike_mismatches"] == 0 and 0 < f["max_output_abs_err"] < 1e-4
    assert report.gradient["max_rel_err"] < 1e-4


def test_a_readout_that_differs_beyond_the_tolerance_is_reported():
    """The same check with the target's membrane decay nudged by 1e-3: the outputs are real values,
    compared within the tolerance, and these are over it."""
    plugin_or_skip("norse")
    net = readout_net(False)
    target, _ = conv.convert(net, "norse", "norse")
    with torch.no_grad():
        target.neuron_layer("3").p.tau_mem_inv.add_(1e-3)
    x = (torch.rand(50, 2, 4, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    run, module = conv._runner(net, plugin_or_skip("norse"), torch.float32)
    f = conv.verify(run, module, target, x, 0)["forward"]
    assert f["output_kind"] == "values" and f["spike_mismatches"] > 0 and f["max_output_abs_err"] > 1e-4
