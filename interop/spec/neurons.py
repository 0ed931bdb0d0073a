"""Canonical neuron models with every convention an explicit parameter.

One discrete-time update covers IF, LIF, current-based LIF, the leaky integrator and the
adaptive-threshold LIF. Per step t, with input x[t] (see :func:`snn_interop.spec.oracle.step`):

    synaptic current (CUBA_LIF; LI and ADAPTIVE_LIF with synaptic_current),
                                      CURRENT_FIRST:  i[t] = alpha i[t-1] + g_syn x[t];  drive = i[t]
                                      MEMBRANE_FIRST: drive = i[t-1];  i[t] = alpha i[t-1] + g_syn x[t]
    charge:   v' = v_leak + beta (v[t-1] - v_leak) + g drive          (IF: beta = 1)
    NEXT_STEP reset:  v' = reset(v', s[t-1])                            (snntorch's default)
    fire:     s[t] = spike(v' - theta[t]),  theta[t] = threshold + adapt_scale a'
              a' = a[t-1] (sinabs ALIF), or rho a[t-1] when adapt_decay_first (norse LSNN)
    SAME_STEP reset:  v[t] = reset(v', s[t])                            (spikingjelly, norse, sinabs)
    bound:    v[t] = max(v[t], v_min)   when v_min is set
    adapt:    a[t] = rho a[t-1] + (1 - rho) s[t]                        (ADAPTIVE_LIF only)

g is the input gain from ``input_scale`` and ``r``; the leaky integrator (LI) never fires.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Union

import numpy as np

from snn_interop.spec.schema import SpecError, SurrogateConfig


class Model(str, Enum):
    IF = "if"
    LIF = "lif"
    CUBA_LIF = "cuba_lif"
    LI = "li"
    ADAPTIVE_LIF = "adaptive_lif"

    @property
    def doc(self) -> str:
        return _MODEL_DOCS[self]


_MODEL_DOCS = {
    Model.IF: "integrate-and-fire: beta = 1, no leak",
    Model.LIF: "leaky integrate-and-fire",
    Model.CUBA_LIF: "current-based LIF: a decaying synaptic current drives the membrane (snntorch Synaptic)",
    Model.LI: "leaky integrator: a LIF membrane that never fires",
    Model.ADAPTIVE_LIF: "LIF whose threshold rises with its own recent spikes",
}


class Discretisation(str, Enum):
    """How the per-step decay ``beta`` relates to a time constant ``tau`` and step ``dt``."""

    DIRECT = "direct"  #: beta given as a number (snntorch, sinabs' alpha)
    EXACT = "exact"  #: beta = exp(-dt / tau), the exact solution for constant input over a step
    EULER = "euler"  #: beta = 1 - dt / tau, forward Euler (spikingjelly, norse)


class InputScale(str, Enum):
    """The gain g on the input drive, times the resistance ``r``."""

    NONE = "none"  #: g = r (snntorch, sinabs without norm_input)
    BETA = "beta"  #: g = beta r: the input decays in the step it arrives (sinabs' synaptic current)
    ONE_MINUS_BETA = "one_minus_beta"  #: g = (1 - beta) r (spikingjelly decay_input, sinabs norm_input)
    DT_OVER_TAU = "dt_over_tau"  #: g = dt / tau r (norse, NIR's ODE under Euler)
    DT = "dt"  #: g = dt r (NIR's IF, dv/dt = R I, over one step of dt)


class Compare(str, Enum):
    """Threshold comparison: does v == theta fire?"""

    GE = ">="  #: H(0) = 1 (spikingjelly, snntorch)
    GT = ">"  #: H(0) = 0 (norse)


class SpikeFn(str, Enum):
    SINGLE = "single"  #: s = H(v - theta), one spike per step
    MULTI = "multi"  #: s = max(floor(v / theta), 0), several spikes per step (sinabs MultiSpike)
    MAX = "max"  #: s = min(max(floor(v / theta), 0), max_spikes) (sinabs MaxSpike)


class ResetMode(str, Enum):
    SUBTRACT = "subtract"  #: v - s theta ("soft" reset)
    TO_VALUE = "to_value"  #: v_reset where s > 0 ("hard" reset; to zero when v_reset = 0)
    NONE = "none"  #: no reset


class ResetTiming(str, Enum):
    SAME_STEP = "same_step"  #: this step's spike resets this step's membrane
    NEXT_STEP = "next_step"  #: the previous step's spike resets after this step's charge (snntorch)


class SynapseOrder(str, Enum):
    CURRENT_FIRST = "current_first"  #: the input reaches the membrane in the same step (snntorch)
    MEMBRANE_FIRST = "membrane_first"  #: the membrane sees last step's current (norse)


#: A parameter value: one number for every neuron, or one per neuron as nested tuples shaped
#: like the neurons (as NIR stores them); tuples keep neurons hashable and comparable.
Value = Union[float, tuple]


def values(v: Value) -> np.ndarray:
    """A Value as a float64 array (0-d for a single number)."""
    return np.asarray(v, dtype=np.float64)


def pack(a: Any) -> Value:
    """An array or number as a Value: a float when all neurons share one value, else nested tuples."""
    a = np.asarray(a, dtype=np.float64)
    if a.size and np.all(a == a.flat[0]):
        return float(a.flat[0])
    return tuples(a.tolist())


def tuples(x: Any) -> Any:
    """Nested lists (JSON, ``ndarray.tolist()``) as nested tuples of floats."""
    return tuple(tuples(i) for i in x) if isinstance(x, (list, tuple)) else float(x)


def uniform(v: Value) -> bool:
    """Whether a Value is one number for every neuron."""
    return not isinstance(v, tuple)


@dataclass(frozen=True)
class Decay:
    """Per-step decay ``beta`` and, when derived, the time constant and rule it came from."""

    beta: Value
    method: Discretisation = Discretisation.DIRECT
    tau: Value | None = None
    dt: float | None = None

    @classmethod
    def from_tau(cls, tau: Value, dt: float, method: Discretisation = Discretisation.EXACT) -> Decay:
        """beta = exp(-dt/tau) (EXACT) or 1 - dt/tau (EULER), per neuron when tau is. The exp is
        ``math.exp`` (the C library's, correctly rounded here), not ``np.exp``, whose SIMD loops
        differ by an ulp between CPUs (measured: 0.9607894382933104 on an AVX-512 machine where
        math.exp gives ...105), so that a file reads to the same neuron on every machine."""
        if not (np.all(values(tau) > 0) and dt > 0):
            raise SpecError(f"tau and dt must be positive, got tau={tau}, dt={dt}")
        exp = np.vectorize(lambda t: math.exp(-dt / t), otypes=[np.float64])
        beta = exp(values(tau)) if method is Discretisation.EXACT else 1.0 - dt / values(tau)
        return cls(float(beta) if uniform(tau) else tuples(beta.tolist()), method, tau, dt)


NO_DECAY = Decay(1.0)


def _c(default: object, doc: str) -> Any:
    """A convention field: its default and its one-line meaning (shown by ``snn-interop spec``)."""
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Neuron:
    """A canonical neuron: the model plus every convention of its discrete update.

    Build with the named constructors (:meth:`if_`, :meth:`lif`, :meth:`cuba_lif`,
    :meth:`li`, :meth:`adaptive_lif`) and vary with :meth:`with_`.
    """

    model: Model
    surrogate: SurrogateConfig | None
    decay: Decay = _c(NO_DECAY, "membrane decay per step beta, and the tau/dt/rule it came from")
    syn_decay: Decay = _c(NO_DECAY, "synaptic current decay per step alpha (cuba_lif; li, adaptive_lif with synaptic_current)")
    input_scale: InputScale = _c(InputScale.NONE, "gain g on the membrane drive, times r")
    r: Value = _c(1.0, "resistance: factor on the input gain")
    syn_input_scale: InputScale = _c(InputScale.NONE, "gain on the input into the synaptic current, times w_in (cuba_lif; li, adaptive_lif with synaptic_current)")
    w_in: Value = _c(1.0, "input weight of the synaptic current: factor on its gain (cuba_lif; li, adaptive_lif with synaptic_current; NIR's w_in)")
    synapse_order: SynapseOrder = _c(SynapseOrder.CURRENT_FIRST, "whether this step's input reaches the membrane this step (cuba_lif; li, adaptive_lif with synaptic_current)")
    v_leak: Value = _c(0.0, "leak (resting) potential")
    threshold: Value = _c(1.0, "firing threshold theta")
    compare: Compare = _c(Compare.GE, "threshold comparison: does v == theta fire")
    spike_fn: SpikeFn = _c(SpikeFn.SINGLE, "one spike per step, or floor(v / theta) of them")
    max_spikes: int = _c(1, "cap of the max spike function")
    reset: ResetMode = _c(ResetMode.SUBTRACT, "what a spike does to the membrane")
    v_reset: Value = _c(0.0, "target of the to_value reset")
    reset_timing: ResetTiming = _c(ResetTiming.SAME_STEP, "which step's spike resets the membrane")
    detach_reset: bool = _c(False, "True: no gradient flows through the reset term")
    v_min: float | None = _c(None, "membrane lower bound (none when unset)")
    v_init: float = _c(0.0, "initial membrane")
    adapt_decay: Decay = _c(Decay(0.9), "decay rho of the threshold adaptation (adaptive_lif)")
    adapt_scale: float = _c(1.8, "threshold increase per unit of adaptation (adaptive_lif)")
    adapt_decay_first: bool = _c(False, "the threshold sees the adaptation already decayed this step (adaptive_lif)")
    synaptic_current: bool = _c(False, "a decaying synaptic current drives the membrane, as in cuba_lif (li: norse LICell; adaptive_lif: norse LSNN)")

    def __post_init__(self) -> None:
        problems = []
        if self.model is Model.IF and np.any(values(self.decay.beta) != 1.0):
            problems.append("IF has no leak: decay.beta must be 1 (use LIF)")
        for name in ("decay", "syn_decay"):
            beta = values(getattr(self, name).beta)
            if not np.all((beta >= 0.0) & (beta <= 1.0)):
                problems.append(f"{name}.beta must lie in [0, 1]")
        if self.spikes and self.surrogate is None:
            problems.append(f"{self.model.value} fires and needs a surrogate")
        if self.spikes and not np.all(values(self.threshold) > 0) and self.spike_fn is not SpikeFn.SINGLE:
            problems.append("multi-spike functions need threshold > 0")
        if self.spike_fn is SpikeFn.MAX and self.max_spikes < 1:
            problems.append("max_spikes must be >= 1")
        for name in ("input_scale", "syn_input_scale"):
            scale, decay = getattr(self, name), self.decay if name == "input_scale" else self.syn_decay
            if scale is InputScale.DT_OVER_TAU and (decay.tau is None or decay.dt is None):
                problems.append(f"{name}=dt_over_tau needs a decay built with Decay.from_tau")
            if scale is InputScale.DT and decay.dt is None:
                problems.append(f"{name}=dt needs a decay that records dt")
        if self.synaptic_current and self.model not in (Model.ADAPTIVE_LIF, Model.LI):
            problems.append("synaptic_current applies to adaptive_lif and li (cuba_lif always has one)")
        if problems:
            raise SpecError(f"invalid {self.model.value} neuron: " + "; ".join(problems))

    # -- named constructors ------------------------------------------------------------
    @classmethod
    def if_(cls, surrogate: SurrogateConfig, **conventions: object) -> Neuron:
        return cls(Model.IF, surrogate, **conventions)

    @classmethod
    def lif(cls, surrogate: SurrogateConfig, decay: Decay, **conventions: object) -> Neuron:
        return cls(Model.LIF, surrogate, decay=decay, **conventions)

    @classmethod
    def cuba_lif(cls, surrogate: SurrogateConfig, decay: Decay, syn_decay: Decay, **conventions: object) -> Neuron:
        return cls(Model.CUBA_LIF, surrogate, decay=decay, syn_decay=syn_decay, **conventions)

    @classmethod
    def li(cls, decay: Decay, **conventions: object) -> Neuron:
        return cls(Model.LI, None, decay=decay, reset=ResetMode.NONE, **conventions)

    @classmethod
    def adaptive_lif(cls, surrogate: SurrogateConfig, decay: Decay, adapt_decay: Decay, adapt_scale: float, **conventions: object) -> Neuron:
        return cls(Model.ADAPTIVE_LIF, surrogate, decay=decay, adapt_decay=adapt_decay, adapt_scale=adapt_scale, **conventions)

    def with_(self, **changes: object) -> Neuron:
        """A copy with some conventions changed (validated again)."""
        return replace(self, **changes)

    # -- derived quantities ----------------------------------------------------------
    @property
    def spikes(self) -> bool:
        return self.model is not Model.LI

    @property
    def has_synapse(self) -> bool:
        """Whether a synaptic current drives the membrane (syn_decay, syn_input_scale, w_in and
        synapse_order apply): cuba_lif, and li or adaptive_lif with synaptic_current."""
        return self.model is Model.CUBA_LIF or self.synaptic_current

    @property
    def per_neuron(self) -> list[str]:
        """The parameters that differ across neurons (empty for a uniform population)."""
        fields = {"threshold": self.threshold, "v_leak": self.v_leak, "v_reset": self.v_reset, "r": self.r, "w_in": self.w_in,
                  "decay.beta": self.decay.beta, "syn_decay.beta": self.syn_decay.beta}
        return [k for k, v in fields.items() if not uniform(v)]

    @property
    def input_gain(self) -> Value:
        """g: the factor on the membrane drive."""
        return _join(_gain(self.input_scale, self.decay) * values(self.r), self.decay.beta, self.r)

    @property
    def syn_input_gain(self) -> Value:
        return _join(_gain(self.syn_input_scale, self.syn_decay) * values(self.w_in), self.syn_decay.beta, self.w_in)


def _join(result: np.ndarray, *inputs: Value) -> Value:
    """A derived Value: a float when every input is, else per neuron."""
    return float(result) if all(uniform(v) for v in inputs) else tuples(np.asarray(result).tolist())


def _gain(scale: InputScale, decay: Decay) -> np.ndarray:
    if scale is InputScale.NONE:
        return values(1.0)
    if scale is InputScale.ONE_MINUS_BETA:
        return 1.0 - values(decay.beta)
    if scale is InputScale.BETA:
        return values(decay.beta)
    if scale is InputScale.DT:
        return values(decay.dt)  # set: checked in Neuron.__post_init__
    return decay.dt / values(decay.tau)  # both set: checked in Neuron.__post_init__
