"""NIR neuron nodes <-> canonical neurons.

A node written by snn-interop carries its exact canonical neuron in metadata
(:mod:`.metadata`); its NIR parameters are the same neuron in NIR's continuous-time terms, so
that plain NIR readers see the right model. A node without our key is read with the NIR
spec's semantics (nir 1.0.8, the current release) and the documented choices in
:class:`NirDefaults`, which NIR itself leaves open.

NIR's ODEs and the canonical update they become (per-equation zero-order hold):

    LIF      tau dv/dt = (v_leak - v) + r I      beta = exp(-dt/tau) (EXACT) or 1 - dt/tau (EULER), g = (1 - beta) r
    IF       dv/dt = r I                         beta = 1, g = dt r
    LI       as LIF, never fires (a current-based LI: two LI nodes, the current's and the membrane's)
    CubaLIF  tau_syn dI/dt = -I + w_in S         alpha, gain (1 - alpha) w_in; current first
             tau_mem dv/dt = (v_leak - v) + r I  beta, g = (1 - beta) r
    firing   v > v_threshold, then v = v_reset (0 when the node has none)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np

from snn_interop.nir import metadata
from snn_interop.spec.neurons import (
    Compare, Decay, Discretisation, InputScale, Model, Neuron, ResetMode, ResetTiming, SynapseOrder, Value, pack, values,
)
from snn_interop.spec.schema import SpecError, SurrogateConfig
from snn_interop.spec.surrogates import SURROGATES

NEURON_NODES = (nir.LIF, nir.IF, nir.LI, nir.CubaLIF)


@dataclass(frozen=True)
class NirDefaults:
    """What a NIR file without snn-interop metadata does not say, and what we then assume."""

    dt: float = 1e-4  #: s per step (NIR has no time step; 1e-4 s is the NIR paper's)
    discretisation: Discretisation = Discretisation.EXACT  #: the ODE's exact solution for input held over a step
    surrogate: SurrogateConfig = field(default_factory=lambda: SURROGATES["atan"].configure())  #: NIR has none
    compare: Compare = Compare.GT  #: NIR: z = 1 when v > v_threshold
    reset: ResetMode = ResetMode.TO_VALUE  #: nir >= 1.0.7: v = v_reset after a spike (nir <= 1.0.4 documented subtract)
    reset_timing: ResetTiming = ResetTiming.SAME_STEP
    detach_reset: bool = False

    def read(self, nodes: list[str]) -> dict[str, Any] | None:
        """What a report records of ``nodes`` (neuron nodes without snn-interop metadata) read with
        these defaults: ``{"nodes", "dt", "discretisation", "reset"}``; None when there are none."""
        return {"nodes": nodes, "dt": self.dt, "discretisation": self.discretisation.value, "reset": self.reset.value} if nodes else None


def defaults_note(read: dict[str, Any]) -> str:
    """The note for a run that fired nothing, on a file read with defaults (:meth:`NirDefaults.read`):
    at NIR's dt of 1e-4 s a network from a framework that counts time in steps barely charges."""
    n = len(read["nodes"])
    return (f"{n} neuron node{'s' if n > 1 else ''} of the source file carry no snn-interop metadata, read with dt {read['dt']:g} s "
            f"({read['discretisation']}, reset {read['reset']}): a file from a framework that counts time in steps (sinabs, "
            "spikingjelly) wants --nir-dt 1 (docs/cli.md)")


def _uniform(node: Any, name: str) -> Value:
    """A node's parameter: one float when all neurons share it, else per neuron (nested tuples)."""
    array = np.asarray(getattr(node, name), dtype=np.float64)
    if array.size == 0 or not np.all(np.isfinite(array)):
        raise SpecError(f"{type(node).__name__}.{name} is empty or not finite")
    return pack(array)


def _v_reset(node: Any) -> Value:
    return _uniform(node, "v_reset") if getattr(node, "v_reset", None) is not None else 0.0


def neuron_from_node(node: Any, defaults: NirDefaults = NirDefaults()) -> Neuron:
    """The canonical neuron of a NIR neuron node: our metadata when present, else NIR semantics."""
    stored = metadata.decode(getattr(node, "metadata", None))
    if stored is not None:
        return stored
    dt, method = defaults.dt, defaults.discretisation
    firing = dict(compare=defaults.compare, reset=defaults.reset, reset_timing=defaults.reset_timing, detach_reset=defaults.detach_reset)
    if isinstance(node, nir.IF):
        return Neuron.if_(defaults.surrogate, decay=Decay(1.0, Discretisation.DIRECT, None, dt), input_scale=InputScale.DT,
                          r=_uniform(node, "r"), threshold=_uniform(node, "v_threshold"), v_reset=_v_reset(node), **firing)
    if isinstance(node, nir.LIF):
        return Neuron.lif(defaults.surrogate, Decay.from_tau(_uniform(node, "tau"), dt, method), input_scale=InputScale.ONE_MINUS_BETA,
                          r=_uniform(node, "r"), v_leak=_uniform(node, "v_leak"), threshold=_uniform(node, "v_threshold"),
                          v_reset=_v_reset(node), **firing)
    if isinstance(node, nir.LI):
        return Neuron.li(Decay.from_tau(_uniform(node, "tau"), dt, method), input_scale=InputScale.ONE_MINUS_BETA,
                         r=_uniform(node, "r"), v_leak=_uniform(node, "v_leak"))
    if isinstance(node, nir.CubaLIF):
        return Neuron.cuba_lif(
            defaults.surrogate, Decay.from_tau(_uniform(node, "tau_mem"), dt, method), Decay.from_tau(_uniform(node, "tau_syn"), dt, method),
            input_scale=InputScale.ONE_MINUS_BETA, r=_uniform(node, "r"), syn_input_scale=InputScale.ONE_MINUS_BETA,
            w_in=_uniform(node, "w_in"), synapse_order=SynapseOrder.CURRENT_FIRST, v_leak=_uniform(node, "v_leak"),
            threshold=_uniform(node, "v_threshold"), v_reset=_v_reset(node), **firing)
    raise SpecError(f"{type(node).__name__} is not a NIR neuron node ({', '.join(c.__name__ for c in NEURON_NODES)})")


