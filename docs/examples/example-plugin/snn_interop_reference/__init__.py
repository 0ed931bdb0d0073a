"""An out-of-tree snn-interop plugin, registered only through its own pyproject's entry point.

Its "framework" is snn-interop's canonical neuron module, so it expresses every canonical
neuron natively; it shows the whole plugin contract in a few lines (docs/plugins.md).
"""
from __future__ import annotations

import sys
from typing import Any

import torch

from snn_interop.graph import CanonicalNeuron, canonical_step
from snn_interop.nir import graph as nir_graph
from snn_interop.plugin_api import Capabilities, NotExpressible, run_by_steps
from snn_interop.spec.neurons import Neuron

NAME = "reference"
EXTRA = "reference"


def available() -> str | None:
    return None


def framework_version() -> str:
    return "0.1.0"


def capabilities() -> Capabilities:
    return Capabilities(NAME, framework_version(), neurons={"any": "CanonicalNeuron"},
                        conventions={"all": "every canonical convention"}, surrogates="every declared surrogate")


def spike_function(native: str, kwargs: dict, threshold: float = 1.0) -> Any:
    raise NotExpressible(NAME, f"native spike function {native!r}", "this plugin has no native names")


def build_neuron(neuron: Neuron) -> torch.nn.Module:
    return CanonicalNeuron(neuron)


def describe_neuron(layer: torch.nn.Module) -> Neuron | None:
    return layer.neuron if isinstance(layer, CanonicalNeuron) else None


step = canonical_step


def run(module: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return run_by_steps(step, module, x)


def run_model(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    y, recorded = model(x, record=True)  # a from_nir GraphModule runs time-major input itself
    return y, {name: r["v"] for name, r in recorded.items() if "v" in r}


def from_nir(graph: Any, **options: Any) -> torch.nn.Module:
    return nir_graph.from_nir(graph, sys.modules[__name__], **options)


def to_nir(module: torch.nn.Module, sample_input: torch.Tensor) -> Any:
    return nir_graph.to_nir(module, sys.modules[__name__], sample_input)
