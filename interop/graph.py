"""A NIR graph as a runnable torch module: layers and framework neurons wired by NIR edges.

:class:`GraphModule` runs time-major input ``[T, B, ...]`` one step at a time in topological
order; an edge that closes a cycle (recurrence) delivers its source's output of the previous
step (nothing at the first step). Neuron nodes are a framework's own layer stepped by its
plugin, or :class:`CanonicalNeuron`, the oracle's update as a thin torch module, used where a
framework cannot express a neuron natively (exact by construction).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from snn_interop.plugin_api import Step
from snn_interop.spec import oracle
from snn_interop.spec.neurons import Neuron


class CanonicalNeuron(nn.Module):
    """The canonical update (:func:`snn_interop.spec.oracle.step`) in the input's dtype."""

    def __init__(self, neuron: Neuron) -> None:
        super().__init__()
        self.neuron = neuron

    def step(self, x_t: torch.Tensor, state: oracle.State | None) -> tuple[torch.Tensor, torch.Tensor, oracle.State]:
        state = oracle.initial_state(self.neuron, x_t) if state is None else state
        state, _, _ = oracle.step(self.neuron, x_t, state)
        return state.s, state.v, state


#: Where a neuron layer keeps its synaptic current after a step, in canonical units, tried in
#: order (current-based neurons only): the canonical State's ``i``, a ``(syn, mem)`` state tuple
#: (snnTorch Synaptic), the layer's own memory ``c`` (SpikingJelly CUBALIFNode) or ``i_syn``
#: (sinabs). norse keeps its current in its own units (scaled by dt / tau_mem): not recorded.
CURRENT_GETTERS = (
    lambda module, state: state.i if isinstance(state, oracle.State) else None,
    lambda module, state: state[0] if type(state) is tuple and len(state) == 2 and torch.is_tensor(state[0]) else None,
    lambda module, state: getattr(module, "c", None),
    lambda module, state: getattr(module, "i_syn", None),
)


def synaptic_current(module: nn.Module, state: Any) -> torch.Tensor | None:
    """The synaptic current a current-based neuron layer holds after a step, or None."""
    for getter in CURRENT_GETTERS:
        found = getter(module, state)
        if torch.is_tensor(found):
            return found
    return None


def canonical_step(module: nn.Module, x_t: torch.Tensor, state: Any) -> tuple[torch.Tensor, torch.Tensor, Any]:
    return module.step(x_t, state)


@dataclass
class NeuronInfo:
    """How a neuron node was built: the canonical neuron its layer implements (the approximated
    one when ``approximation`` names changes) and whether the layer is the framework's own."""

    neuron: Neuron
    framework: str
    native: bool
    why_not_native: str = ""
    approximation: tuple[str, ...] = ()  #: conventions the native layer does differently (allowed approximation)


