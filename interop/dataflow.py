"""A forward that loops over time, read as the graph of layers every step runs.

torch.fx cannot trace ``for t in range(x.shape[0])`` (snnTorch's tutorials loop so). This
module runs such a forward once instead, on real time-major input, and follows where each
value comes from: a forward hook names every layer's output (call k of a layer is step k), and
a ``TorchFunctionMode`` follows what the forward computes between layers (not inside them):

- ``x[t]`` (or iterating over ``x``) is the input at step t;
- ``a + b`` (``+=`` too) of followed values is their sum, a skip connection;
- ``torch.flatten`` / ``.flatten`` of a followed value is that flatten, and so is a ``view`` or
  ``reshape`` that flattens it after the batch dimension (``x.view(batch, -1)``);
- anything else on a followed value is remembered by name, and refused if a layer reads it.

Each step's graph (which layer reads which sum of the step's values) must be step 0's; the
forward must return its last layer's outputs stacked over time (or a tuple starting with them).
Step 0's graph is then written as a ``torch.fx.Graph`` of the model's layers, the same form
:func:`snn_interop.trace.read_graph` gives for a forward torch.fx traces itself.
"""
from __future__ import annotations

import math
import operator
from typing import Any

import torch
import torch.fx
from torch import nn
from torch.overrides import TorchFunctionMode

#: where a value comes from: ("x", t), ("layer", name, t), ("sum", a, b), ("flatten", a, start, end),
#: ("stack", [a, ...]) or ("other", what, [a, ...])
Source = tuple

ADD = {"add", "__add__", "__radd__", "add_", "__iadd__"}


class Flow(TorchFunctionMode):
    """Follows values between the layers of one run (see the module's docstring)."""

    def __init__(self, x: torch.Tensor) -> None:
        super().__init__()
        self.x = x
        self.source: dict[int, Source] = {}
        self.kept: list[Any] = []  # every followed tensor stays alive, so that no id is reused
        self.depth = 0  # > 0 inside a layer: what a layer computes is its own business

    def follow(self, value: Any, source: Source) -> None:
        if torch.is_tensor(value):
            self.source[id(value)] = source
            self.kept.append(value)

    def of(self, value: Any) -> Source | None:
        return self.source.get(id(value)) if torch.is_tensor(value) else None

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.depth:
            return out
        name = getattr(func, "__name__", str(func))
        if name == "unbind" and args and args[0] is self.x and not kwargs and len(args) == 1:
            for t, step in enumerate(out):
                self.follow(step, ("x", t))
        elif name == "__getitem__" and args[0] is self.x and isinstance(args[1], int):
            self.follow(out, ("x", args[1] % self.x.shape[0]))
        elif name in ADD and len(args) == 2 and self.of(args[0]) is not None and self.of(args[1]) is not None:
            self.follow(out, ("sum", self.of(args[0]), self.of(args[1])))
        elif name in ADD and len(args) == 2 and not kwargs and any(isinstance(a, (int, float)) and a == 0 for a in args):
            self.follow(out, self.of(args[0]) or self.of(args[1]))  # a + 0
        elif name == "flatten" and self.of(args[0]) is not None:
            start = args[1] if len(args) > 1 else kwargs.get("start_dim", 0)
            end = args[2] if len(args) > 2 else kwargs.get("end_dim", -1)
            self.follow(out, ("flatten", self.of(args[0]), start, end))
        elif name in ("view", "reshape") and self.of(args[0]) is not None and torch.is_tensor(out) \
                and tuple(out.shape) == (args[0].shape[0], math.prod(args[0].shape[1:])):
            self.follow(out, ("flatten", self.of(args[0]), 1, -1))  # x.view(batch, -1)
        elif name == "stack" and args and isinstance(args[0], (list, tuple)) and all(self.of(a) is not None for a in args[0]):
            self.follow(out, ("stack", [self.of(a) for a in args[0]]))
        else:
            inputs = [s for a in (*args, *kwargs.values()) for s in ([self.of(a)] if torch.is_tensor(a) else
                                                                     [self.of(b) for b in a] if isinstance(a, (list, tuple)) else [])
                      if s is not None]
            if inputs:
                self.follow(_first(out), ("other", name, inputs))
        return out


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, (tuple, list)) and value else value


def _text(source: Source) -> str:
    """A value's source as the user reads it: ``x[3]``, ``fc2 (step 3)``, ``fc2 + x[3]``."""
    kind = source[0]
    if kind == "x":
        return f"x[{source[1]}]"
    if kind == "layer":
        return f"{source[1]} (step {source[2]})"
    if kind == "sum":
        return f"{_text(source[1])} + {_text(source[2])}"
    if kind == "flatten":
        return f"flatten({_text(source[1])}, {source[2]}, {source[3]})"
    if kind == "stack":
        return f"stack({', '.join(_text(s) for s in source[1][:3])}{', ...' if len(source[1]) > 3 else ''})"
    return f"{source[1].strip('_')}({', '.join(_text(s) for s in source[2])})"


def _steps(source: Source) -> set[int]:
    """The steps a value's layer outputs and inputs come from."""
    if source[0] in ("x", "layer"):
        return {source[-1]}
    if source[0] == "sum":
        return _steps(source[1]) | _steps(source[2])
    if source[0] == "flatten":
        return _steps(source[1])
    return set().union(*(_steps(s) for s in source[-1])) if source[-1] else set()


