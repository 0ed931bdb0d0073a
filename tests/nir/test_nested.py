"""Nested NIR subgraphs are inlined (inner nodes named "sub.node") and run in every framework."""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from snn_interop.nir import graph as nir_graph
from snn_interop.spec.neurons import Model, ResetMode
from snn_interop_conformance.cases import neuron_cases
from tests.conftest import plugin_or_skip
from tests.nir import networks

LIF = next(n for n in neuron_cases() if n.model is Model.LIF and n.reset is ResetMode.TO_VALUE)


def nested(edge_style: str) -> nir.NIRGraph:
    """The MLP of tests.nir.networks as subgraph "net" of an outer graph, with a Scale after it."""
    ends = {"name": ("net", "net"), "io": ("net.input", "net.output")}[edge_style]
    return nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([12])}), "net": networks.mlp(LIF),
                               "scale": nir.Scale(scale=np.full(5, 2.0)), "output": nir.Output(output_type={"output": np.array([5])})},
                        edges=[("input", ends[0]), (ends[1], "scale"), ("scale", "output")])


@pytest.mark.parametrize("edge_style", ["name", "io"])
def test_flatten_inlines_with_prefixed_names(edge_style):
    flat = nir_graph.flatten(nested(edge_style))
    assert set(flat.nodes) == {"input", "net.fc1", "net.lif1", "net.fc2", "net.lif2", "scale", "output"}
    assert ("input", "net.fc1") in flat.edges and ("net.lif2", "scale") in flat.edges and len(flat.edges) == 6


@pytest.mark.parametrize("framework", ["snntorch", "spikingjelly", "sinabs", "norse"])
def test_a_nested_graph_runs_like_its_flat_twin_in_every_framework(tmp_path, framework):
    plugin = plugin_or_skip(framework)
    nir.write(tmp_path / "nested.nir", nested("name"))
    graph = nir.read(tmp_path / "nested.nir")
    x = (torch.rand(60, 2, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64) < 0.3).to(torch.float64)
    with torch.no_grad():
        flat = 2.0 * nir_graph.from_nir(networks.mlp(LIF), None)(x)
        got = plugin.from_nir(graph)(x)
    assert flat.sum() > 0 and torch.equal(got, flat)
