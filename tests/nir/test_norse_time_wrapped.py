"""Norse's time-wrapped neurons (``LIF``, ``IAF``: a cell run over the whole sequence) in a
SequentialState, as norse users write whole-sequence models: to NIR, and from there into every
framework, spikes identical to norse's own run."""
from __future__ import annotations

import pytest
import torch

from snn_interop import conversion as conv
from tests.conftest import plugin_or_skip

FRAMEWORKS = ["norse", "snntorch", "spikingjelly", "sinabs", "rockpool"]


def mlp() -> torch.nn.Module:
    nt = pytest.importorskip("norse.torch")
    torch.manual_seed(0)
    net = nt.SequentialState(torch.nn.Linear(5, 8), nt.LIF(nt.LIFParameters(tau_mem_inv=torch.tensor(100.0), tau_syn_inv=torch.tensor(200.0))),
                             torch.nn.Linear(8, 4), nt.LIF())
    with torch.no_grad():
        net[0].weight.mul_(30.0)
        net[2].weight.mul_(30.0)
    return net


def conv_net() -> torch.nn.Module:
    nt = pytest.importorskip("norse.torch")
    torch.manual_seed(2)
    net = nt.SequentialState(torch.nn.Conv2d(1, 3, 3), nt.IAF(), torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 4), nt.LIF())
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[3].weight.mul_(150.0)
    return net


@pytest.mark.parametrize("target", FRAMEWORKS)
@pytest.mark.parametrize("build, shape", [(mlp, (5,)), (conv_net, (1, 6, 6))], ids=["mlp", "conv"])
def test_time_wrapped_norse_models_convert_exactly(build, shape, target):
    plugin_or_skip("norse")
    plugin_or_skip(target)
    _, report = conv.convert(build(), "norse", target, steps=60, input_shape_=shape)
    assert report.forward["spikes_source"] >= 20, f"the output must spike: {report.forward['spikes_source']}"
    assert report.exact, report.table()


def test_a_sequence_mixing_time_wrapped_neurons_and_cells_is_refused():
    nt = pytest.importorskip("norse.torch")
    plugin = plugin_or_skip("norse")
    net = nt.SequentialState(torch.nn.Linear(3, 3), nt.LIF(), torch.nn.Linear(3, 2), nt.LIFCell())
    with pytest.raises(ValueError, match="mixes time-wrapped"):
        plugin.run_model(net, torch.zeros(4, 1, 3))


def lifted_net() -> torch.nn.Module:
    """norse's documented idiom for layers in a whole-sequence model: each wrapped in Lift."""
    nt = pytest.importorskip("norse.torch")
    torch.manual_seed(0)
    net = nt.SequentialState(nt.Lift(torch.nn.Conv2d(2, 4, 3, padding=1)), nt.LIF(), nt.Lift(torch.nn.AvgPool2d(2)),
                             nt.Lift(torch.nn.Flatten()), nt.Lift(torch.nn.Linear(4 * 4 * 4, 5)), nt.LIF())
    with torch.no_grad():
        net[0].lifted_module.weight.mul_(40.0)
        net[4].lifted_module.weight.mul_(40.0)
    return net


@pytest.mark.parametrize("target", [*FRAMEWORKS, "nir"])
def test_lifted_layers_convert_as_the_layers_they_lift(target):
    plugin_or_skip("norse")
    if target != "nir":
        plugin_or_skip(target)
    graph, _, report = conv.convert_full(lifted_net(), "norse", target, torch.zeros(1, 2, 8, 8), steps=30)
    assert report.exact and report.forward["spikes_source"] > 50, report.table()
    assert [type(graph.nodes[n]).__name__ for n in ("0", "2", "3", "4")] == ["Conv2d", "AvgPool2d", "Flatten", "Affine"]