def _other(source: Source) -> Source | None:
    """The first part of a value's source that is neither an input, a layer, a sum nor a flatten."""
    if source[0] not in ("x", "layer", "sum", "flatten"):
        return source
    if source[0] == "sum":
        return _other(source[1]) or _other(source[2])
    return _other(source[1]) if source[0] == "flatten" else None


def _at_step(source: Source) -> Source:
    """A value's source with its step left out, to compare one step's graph with another's."""
    kind = source[0]
    if kind == "x":
        return ("x",)
    if kind == "layer":
        return ("layer", source[1])
    if kind == "sum":
        return ("sum", _at_step(source[1]), _at_step(source[2]))
    if kind == "flatten":
        return ("flatten", _at_step(source[1]), source[2], source[3])
    return (kind, source[1], tuple(_at_step(s) for s in source[2]))


class NotSteps(ValueError):
    """A forward whose steps are not one graph of layers (says why); ``looped``: whether it called
    a layer more than once, as a forward that loops over time does."""

    def __init__(self, message: str, looped: bool = False) -> None:
        super().__init__(message)
        self.looped = looped


def step_graph(model: nn.Module, layers: dict[str, nn.Module], x: torch.Tensor) -> torch.fx.Graph:
    """The graph of layers each step of ``model``'s forward runs on time-major ``x``, as an fx Graph
    whose ``call_module`` targets are ``layers``' names (module paths); NotSteps, saying why, when
    the forward is not that."""
    what = type(model).__name__
    flow = Flow(x)
    calls: list[tuple[str, int, Source | None]] = []  # (layer, step, its input's source) in call order
    count: dict[str, int] = {}

    def before(name: str):
        def hook(module: nn.Module, args: tuple) -> None:
            if flow.depth == 0:
                calls.append((name, count.get(name, 0), flow.of(args[0]) if args else None))
            flow.depth += 1
        return hook

    def after(name: str):
        def hook(module: nn.Module, args: tuple, out: Any) -> None:
            flow.depth -= 1
            if flow.depth == 0:
                step = count.get(name, 0)
                count[name] = step + 1
                flow.follow(_first(out), ("layer", name, step))
        return hook

    handles = [h for name, m in layers.items() for h in (m.register_forward_pre_hook(before(name)), m.register_forward_hook(after(name)))]
    try:
        with torch.no_grad(), flow:
            y = model(x)
    finally:
        for h in handles:
            h.remove()
    try:
        return _step_graph(what, x.shape[0], calls, count, flow.of(_first(y)), type(_first(y)).__name__)
    except NotSteps as exc:
        raise NotSteps(str(exc), looped=max(count.values(), default=0) > 1) from None


def _step_graph(what: str, steps: int, calls: list[tuple[str, int, Source | None]], count: dict[str, int],
                last: Source | None, returned: str) -> torch.fx.Graph:
    """:func:`step_graph`'s check of what one run showed, and step 0's graph."""
    per_step: list[list[tuple[str, Source]]] = [[] for _ in range(steps)]
    for name, t, source in calls:
        if t >= steps:
            raise NotSteps(f"{what}'s forward calls layer {name} more than once per step ({count[name]} calls over {steps} steps)")
        if source is None:
            raise NotSteps(f"{what}'s forward feeds layer {name} at step {t} something that comes from neither its input x[t] "
                           "nor its layers' outputs (a constant, a state it keeps itself)")
        if (other := _other(source)) is not None:
            raise NotSteps(f"{what}'s forward feeds layer {name} at step {t} {_text(source)}, which computes {_text(other)}: "
                           "a graph of layers has only the layers, sums of their outputs (skip connections) and flattens "
                           "(torch.flatten, a view that flattens)")
        if _steps(source) != {t}:
            raise NotSteps(f"{what}'s forward feeds layer {name} at step {t} {_text(source)}, from another step: only a "
                           "neuron's own recurrence, inside the layer, carries values between steps")
        per_step[t].append((name, _at_step(source)))
    if any(s != per_step[0] for s in per_step[1:]):
        t = next(t for t, s in enumerate(per_step) if s != per_step[0])
        raise NotSteps(f"{what}'s forward runs another graph at step {t} than at step 0: "
                       f"{', '.join(n for n, _ in per_step[t])} against {', '.join(n for n, _ in per_step[0])}")
    if last is None or last[0] != "stack" or [_at_step(s) for s in last[1]] != [_at_step(last[1][0])] * steps \
            or [_steps(s) for s in last[1]] != [{t} for t in range(steps)]:
        raise NotSteps(f"{what}'s forward does not return one value of each step stacked over time "
                       f"({_text(last) if last is not None else returned})")
    return _as_fx(per_step[0], _at_step(last[1][0]))


def _as_fx(step: list[tuple[str, Source]], output: Source) -> torch.fx.Graph:
    """One step's graph as an fx Graph: placeholder ``x``, each layer a ``call_module`` on its input."""
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    made: dict[Source, torch.fx.Node] = {}

    def node(source: Source) -> torch.fx.Node:
        if source == ("x",):
            return x
        if source not in made:
            if source[0] == "sum":
                made[source] = graph.call_function(operator.add, (node(source[1]), node(source[2])))
            elif source[0] == "flatten":
                made[source] = graph.call_function(torch.flatten, (node(source[1]), source[2], source[3]))
            else:
                raise NotSteps(f"layer {source[1]}'s output is read before the layer runs in the step")
        return made[source]

    for name, source in step:
        made[("layer", name)] = graph.call_module(name, (node(source),))
    graph.output(node(output))
    return graph
