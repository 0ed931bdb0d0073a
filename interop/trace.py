"""A model written as a class, read as the chain of layers its forward calls.

Users of snnTorch and SpikingJelly often write ``class Net(nn.Module)`` whose ``forward`` loops
over time calling ``self.fc1``, ``self.lif1``, ``self.fc2``, ... in turn. :func:`as_sequential`
runs such a model once on time-major spikes with a hook on every layer (a neuron the plugin
describes counts as one layer) and accepts it only when what it saw is a chain:

- the forward takes time-major ``x`` ``[T, B, ...]``: the first layer sees ``x[t]`` at step
  t (layers called once per step), or ``x`` itself (layers called once on the whole sequence,
  spikingjelly's multi-step mode); or the layout the plugin's optional ``layout`` gives
  (:func:`own_layout`: sinabs's batch-first ``[B, T, ...]``, its Squeeze layers' ``[B*T, ...]``),
  what the forward returns and its layers give put back time-major;
- every step calls the same layers in the same order, each on the previous one's output;
- the forward returns the last layer's outputs, time-major (or a tuple that starts with them).

The chain is then an ``nn.Sequential`` of the model's own modules, named as in the model, so
its NIR nodes and parameter names match. Anything else (a skip connection, a static input
repeated each step, a layer called twice) is not a chain, and is said so.

A model that is not a chain may still be a graph: :func:`read_graph` reads its forward with
``torch.fx`` (layers and neurons as leaves), or, for a forward that loops over time, step by
step (:mod:`snn_interop.dataflow`), for a forward that calls each layer once (per step) and
computes nothing between them but sums of their outputs (a residual block's skip connection,
SpikingJelly's SEW "ADD") and flattens; :func:`snn_interop.nir.graph.to_nir` writes that graph.
"""
from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
import torch.fx
from torch import nn

from snn_interop.dataflow import NotSteps, step_graph
from snn_interop.errors import BadSource


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, (tuple, list)) and value else value


def layers_of(model: nn.Module, plugin: ModuleType, prefix: str = "") -> dict[str, nn.Module]:
    """The model's layers by qualified name: modules without children, and neurons the plugin
    describes (whatever they hold inside)."""
    found: dict[str, nn.Module] = {}
    for name, child in model.named_children():
        qualified = f"{prefix}{name}"
        if plugin.describe_neuron(child) is not None or not list(child.children()):
            found[qualified] = child
        else:
            found |= layers_of(child, plugin, f"{qualified}.")
    return found


class NotAGraph(ValueError):
    """A class model whose forward torch.fx cannot read as a graph of its layers (says why)."""


def neither(not_a_chain: BadSource | None, why: NotAGraph) -> BadSource:
    """The error for a class model that is neither a chain of layers nor a graph of them."""
    return BadSource(f"{not_a_chain}; nor a graph of layers: {why}" if not_a_chain is not None else str(why))


class _LayerTracer(torch.fx.Tracer):
    """torch.fx's tracer with a model's layers as leaves: modules without children, the plugin's
    neurons, and the layers its ``describe_layer`` reads as another (framework containers)."""

    def __init__(self, plugin: ModuleType) -> None:
        super().__init__()
        self.plugin = plugin

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        describe_layer = getattr(self.plugin, "describe_layer", lambda _: None)
        return (not list(m.children()) or self.plugin.describe_neuron(m) is not None or describe_layer(m) is not None
                or super().is_leaf_module(m, module_qualified_name))


