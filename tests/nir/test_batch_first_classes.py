"""Models written as a class in frameworks whose layers take a whole sequence batch first: run in
the framework's own layout (the plugin's ``layout``: sinabs [B, T, ...], or [B*T, ...] for its
Squeeze layers; rockpool [B, T, ...]), and sinabs's ``Merge`` read as a sum (the plugin's
``is_sum``), as a DynapcnnNetwork residual block is written."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from snn_interop import compare, inputs
from snn_interop import conversion as conv
from tests.conftest import plugin_or_skip, seeded_weights

pytest.importorskip("sinabs")


def mlp() -> nn.Module:
    """fc1 -> LIF -> fc2 -> LIF, sinabs's batch-first LIF layers."""
    import sinabs.layers as sl

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.lif1 = nn.Linear(8, 16, bias=False), sl.LIF(tau_mem=8.0)
            self.fc2, self.lif2 = nn.Linear(16, 4, bias=False), sl.LIF(tau_mem=8.0)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, T, 8]
            return self.lif2(self.fc2(self.lif1(self.fc1(x))))
    return seeded_weights(MLP(), linear=16.0)  # sinabs scales a LIF input by 1 - exp(-1/tau)


def residual(merge: str = "skip first") -> nn.Module:
    """conv1 -> IAFSqueeze -> conv2 -> IAFSqueeze; conv3 reads both layers' spikes summed (sinabs
    ``Merge`` with the skip first or last, or ``+``) -> IAFSqueeze -> Flatten -> Linear ->
    IAFSqueeze: input [B*T, 2, 4, 4]."""
    import sinabs.layers as sl

    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.iaf1 = nn.Conv2d(2, 4, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=1)
            self.conv2, self.iaf2 = nn.Conv2d(4, 4, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=1)
            self.merge = sl.Merge()
            self.conv3, self.iaf3 = nn.Conv2d(4, 4, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=1)
            self.flat = nn.Flatten()
            self.fc, self.iaf4 = nn.Linear(64, 5, bias=False), sl.IAFSqueeze(batch_size=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            a = self.iaf1(self.conv1(x))
            b = self.iaf2(self.conv2(a))
            summed = self.merge(a, b) if merge == "skip first" else self.merge(b, a) if merge == "skip last" else a + b
            return self.iaf4(self.fc(self.flat(self.iaf3(self.conv3(summed)))))
    return seeded_weights(Residual())


@pytest.mark.parametrize("target", ["nir", "snntorch"])
def test_a_batch_first_class_runs_in_its_own_layout(target: str) -> None:
    """Before the plugin's layout, the forward got time-major input and read it as [B, T, ...]:
    into NIR, 127 of 240 output spikes differed (84 source spikes, not the 212 sinabs gives),
    input gradient relative error 0.969 (measured)."""
    plugin_or_skip("sinabs")
    if target != "nir":
        plugin_or_skip(target)
    _, _, report = conv.convert_full(mlp(), "sinabs", target, input_shape_=(8,), steps=30)
    assert report.exact and report.forward["spikes_source"] > 10, report.table()
    assert report.gradient["input_rel_err"] < 1e-5 and report.gradient["max_rel_err"] < 1e-5, report.table()


@pytest.mark.parametrize("target", ["nir", "snntorch", "spikingjelly", "norse", "rockpool"])
def test_a_squeeze_residual_with_merge_converts_exactly(target: str) -> None:
    plugin_or_skip("sinabs")
    if target != "nir":
        plugin_or_skip(target)
    graph, _, report = conv.convert_full(residual(), "sinabs", target, input_shape_=(2, 4, 4), steps=30)
    assert report.exact and report.forward["spikes_source"] > 20, report.table()
    assert {("iaf1", "conv3"), ("iaf2", "conv3"), ("iaf1", "conv2")} <= set(graph.edges), sorted(graph.edges)
    assert "merge" not in graph.nodes


def test_merge_and_plus_write_the_same_graph() -> None:
    """Merge(iaf2, iaf1) gets the previous layer's output first: once read as a chain that dropped
    the skip (and then refused the Merge layer); a layer of two inputs is not a chain."""
    plugin_or_skip("sinabs")
    added, _, _ = conv.convert_full(residual("plus"), "sinabs", "nir", input_shape_=(2, 4, 4), verify_result=False)
    for order in ("skip first", "skip last"):
        merged, _, report = conv.convert_full(residual(order), "sinabs", "nir", input_shape_=(2, 4, 4), steps=20)
        assert sorted(merged.edges) == sorted(added.edges) and set(merged.nodes) == set(added.nodes), order
        assert report.exact, report.table()


def test_compare_records_a_squeeze_class_time_major() -> None:
    sinabs = plugin_or_skip("sinabs")
    net = residual()
    x = inputs.bernoulli_input(20, (2, 4, 4), 2, torch.float32)
    native = compare.record(net, x, sinabs)
    assert set(native.preds["conv3"]) == {"iaf1", "iaf2"}
    assert native.nodes["iaf2"]["out"].shape == (20, 2, 4, 4, 4) and native.nodes["iaf4"]["out"].shape == (20, 2, 5)
    graph, converted, _ = conv.convert_full(net, "sinabs", "nir", input_shape_=(2, 4, 4), verify_result=False)
    assert compare.localise(native, compare.record(converted, x, None, graph=graph)).status == "match"
    with torch.no_grad():
        converted.layer("conv2").weight[0] += 0.5
    result = compare.localise(native, compare.record(converted, x, None, graph=graph))
    assert result.status != "match" and result.first.node in ("conv2", "iaf2"), result.text()


def test_a_rockpool_class_runs_batch_first_from_rest() -> None:
    """A torch class of rockpool LIFTorch layers (they take [B, T, N] and keep their state between
    calls): exact into NIR, and again on a second conversion (the plugin's ``reset``)."""
    rockpool = plugin_or_skip("rockpool")
    with rockpool.importing():
        from rockpool.nn.modules import LIFTorch

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.lif1 = nn.Linear(8, 16, bias=False), LIFTorch(16, tau_mem=0.02, tau_syn=0.01, dt=1e-3)
            self.fc2, self.lif2 = nn.Linear(16, 4, bias=False), LIFTorch(4, tau_mem=0.02, tau_syn=0.01, dt=1e-3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, T, 8]
            return self.lif2(self.fc2(self.lif1(self.fc1(x))[0]))[0]
    net = seeded_weights(Net(), linear=2.0)
    for _ in range(2):
        _, _, report = conv.convert_full(net, "rockpool", "nir", input_shape_=(8,), steps=30)
        assert report.exact and report.forward["spikes_source"] > 100, report.table()
