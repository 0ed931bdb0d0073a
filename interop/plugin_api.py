"""What plugins share with the core: errors, capability records and the injectable spike function.

Framework-free: plugins import this; the core never imports a plugin.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

from snn_interop.spec.mathns import torch_math
from snn_interop.spec.neurons import Compare, Neuron
from snn_interop.spec.oracle import HeavisideSurrogate
from snn_interop.spec.schema import SurrogateConfig


class NotExpressible(ValueError):
    """A framework's own layers cannot reproduce a canonical semantic exactly.

    ``semantic`` names what (e.g. "reset_timing=next_step"), ``reason`` says why.
    """

    def __init__(self, framework: str, semantic: str, reason: str) -> None:
        super().__init__(f"{framework} cannot express {semantic}: {reason}")
        self.framework, self.semantic, self.reason = framework, semantic, reason


def require(framework: str, checks: Iterable[tuple[bool, str, str]]) -> None:
    """Raise NotExpressible for the first failed ``(ok, semantic, reason)``."""
    for ok, semantic, reason in checks:
        if not ok:
            raise NotExpressible(framework, semantic, reason)


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


def spike_function(surrogate: SurrogateConfig, compare: Compare) -> Callable[[torch.Tensor], torch.Tensor]:
    """The canonical spike function of x = v - threshold, to inject into a framework that takes a callable."""
    return lambda x: HeavisideSurrogate.apply(x, surrogate, compare)


def surrogate_derivative(surrogate: SurrogateConfig) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``(v, threshold) -> scale g'(v - threshold)``: sinabs' surrogate calling convention."""
    return lambda v, threshold: surrogate.grad(torch_math, v - threshold)


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
