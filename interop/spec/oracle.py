"""The float64 oracle: a plain, readable simulation of any canonical neuron.

It is the reference for every framework, the fused kernel and the conformance suite:
obviously correct rather than fast. Input is time-major ``[T, B, ...]``; the computation
runs in float64 and is differentiable, the spike's gradient being the neuron's declared
surrogate ``scale * g'(v - theta)``. The update is the one documented in
:mod:`snn_interop.spec.neurons`.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch

from snn_interop.spec.mathns import torch_math
from snn_interop.spec.neurons import Compare, InputScale, Model, Neuron, ResetTiming, SpikeFn, SynapseOrder
from snn_interop.spec.resets import RESETS
from snn_interop.spec.schema import SurrogateConfig


class State(NamedTuple):
    """Neuron state between steps; every field has the shape of one input step."""

    v: torch.Tensor  #: membrane potential after the step (after a same-step reset)
    i: torch.Tensor  #: synaptic current (when the neuron has_synapse; zeros otherwise)
    a: torch.Tensor  #: threshold adaptation (ADAPTIVE_LIF; zeros otherwise)
    s: torch.Tensor  #: spikes of the step (used by a next-step reset)


class Trace(NamedTuple):
    """Per-step records, each ``[T, B, ...]`` float64."""

    spikes: torch.Tensor  #: spike counts (0/1 for single spikes)
    v: torch.Tensor  #: membrane at the end of each step
    v_pre: torch.Tensor  #: membrane compared with the threshold (before a same-step reset)
    i: torch.Tensor  #: synaptic current
    theta: torch.Tensor  #: effective threshold


class HeavisideSurrogate(torch.autograd.Function):
    """Forward: H(x) with H(0) given by the comparison; backward: ``scale * g'(x)``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, surrogate: SurrogateConfig, compare: Compare) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        fired = x >= 0 if compare is Compare.GE else x > 0
        return fired.to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (x,) = ctx.saved_tensors
        return grad * ctx.surrogate.grad(torch_math, x), None, None


def spike(neuron: Neuron, v: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Spike count of membrane ``v`` against threshold ``theta``.

    SINGLE: H(v - theta). MULTI: H(v - theta) floor(v / theta), MAX: that capped at
    ``max_spikes``; the count's gradient is the surrogate of H(v - theta) (the floor
    contributes none), so multi-spike differs from single spike in the forward pass only.
    """
    crossed = HeavisideSurrogate.apply(v - theta, neuron.surrogate, neuron.compare)
    if neuron.spike_fn is SpikeFn.SINGLE:
        return crossed
    count = torch.floor(v / theta).clamp(min=1.0)
    if neuron.spike_fn is SpikeFn.MAX:
        count = count.clamp(max=float(neuron.max_spikes))
    return crossed + crossed.detach() * (count - 1.0)


def initial_state(neuron: Neuron, like: torch.Tensor) -> State:
    """The state before the first step, shaped and typed like one input step."""
    zeros = torch.zeros_like(like)
    return State(zeros + _t(neuron.v_init, like), zeros, zeros, zeros)


def _t(value: Any, like: torch.Tensor) -> torch.Tensor:
    """A parameter (one number, or per neuron) as a tensor broadcasting over [B, *neurons]."""
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


PARAMETERS = ("threshold", "decay.beta", "syn_decay.beta")  #: what ``params`` may give as tensors, to differentiate by


def _gain_t(scale: InputScale, beta: torch.Tensor, r: Any, declared: Any, like: torch.Tensor) -> torch.Tensor:
    """The input gain as a function of the (possibly differentiated) ``beta``: r (1 - beta) or r beta;
    any other scale its declared value."""
    if scale is InputScale.ONE_MINUS_BETA:
        return (1.0 - beta) * _t(r, like)
    if scale is InputScale.BETA:
        return beta * _t(r, like)
    return _t(declared, like)


def differentiable(neuron: Neuron) -> tuple[str, ...]:
    """The :data:`PARAMETERS` whose gradient :func:`simulate` gives exactly for ``neuron``: the
    threshold of a neuron that fires, and each decay unless its input gain is dt / tau."""
    out = ["threshold"] if neuron.spikes else []
    if neuron.model is not Model.IF and neuron.input_scale is not InputScale.DT_OVER_TAU:
        out.append("decay.beta")
    if neuron.has_synapse and neuron.syn_input_scale is not InputScale.DT_OVER_TAU:
        out.append("syn_decay.beta")
    return tuple(out)


def step(neuron: Neuron, x: torch.Tensor, state: State,
         params: Mapping[str, torch.Tensor] | None = None) -> tuple[State, torch.Tensor, torch.Tensor]:
    """One time step: returns (new state, v compared with theta, theta). ``params`` replaces
    any of :data:`PARAMETERS` by a tensor (e.g. one requiring grad, for dL/dtheta, dL/dbeta).

    A gain that follows from beta (input scale beta or 1 - beta) follows the given beta too; a
    gain dt / tau stays as declared (:func:`differentiable` says which parameters are exact)."""
    n, p = neuron, params or {}
    drive, i = x, state.i
    if n.has_synapse:
        alpha = _t(p.get("syn_decay.beta", n.syn_decay.beta), x)
        i_next = alpha * state.i + _gain_t(n.syn_input_scale, alpha, n.w_in, n.syn_input_gain, x) * x
        drive, i = (i_next, i_next) if n.synapse_order is SynapseOrder.CURRENT_FIRST else (state.i, i_next)
    v_leak = _t(n.v_leak, x)
    beta = _t(p.get("decay.beta", n.decay.beta), x)
    v = v_leak + beta * (state.v - v_leak) + _gain_t(n.input_scale, beta, n.r, n.input_gain, x) * drive
    rho = n.adapt_decay.beta
    a_seen = rho * state.a if n.adapt_decay_first else state.a
    theta = _t(p.get("threshold", n.threshold), x) + (n.adapt_scale * a_seen if n.model is Model.ADAPTIVE_LIF else torch.zeros_like(v))
    if not n.spikes:
        return State(v, i, state.a, torch.zeros_like(v)), v, theta
    reset = RESETS[n.reset]
    v_reset = _t(n.v_reset, x)
    if n.reset_timing is ResetTiming.NEXT_STEP:
        v = reset(v, state.s.detach() if n.detach_reset else state.s, theta, v_reset)
    s = spike(n, v, theta)
    v_pre = v
    if n.reset_timing is ResetTiming.SAME_STEP:
        v = reset(v, s.detach() if n.detach_reset else s, theta, v_reset)
    if n.v_min is not None:
        v = v.clamp(min=n.v_min)
    a = state.a
    if n.model is Model.ADAPTIVE_LIF:
        a = rho * state.a + (1.0 - rho) * s
    return State(v, i, a, s), v_pre, theta


def simulate(neuron: Neuron, x: torch.Tensor, state: State | None = None, params: Mapping[str, torch.Tensor] | None = None) -> Trace:
    """Run ``neuron`` over time-major input ``x`` ``[T, B, ...]`` in float64 (``params``: see :func:`step`)."""
    x = x.to(torch.float64)
    state = initial_state(neuron, x[0]) if state is None else state
    records: dict[str, list[torch.Tensor]] = {k: [] for k in Trace._fields}
    for t in range(x.shape[0]):
        state, v_pre, theta = step(neuron, x[t], state, params)
        for key, value in zip(Trace._fields, (state.s, state.v, v_pre, state.i, theta)):
            records[key].append(value)
    return Trace(*(torch.stack(records[k]) for k in Trace._fields))
