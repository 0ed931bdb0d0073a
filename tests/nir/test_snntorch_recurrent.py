"""snnTorch's recurrent neurons (RLeaky, RSynaptic) through NIR: the recurrence becomes a NIR
cycle (neuron -> Affine or Scale -> neuron), and every framework then reproduces snnTorch's
own run, spikes identical, including the recurrent bias snnTorch adds at the first step."""
from __future__ import annotations

import nir
import pytest
import torch

from snn_interop import conversion as conv
from snn_interop.plugin_api import NotExpressible
from tests.conftest import plugin_or_skip

FRAMEWORKS = ["snntorch", "spikingjelly", "sinabs", "norse", "rockpool"]


def recurrent_net(one_to_one: bool = False) -> torch.nn.Module:
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(1)
    rec = dict(all_to_all=False, V=0.5) if one_to_one else dict(linear_features=8)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), snn.RLeaky(beta=0.85, init_hidden=True, **rec),
                              torch.nn.Linear(8, 4), snn.RSynaptic(alpha=0.6, beta=0.8, linear_features=4, init_hidden=True))
    with torch.no_grad():
        net[0].weight.mul_(4.0)
        net[2].weight.mul_(3.0)
    return net


@pytest.mark.parametrize("target", FRAMEWORKS)
def test_rleaky_and_rsynaptic_reach_every_framework_exactly(target):
    plugin_or_skip("snntorch")
    plugin_or_skip(target)
    net = recurrent_net()
    assert net[1].recurrent.bias.abs().min() > 0, "a recurrent bias, which snnTorch adds from the first step on"
    _, report = conv.convert(net, "snntorch", target, steps=60, input_shape_=(5,))
    f = report.forward
    assert f["spikes_source"] >= 30, f"the output layer must spike: {f['spikes_source']} spikes"
    assert report.exact, report.table()
    assert f["spike_mismatches"] == 0


def test_the_recurrence_is_a_nir_cycle_and_survives_a_file(tmp_path):
    plugin_or_skip("snntorch")
    net = recurrent_net()
    graph, _, _ = conv.convert_full(net, "snntorch", conv.NIR, verify_result=False, input_shape_=(5,))
    assert isinstance(graph.nodes["1_rec"], nir.Affine) and ("1", "1_rec") in graph.edges and ("1_rec", "1") in graph.edges
    assert isinstance(graph.nodes["3_rec"], nir.Affine) and isinstance(graph.nodes["3"], nir.CubaLIF)
    nir.write(tmp_path / "rec.nir", graph)
    _, report = conv.convert(nir.read(tmp_path / "rec.nir"), "nir", "snntorch", steps=40, input_shape_=(5,))
    assert report.exact, report.table()


def test_one_to_one_recurrence_is_a_scale():
    plugin_or_skip("snntorch")
    net = recurrent_net(one_to_one=True)
    graph, _, _ = conv.convert_full(net, "snntorch", conv.NIR, verify_result=False, input_shape_=(5,))
    assert isinstance(graph.nodes["1_rec"], nir.Scale) and graph.nodes["1_rec"].scale.tolist() == [0.5] * 8
    plugin_or_skip("norse")
    _, report = conv.convert(net, "snntorch", "norse", steps=60, input_shape_=(5,))
    assert report.exact and report.forward["spikes_source"] > 0, report.table()


def test_reset_to_zero_of_a_recurrent_neuron_is_refused_with_the_reason():
    snn = pytest.importorskip("snntorch")
    plugin = plugin_or_skip("snntorch")
    with pytest.raises(NotExpressible, match="reset_mechanism='zero'.*this step's input"):
        plugin.describe_neuron(snn.RLeaky(beta=0.9, linear_features=3, reset_mechanism="zero", init_hidden=True))