def _tau(decay: Decay, dt: float) -> np.ndarray:
    """The time constant NIR should show for a per-step decay: its own, or one consistent with dt."""
    if decay.tau is not None:
        return values(decay.tau)
    beta = values(decay.beta)
    if np.any(beta <= 0.0) or np.any(beta >= 1.0):
        raise SpecError(f"decay beta={decay.beta} has no finite positive time constant")
    return dt / (1.0 - beta) if decay.method is Discretisation.EULER else -dt / np.log(beta)


def _r(gain: Value, decay: Decay) -> np.ndarray:
    """NIR's r such that (1 - beta) r is the canonical input gain."""
    return values(gain) / (1.0 - values(decay.beta))


def split_current(neuron: Neuron) -> tuple[Neuron, Neuron] | None:
    """A current-based leaky integrator as two leaky integrators in a row, or None for any other
    neuron: NIR 1.0.4 has no CubaLI node, but with the current first, i[t] = alpha i[t-1] + g_syn x[t]
    is a leaky integrator of x (beta = alpha, v_leak = 0) and the membrane one of i, step for step
    the same arithmetic. A membrane that sees the current a step late has no such form."""
    n = neuron
    if n.model is not Model.LI or not n.synaptic_current:
        return None
    if n.synapse_order is not SynapseOrder.CURRENT_FIRST:
        raise SpecError("a leaky integrator whose membrane sees its synaptic current a step late has no NIR form "
                        "(NIR 1.0.4 has no CubaLI; two LI nodes in a row hold only the current-first order)")
    current = Neuron.li(n.syn_decay, input_scale=n.syn_input_scale, r=n.w_in)
    return current, Neuron.li(n.decay, input_scale=n.input_scale, r=n.r, v_leak=n.v_leak, v_init=n.v_init)


def node_from_neuron(neuron: Neuron, shape: tuple[int, ...], dt: float = NirDefaults.dt) -> Any:
    """A NIR node for ``neuron`` over ``shape`` neurons, with the exact neuron in its metadata.

    The NIR parameters are the best plain-NIR reading of the neuron (time constants at ``dt``
    unless the neuron records its own); the metadata is what snn-interop reads back.
    """
    full = lambda v: np.broadcast_to(values(v), shape).astype(np.float64)  # noqa: E731 - per neuron or shared
    meta = metadata.encode(neuron)
    n = neuron
    if n.model is Model.IF:
        step = n.decay.dt or dt
        return nir.IF(r=full(values(n.input_gain) / step), v_threshold=full(n.threshold), metadata=meta)
    if n.model is Model.LI and n.synaptic_current:
        raise SpecError("NIR 1.0.4 has no node for a current-based leaky integrator: write it as two LI nodes (split_current)")
    if n.model is Model.LI:
        return nir.LI(tau=full(_tau(n.decay, dt)), r=full(_r(n.input_gain, n.decay)), v_leak=full(n.v_leak), metadata=meta)
    if n.model is Model.LIF:
        return nir.LIF(tau=full(_tau(n.decay, dt)), r=full(_r(n.input_gain, n.decay)), v_leak=full(n.v_leak),
                       v_threshold=full(n.threshold), metadata=meta)
    if n.model is Model.CUBA_LIF:
        if np.all(values(n.decay.beta) == 1.0):
            raise SpecError("a current-based neuron whose membrane does not leak (beta = 1, a current-based IF) "
                            "has no NIR node: NIR's CubaLIF leaks through a finite tau_mem")
        return nir.CubaLIF(tau_syn=full(_tau(n.syn_decay, dt)), tau_mem=full(_tau(n.decay, dt)), r=full(_r(n.input_gain, n.decay)),
                           v_leak=full(n.v_leak), v_threshold=full(n.threshold),
                           w_in=full(_r(n.syn_input_gain, n.syn_decay)), metadata=meta)
    raise SpecError(f"NIR has no node for the {n.model.value} neuron ({n.model.doc}), so a model with one cannot be "
                    "converted: writing it as a plain LIF would make every other NIR reader drop the adaptation silently")