def forward_graph(model: nn.Module, plugin: ModuleType) -> torch.fx.Graph:
    """The graph of ``model``'s forward as torch.fx traces it, its layers as leaves (``call_module``
    nodes); arguments after the first are held at their defaults. NotAGraph when the forward
    cannot be traced (control flow on its input, a required second argument)."""
    params = list(inspect.signature(model.forward).parameters.values())
    required = [p.name for p in params[1:] if p.default is inspect.Parameter.empty
                and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
    if not params or required:
        raise NotAGraph(f"{type(model).__name__}'s forward takes {', '.join(p.name for p in params) or 'no argument'}: "
                        "a graph of layers takes one input")
    concrete = {p.name: p.default for p in params[1:] if p.default is not inspect.Parameter.empty}
    try:
        return _LayerTracer(plugin).trace(model, concrete_args=concrete or None)
    except Exception as exc:  # noqa: BLE001 - a user's forward may raise anything while traced; say what it was
        raise NotAGraph(f"torch.fx cannot trace {type(model).__name__}'s forward ({type(exc).__name__}: {exc})") from exc


class ForwardGraph(nn.Module):
    """A class model with the graph of its forward (:func:`forward_graph`), traced in the model's
    own step mode, and the shape of each of the graph's tensor values when it ran on time-major
    input put in the model's own layout (:func:`own_layout`; ``shapes`` by fx node name; empty for
    a graph read step by step, whose values are one step's): what :func:`snn_interop.nir.graph.to_nir` writes for a forward that is not a chain.
    Runs as the model."""

    def __init__(self, model: nn.Module, graph: torch.fx.Graph, shapes: dict[str, tuple[int, ...]]) -> None:
        super().__init__()
        self.model, self.fx_graph, self.shapes = model, graph, shapes

    def forward(self, x: torch.Tensor) -> Any:
        return self.model(x)


def read_graph(model: nn.Module, plugin: ModuleType, x: torch.Tensor) -> ForwardGraph:
    """``model``'s forward as a graph of its layers (:func:`forward_graph`), run once on time-major
    ``x`` to learn each value's shape (whether it holds time, for ``torch.flatten``'s dims; what a
    ``view`` or ``reshape`` does);
    NotAGraph when it cannot be traced or the traced graph does not run. A forward that loops
    over time, which torch.fx cannot trace, is run step by step instead (:mod:`snn_interop.dataflow`)."""
    try:
        graph = forward_graph(model, plugin)
    except NotAGraph as not_traced:
        reset_states(model, plugin)
        try:
            return ForwardGraph(model, step_graph(model, layers_of(model, plugin), x), {})
        except NotSteps as exc:  # a forward that loops over time is told what its steps do, any other why fx failed
            raise NotAGraph(str(exc) if exc.looped else str(not_traced)) from exc
        finally:
            reset_states(model, plugin)
    shapes: dict[str, tuple[int, ...]] = {}

    class Shapes(torch.fx.Interpreter):
        def run_node(self, n: torch.fx.Node) -> Any:
            out = super().run_node(n)
            if torch.is_tensor(_first(out)):
                shapes[n.name] = tuple(_first(out).shape)
            return out

    reset_states(model, plugin)
    try:
        with torch.no_grad(), own_layout(model, plugin, x) as (native, _):
            Shapes(torch.fx.GraphModule(model, graph)).run(native)
    except Exception as exc:  # noqa: BLE001 - the user's layers may raise anything; say what it was
        raise NotAGraph(f"the graph torch.fx traced of {type(model).__name__}'s forward does not run on time-major input "
                        f"{tuple(x.shape)} ({type(exc).__name__}: {exc})") from exc
    finally:
        reset_states(model, plugin)
    return ForwardGraph(model, graph, shapes)


def reset_states(model: nn.Module, plugin: ModuleType) -> None:
    """Clear the neuron state a framework keeps between calls (the plugin's optional ``reset``),
    before a class model runs its own forward."""
    getattr(plugin, "reset", lambda _: None)(model)


Layout = Callable[[torch.Tensor], torch.Tensor]


def _unchanged(v: torch.Tensor) -> torch.Tensor:
    return v


@contextmanager
def own_layout(model: nn.Module, plugin: ModuleType, x: torch.Tensor) -> Iterator[tuple[torch.Tensor, Layout]]:
    """Time-major ``x`` ``[T, B, ...]`` in the layout ``model``'s own forward takes a whole sequence
    in, and what puts a value of that layout back time-major: the plugin's optional
    ``layout(model, steps, batch)`` context (sinabs: batch first, or batch and time folded for its
    Squeeze layers, whose batch size it sets meanwhile); ``x`` itself where the plugin has none."""
    layout = getattr(plugin, "layout", None)
    if layout is None:
        yield x, _unchanged
        return
    with layout(model, *x.shape[:2]) as (into, back):
        yield into(x), back


def back_of(model: nn.Module, plugin: ModuleType, x: torch.Tensor) -> Layout:
    """What puts a whole-sequence value of ``model``'s own layout back time-major (:func:`own_layout`)."""
    with own_layout(model, plugin, x) as (_, back):
        return back


def output_of(model: nn.Module, plugin: ModuleType, x: torch.Tensor) -> torch.Tensor:
    """The model's forward on time-major ``x`` (in its own layout, :func:`own_layout`), its first
    output when it returns several, time-major."""
    with own_layout(model, plugin, x) as (native, back):
        return back(_first(model(native)))


@dataclass
class Traced:
    """What one run of a class model showed: its chain, its output, each chain layer's output."""

    chain: nn.Sequential  #: the model's own modules, named as in the model ("." as "_")
    output: torch.Tensor  #: the forward's (first) output, time-major
    outputs: dict[str, torch.Tensor]  #: each chain layer's output by its name in ``chain``, time-major


def as_sequential(model: nn.Module, plugin: ModuleType, x: torch.Tensor) -> nn.Sequential:
    """The chain ``model``'s forward calls on ``x`` (time-major spikes), as an ``nn.Sequential``
    of its own modules; BadSource, saying why, when the forward is not such a chain."""
    return trace(model, plugin, x).chain


def trace(model: nn.Module, plugin: ModuleType, x: torch.Tensor) -> Traced:
    """:func:`as_sequential`, with the output of the run and of each layer of the chain."""
    layers = layers_of(model, plugin)
    name_of = {id(m): n for n, m in layers.items()}
    calls: list[tuple[str, Any, Any]] = []
    joined: list[str] = []  # layers called with another layer's output beside their first argument (sinabs's Merge)

    def hook(mod: nn.Module, inp: tuple[Any, ...], out: Any) -> None:
        produced = {id(o) for name, _, o in calls if name != name_of[id(mod)]}  # its own spikes fed back are its state
        if any(torch.is_tensor(a) and id(a) in produced for a in inp[1:]):
            joined.append(name_of[id(mod)])
        calls.append((name_of[id(mod)], _first(inp), _first(out)))
    hooks = [m.register_forward_hook(hook) for m in layers.values()]
    try:
        with torch.no_grad(), own_layout(model, plugin, x) as (native, back):
            y = _first(model(native))
    except Exception as exc:  # noqa: BLE001 - a user's forward may raise anything; say what the contract is
        raise BadSource(f"{type(model).__name__} is not an nn.Sequential, and its forward does not run on time-major input "
                        f"{tuple(x.shape)} [T, B, ...] ({type(exc).__name__}: {exc}); give --input-shape (and, for a forward "
                        "that loops over a fixed number of steps, --steps equal to it), or wrap its layers in nn.Sequential") from exc
    finally:
        for h in hooks:
            h.remove()
    order = [name for name, _, _ in calls]
    if not order:
        raise BadSource(f"{type(model).__name__}'s forward calls none of its layers")
    if joined:
        raise BadSource(f"{type(model).__name__}: layer {joined[0]} takes the outputs of two layers (a merge): not a chain of layers")
    steps = x.shape[0]
    per_step = order[: len(order) // steps] if len(order) % steps == 0 else order
    whole_sequence = torch.is_tensor(calls[0][1]) and calls[0][1].shape == native.shape  # the first layer sees all of x at once
    if not whole_sequence and order != per_step * steps:
        raise BadSource(f"{type(model).__name__}'s forward does not call the same layers in the same order once per step "
                        f"({len(order)} calls over {steps} steps: {', '.join(order[:12])}{', ...' if len(order) > 12 else ''}); "
                        "a forward that loops over a fixed number of steps needs --steps equal to it; else wrap its layers "
                        "in nn.Sequential")
    chain = order if whole_sequence else per_step
    if whole_sequence and len(set(chain)) != len(chain):
        raise BadSource(f"{type(model).__name__}'s forward gives its first layer {chain[0]} the whole input at once, yet calls "
                        f"its layers more than once ({', '.join(chain[:8])}, ...): a forward that feeds the same input every "
                        "step does not take time-major input [T, B, ...]; feed it x[t] at step t")
    if len(set(chain)) != len(chain):
        raise BadSource(f"{type(model).__name__}'s forward calls a layer twice in one step ({', '.join(chain)}): not a chain")
    width = len(chain)
    for i, (name, inp, out) in enumerate(calls):
        k, t = i % width, i // width
        expected = (native if whole_sequence else native[t]) if k == 0 else calls[i - 1][2]
        if not (torch.is_tensor(inp) and torch.is_tensor(expected) and inp.shape == expected.shape and torch.equal(inp, expected)):
            seen = "the model's input" + ("" if whole_sequence else f" at step {t}") if k == 0 else f"the output of {chain[k - 1]}"
            raise BadSource(f"{type(model).__name__}: layer {name} is not fed {seen} (a skip connection, a static input repeated "
                            "each step, or a computation between layers): not a chain of layers")
    last = [out for name, _, out in calls if name == chain[-1]]
    produced = last[0] if whole_sequence else torch.stack(last)
    if not (torch.is_tensor(y) and y.shape == produced.shape and torch.equal(y, produced)):
        raise BadSource(f"{type(model).__name__}'s forward does not return the time-major outputs of its last layer {chain[-1]} "
                        f"(it returned {tuple(y.shape) if torch.is_tensor(y) else type(y).__name__}); return them, stacked over time")
    outputs = {name.replace(".", "_"): (back(calls[k][2]) if whole_sequence else torch.stack([c[2] for c in calls[k::width]]))
               for k, name in enumerate(chain)}
    return Traced(nn.Sequential(OrderedDict((name.replace(".", "_"), layers[name]) for name in chain)), back(y), outputs)
