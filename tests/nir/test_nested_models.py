"""Models built from blocks: nested ``nn.Sequential`` containers (and norse's nested
``SequentialState``, spikingjelly's ``SeqToANNContainer``/``MultiStepContainer``) are opened,
every layer named by its path in the model ("2.0": layer 0 of block 2), so that NIR node names,
parameter names and recorded membranes agree, and the model converts exactly."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from snn_interop import conversion as conv, inputs
from snn_interop.plugin_api import chain
from tests.conftest import plugin_or_skip

FRAMEWORKS = ["snntorch", "spikingjelly", "sinabs", "norse", "rockpool"]
TARGETS = [*FRAMEWORKS, "nir"]


def blocks(framework: str) -> tuple[nn.Module, list[str]]:
    """The framework's example MLP (Linear, neuron, Linear, neuron) as two nested blocks as its
    users nest them, and the names of its two neuron layers."""
    plugin = plugin_or_skip(framework)
    m = list(plugin.example_mlp())
    if framework == "norse":
        import norse.torch as nt

        return nt.SequentialState(nt.SequentialState(*m[:2]), nt.SequentialState(*m[2:])), ["0.1", "1.1"]
    if framework == "spikingjelly":
        from spikingjelly.activation_based import functional, layer

        net = nn.Sequential(layer.SeqToANNContainer(m[0]), m[1], nn.Sequential(layer.MultiStepContainer(m[2]), m[3]))
        functional.set_step_mode(net, "m")
        return net, ["1", "2.1"]
    return nn.Sequential(nn.Sequential(*m[:2]), nn.Sequential(*m[2:])), ["0.1", "1.1"]


@pytest.mark.parametrize("source", FRAMEWORKS)
def test_nested_blocks_are_read_by_their_paths(source):
    net, neurons = blocks(source)
    plugin = plugin_or_skip(source)
    x = (torch.rand(30, 2, 12, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    y, membranes = plugin.run_model(net, x)
    assert sorted(membranes) == neurons and y.sum() > 0
    graph = plugin.to_nir(net, x[0])
    assert set(neurons) <= set(graph.nodes)
    params = {k.rsplit(".", 1)[0] for k, _ in net.named_parameters()}
    assert params <= set(graph.nodes), "a parameter's module path is its node's name"


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("source", FRAMEWORKS)
def test_nested_blocks_convert_exactly(source, target):
    if target != "nir":
        plugin_or_skip(target)
    net, _ = blocks(source)
    _, report = conv.convert(net, source, target, steps=40)
    assert report.exact, report.table()
    assert report.forward["spikes_source"] >= 20, report.forward["spikes_source"]
    compared = set(report.gradient["weight_rel_err"])
    linears = [name for name, m in chain(net, getattr(plugin_or_skip(source), "describe_layer", None)) if isinstance(m, nn.Linear)]
    assert len(linears) == 2 and compared == {f"{name}.{p}" for name in linears for p in ("weight", "bias")}, compared


def test_a_norse_cell_in_a_plain_sequential_block_is_refused_with_the_fix():
    nt = pytest.importorskip("norse.torch")
    plugin = plugin_or_skip("norse")
    m = list(plugin.example_mlp())
    net = nt.SequentialState(*m[:2], nn.Sequential(*m[2:]))  # norse calls the block, and its cell, without state
    with pytest.raises(ValueError, match="norse cell 2.1 keeps no state across steps.*SequentialState"):
        plugin.run_model(net, torch.zeros(3, 1, 12))


def test_chain_opens_only_what_it_is_told_is_a_container():
    inner = nn.Sequential(nn.Linear(2, 2), nn.Flatten())

    class Block(nn.Sequential):  # a subclass may compute something else: not opened unless a plugin says so
        pass

    net = nn.Sequential(inner, Block(nn.Linear(2, 2)), nn.Linear(2, 1))
    assert [name for name, _ in chain(net)] == ["0.0", "0.1", "1", "2"]
    assert [name for name, _ in chain(net, lambda m: nn.Sequential(*m) if isinstance(m, Block) else None)] == ["0.0", "0.1", "1.0", "2"]


def test_membranes_are_judged_relative_to_their_size():
    """rockpool's example reaches membranes of hundreds; float32 rounding there is several times
    the absolute 1e-4, and the verdict must not call that a difference."""
    plugin_or_skip("rockpool")
    net, _ = blocks("rockpool")
    _, report = conv.convert(net, "rockpool", "nir", steps=50)
    assert report.forward["max_membrane_abs_err"] > 1e-4, "the case this test is about"
    assert report.exact and report.forward["membranes_over_tolerance"] == 0, report.table()


@pytest.mark.parametrize("source", FRAMEWORKS)
def test_compare_records_nested_blocks_by_path(source):
    from snn_interop import compare

    plugin, snntorch = plugin_or_skip(source), plugin_or_skip("snntorch")
    net, neurons = blocks(source)
    x = inputs.bernoulli_input(30, (12,), 0, torch.float32)
    native = compare.record(net, x, plugin)
    assert set(native.neurons) == set(neurons) and all("v" in native.nodes[n] for n in neurons)
    graph = plugin.to_nir(net, x[0])
    converted = compare.record(snntorch.from_nir(graph), x, snntorch, graph=graph)
    assert all("v" in converted.nodes[n] for n in neurons), "both sides name the neurons alike, so they are compared"
    result = compare.localise(native, converted)
    assert result.status == "match", result.text()