def topological_order(nodes: list[str], edges: list[tuple[str, str]], start: str) -> tuple[list[str], set[tuple[str, str]]]:
    """Topological order from ``start`` and the edges that close cycles (recurrent edges)."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        succ[a].append(b)
    back: set[tuple[str, str]] = set()
    done: set[str] = set()
    active: set[str] = set()
    post: list[str] = []

    def visit(n: str) -> None:
        active.add(n)
        for m in sorted(succ[n]):
            if m in active:
                back.add((n, m))
            elif m not in done:
                visit(m)
        active.discard(n)
        done.add(n)
        post.append(n)

    visit(start)
    for n in sorted(nodes):  # nodes not reachable from the input (e.g. bias-only branches)
        if n not in done:
            visit(n)
    return post[::-1], back


def _key(name: str) -> str:
    """A ModuleDict key for a NIR node name (which may contain '.', as in 'lif1.w_rec')."""
    return name.replace(".", "\u00b7")


class GraphModule(nn.Module):
    """Runs a NIR-shaped graph of torch layers and neurons over time-major input.

    ``layer(name)`` and ``neuron_layer(name)`` give the modules by NIR node name.
    """

    def __init__(self, layers: dict[str, nn.Module], neurons: dict[str, tuple[nn.Module, Step, NeuronInfo]],
                 edges: list[tuple[str, str]], input_name: str, output_name: str) -> None:
        super().__init__()
        self.layer_names = list(layers)
        self.layers = nn.ModuleDict({_key(k): v for k, v in layers.items()})
        self.neuron_layers = nn.ModuleDict({_key(k): v[0] for k, v in neurons.items()})
        self.steps = {k: v[1] for k, v in neurons.items()}
        self.neuron_info = {k: v[2] for k, v in neurons.items()}
        self.edges = list(edges)
        self.input_name, self.output_name = input_name, output_name
        names = [input_name, output_name, *layers, *neurons]
        self.order, self.recurrent = topological_order(names, self.edges, input_name)
        self.preds = {n: [a for a, b in self.edges if b == n] for n in names}
        # neuron -> the layers that carry its own spikes back to it (n -> a -> n): before the first
        # step those spikes are zero and such a layer outputs f(0), an Affine its bias (snnTorch RLeaky: V(S[-1] = 0))
        self._self_loops = {n: [a for a in self.preds[n] if (a, n) in self.recurrent and a in layers and self.preds[a] == [n]]
                            for n in neurons}

    def layer(self, name: str) -> nn.Module:
        return self.layers[_key(name)]

    def neuron_layer(self, name: str) -> nn.Module:
        return self.neuron_layers[_key(name)]

    def forward(self, x: torch.Tensor, record: bool = False) -> torch.Tensor | tuple[torch.Tensor, dict[str, dict[str, torch.Tensor]]]:
        """Output sequence ``[T, B, ...]``; with ``record``, also every node's outputs (and
        neurons' membranes, and current-based neurons' synaptic current ``i``) per step, keyed
        by NIR node name. Recording only reads: the run is the same with and without it."""
        states: dict[str, Any] = {}
        previous: dict[str, torch.Tensor] = {}
        outputs: list[torch.Tensor] = []
        recorded: dict[str, dict[str, list[torch.Tensor]]] = {}
        for x_t in x:
            now: dict[str, torch.Tensor] = {}
            for name in self.order:
                if name == self.input_name:
                    now[name] = x_t
                    continue
                parts = [previous[a] if (a, name) in self.recurrent else now[a] for a in self.preds[name]
                         if not ((a, name) in self.recurrent and a not in previous)]
                if not parts:
                    raise ValueError(f"node {name!r} has no input at this step")
                inp = parts[0] if len(parts) == 1 else torch.stack(parts).sum(0)
                if not previous:  # step 0: a layer feeding a neuron's own spikes back gives its response to none, f(0)
                    for a in self._self_loops.get(name, ()):
                        inp = inp + self.layer(a)(torch.zeros_like(inp))
                if name in self.steps:
                    spikes, v, states[name] = self.steps[name](self.neuron_layers[_key(name)], inp, states.get(name))
                    now[name] = v if not self.neuron_info[name].neuron.spikes else spikes
                    if record:
                        recorded.setdefault(name, {}).setdefault("v", []).append(v)
                        current = synaptic_current(self.neuron_layers[_key(name)], states[name]) \
                            if self.neuron_info[name].neuron.has_synapse else None
                        if current is not None:
                            recorded[name].setdefault("i", []).append(current.clone())
                elif name == self.output_name:
                    now[name] = inp
                else:
                    now[name] = self.layer(name)(inp)
                if record:
                    recorded.setdefault(name, {}).setdefault("out", []).append(now[name])
            outputs.append(now[self.output_name])
            previous = now
        y = torch.stack(outputs)
        if not record:
            return y
        return y, {n: {k: torch.stack(v) for k, v in d.items()} for n, d in recorded.items()}
