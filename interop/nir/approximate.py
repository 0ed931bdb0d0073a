"""The nearest neuron a framework builds natively, for conversions that allow approximation.

When a target framework's own layers cannot express a neuron exactly, snn-convert normally
runs it as the exact :class:`~snn_interop.graph.CanonicalNeuron`. A user who needs the
framework's own layers (its CUDA kernels, its hardware path) may allow an approximation
instead: the neuron is rebuilt with the fewest, cheapest convention changes the framework
can express, each change is named, and ``--verify`` measures what they cost.

Changes and their costs (cheaper first; a change of the gradient only is cheapest):

==============  ====  ====================================================
convention      cost  effect
==============  ====  ====================================================
detach_reset    1     gradient only
surrogate       2     gradient only: the same family at its defaults (2), another family (3)
compare         4     spikes only where v == theta exactly
reset_timing    6     membrane trajectory after each spike
reset           8     subtract <-> to_value
==============  ====  ====================================================
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from snn_interop.plugin_api import NotExpressible
from snn_interop.spec.neurons import Compare, Neuron, ResetMode, ResetTiming
from snn_interop.spec.surrogates import SURROGATES


@dataclass(frozen=True)
class Change:
    """One convention of the source neuron that the built layer does differently."""

    convention: str
    source: str
    built: str

    def __str__(self) -> str:
        return f"{self.convention} {self.source} -> {self.built}"


def _surrogates(neuron: Neuron, framework: str) -> list[tuple[Any, int]]:
    cfg = neuron.surrogate
    same = cfg.surrogate.configure()
    out = [(same, 2)] if same.values != cfg.values else []
    out += [(s.configure(), 3) for s in SURROGATES.values() if s is not cfg.surrogate and s.alias(framework)]
    return out


def _options(neuron: Neuron, framework: str) -> list[list[tuple[dict[str, Any], int]]]:
    """Per convention: [(no change, 0), (a change, its cost), ...]."""
    keep: list[tuple[dict[str, Any], int]] = [({}, 0)]
    if not neuron.spikes:
        return [keep]
    other = lambda field, values, cost: keep + [({field: v}, cost) for v in values if v != getattr(neuron, field)]  # noqa: E731
    return [
        other("detach_reset", (False, True), 1),
        keep + [({"surrogate": s}, c) for s, c in _surrogates(neuron, framework)],
        other("compare", tuple(Compare), 4),
        other("reset_timing", tuple(ResetTiming), 6),
        other("reset", (ResetMode.SUBTRACT, ResetMode.TO_VALUE), 8),
    ]


def nearest_native(neuron: Neuron, plugin: ModuleType) -> tuple[Any, Neuron, tuple[Change, ...]]:
    """``plugin``'s own layer for the cheapest variant of ``neuron`` it expresses, that variant
    and the changes made; NotExpressible when no variant builds. An exact build changes nothing."""
    combos = sorted(itertools.product(*_options(neuron, plugin.NAME)), key=lambda combo: sum(c for _, c in combo))
    errors: list[NotExpressible] = []
    for combo in combos:
        changes = {k: v for d, _ in combo for k, v in d.items()}
        try:
            variant = neuron.with_(**changes) if changes else neuron
            module = plugin.build_neuron(variant)
        except NotExpressible as exc:
            errors.append(exc)
            continue
        except ValueError:  # a combination the spec itself rejects
            continue
        named = tuple(Change(k, _show(getattr(neuron, k)), _show(v)) for k, v in changes.items())
        return module, variant, named
    exact, most = errors[0], errors[-1]  # the exact build's refusal; what even the most changed variant lacks
    raise NotExpressible(plugin.NAME, exact.semantic, f"{exact.reason}; no approximation builds natively either "
                                                      f"(with every allowed change it still lacks {most.semantic}: {most.reason})")


def _show(value: Any) -> str:
    return str(getattr(value, "value", value))
