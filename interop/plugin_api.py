"""What plugins share with the core: errors, capability records and the injectable spike function.

Framework-free: plugins import this; the core never imports a plugin.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from dataclasses import dataclass, field

import numpy as np
import torch

from snn_interop.spec.mathns import torch_math
from snn_interop.spec.neurons import Compare, Neuron, Value, uniform, values
from snn_interop.spec.oracle import HeavisideSurrogate
from snn_interop.spec.schema import SurrogateConfig


class NotExpressible(ValueError):
    """A framework's own layers cannot reproduce a canonical semantic exactly.

    ``semantic`` names what (e.g. "reset_timing=next_step"), ``reason`` says why.
    """

    def __init__(self, framework: str, semantic: str, reason: str) -> None:
        super().__init__(f"{framework} cannot express {semantic}: {reason}")
        self.framework, self.semantic, self.reason = framework, semantic, reason


class BackendNotRun(RuntimeError):
    """A backend forced for this process (``backend_environment``) does not run this case.

    For a case the framework runs with the same code whichever backend is selected, so that its
    default backend's run already covers it, and which it refuses under the forced selection.
    The conformance suite reports it ``not_run`` with ``reason``."""

    def __init__(self, implementation: str, reason: str) -> None:
        super().__init__(f"{implementation} does not run this case: {reason}")
        self.implementation, self.reason = implementation, reason


def require(framework: str, checks: Iterable[tuple[bool, str, str]]) -> None:
    """Raise NotExpressible for the first failed ``(ok, semantic, reason)``."""
    for ok, semantic, reason in checks:
        if not ok:
            raise NotExpressible(framework, semantic, reason)


def show(value: Value) -> str:
    """A parameter for a message: the number, or "per-neuron" (a requirement's text is built even when it holds)."""
    return f"{value:g}" if uniform(value) else "per-neuron"


def equals(value: Value, target: float) -> bool:
    """Whether every neuron's ``value`` is ``target``."""
    return bool(np.all(values(value) == target))


def require_uniform(framework: str, neuron: Neuron) -> None:
    """NotExpressible when some parameter differs across neurons (plugins build one value per parameter)."""
    per = neuron.per_neuron
    require(framework, [(not per, f"per-neuron {', '.join(per)}", "its layers are built here with one value per parameter")])


@dataclass(frozen=True)
class Capabilities:
    """What a plugin's native layers express exactly (data, shown by ``snn-interop plugins``)."""

    framework: str
    version: str
    neurons: dict[str, str]  #: canonical model -> native layer
    conventions: dict[str, str]  #: convention -> what is natively expressible
    surrogates: str  #: which surrogates: native aliases, and whether any other is injected
    layers: tuple[str, ...] = ()
    backends: dict[str, tuple[str, ...]] = field(default_factory=dict)  #: device -> backends


@dataclass(frozen=True)
class CanonicalSpike:
    """The canonical spike function of x = v - threshold, injected into frameworks that take a
    callable; it keeps its configuration readable, so a model carrying it converts back exactly."""

    surrogate: SurrogateConfig
    compare: Compare

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return HeavisideSurrogate.apply(x, self.surrogate, self.compare)


def spike_function(surrogate: SurrogateConfig, compare: Compare) -> CanonicalSpike:
    """The canonical spike function to inject (see :class:`CanonicalSpike`)."""
    return CanonicalSpike(surrogate, compare)


@dataclass(frozen=True)
class CanonicalDerivative:
    """``(v, threshold) -> scale g'(v - threshold)``: a surrogate in sinabs' calling convention."""

    surrogate: SurrogateConfig

    def __call__(self, v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        return self.surrogate.grad(torch_math, v - threshold)


def surrogate_derivative(surrogate: SurrogateConfig) -> CanonicalDerivative:
    return CanonicalDerivative(surrogate)


def native_alias(neuron: Neuron, framework: str) -> tuple[str, dict[str, float]] | None:
    """The framework's own spike function computing the neuron's surrogate and compare exactly, if any."""
    cfg = neuron.surrogate
    if cfg is None:
        return None
    h0 = 1.0 if neuron.compare is Compare.GE else 0.0
    for alias in cfg.surrogate.alias(framework):
        if alias.h0 != h0 or alias.forward.value != "heaviside":
            continue
        native = alias.native_kwargs({**cfg.values, "theta": neuron.threshold})
        back = alias.canonical_params({**native, "theta": neuron.threshold})
        if all(abs(back[k] - v) <= 1e-12 * max(1.0, abs(v)) for k, v in cfg.values.items()):
            return alias.native, native
    return None


Step = Callable[[torch.nn.Module, torch.Tensor, Any], tuple[torch.Tensor, torch.Tensor, Any]]


def run_by_steps(step: Step, module: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a neuron over time-major ``x`` [T, B, ...] with a plugin's ``step``: (spikes, membrane)."""
    state, spikes, membrane = None, [], []
    for x_t in x:
        s, v, state = step(module, x_t, state)
        spikes.append(s)
        membrane.append(v)
    return torch.stack(spikes), torch.stack(membrane)


def linear_of(weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.nn.Linear:
    """A Linear layer computing x W^T (+ b) with copies of ``weight`` [out, in] and ``bias``: a
    framework layer's own weights as the stateless layer ``describe_input``/``describe_recurrent`` give."""
    layer = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, dtype=weight.dtype, device=weight.device)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    return layer


def chain(model: torch.nn.Module, describe_layer: Callable[[torch.nn.Module], torch.nn.Module | None] | None = None,
          prefix: str = "") -> list[tuple[str, torch.nn.Module]]:
    """The layers of a sequential model in order, nested containers opened: (name, layer), the
    name as ``model.named_modules()`` gives it ("2.0" for layer 0 of block 2), so that NIR node
    names, parameter names and recorded membranes agree. A container is a plain
    ``nn.Sequential``, or a layer a plugin's ``describe_layer`` gives as one (norse's
    SequentialState, spikingjelly's SeqToANNContainer)."""
    layers: list[tuple[str, torch.nn.Module]] = []
    for name, layer in model.named_children():
        seen = describe_layer(layer) if describe_layer is not None else None
        if type(seen if seen is not None else layer) is torch.nn.Sequential:
            layers += chain(layer, describe_layer, f"{prefix}{name}.")
        else:
            layers.append((f"{prefix}{name}", layer))
    return layers


def parameter_dtype(module: torch.nn.Module, default: torch.dtype) -> torch.dtype:
    """The dtype of a module's first floating-point parameter, else ``default``; read through
    ``nn.Module.parameters`` (rockpool's modules override ``parameters()`` to return names)."""
    return next((p.dtype for p in torch.nn.Module.parameters(module) if p.is_floating_point()), default)


def whole_model(model: Any, plugin: Any) -> Any:
    """The plain ``nn.Sequential`` a framework's wrapper of a whole model stands for, by the
    plugin's ``describe_layer`` (sinabs's ``from_model`` Network: its spiking_model; rockpool's
    combinator Sequential: its modules), else ``model`` itself."""
    if plugin is None or not isinstance(model, torch.nn.Module) or isinstance(model, torch.nn.Sequential):
        return model
    seen = getattr(plugin, "describe_layer", lambda _: None)(model)
    return seen if isinstance(seen, torch.nn.Sequential) else model


def seeded_linear(n_in: int, n_out: int, gain: float, seed: int, dtype: torch.dtype = torch.float32) -> torch.nn.Linear:
    """A Linear layer with seeded N(0, gain^2 / n_in) weights and bias 0.1 gain (example models)."""
    layer = torch.nn.Linear(n_in, n_out, dtype=dtype)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(n_out, n_in, generator=gen, dtype=dtype) * gain / n_in**0.5)
        layer.bias.fill_(0.1 * gain)
    return layer


def _swap(v: torch.Tensor) -> torch.Tensor:
    return v.transpose(0, 1)


@contextmanager
def batch_first(model: torch.nn.Module, steps: int, batch: int) -> Iterator[tuple[Callable[[torch.Tensor], torch.Tensor], ...]]:
    """A plugin's ``layout`` for a framework whose modules take a whole sequence batch first,
    ``[B, T, ...]``: time-major values swap their first two dimensions, both ways."""
    yield _swap, _swap
