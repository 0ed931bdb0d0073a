"""The float64 oracle against traces computed by hand, one per reset mode and timing.

Each expected trace is worked out in the comment above it from the update in
snn_interop.spec.neurons; nothing here is produced by the code under test.
"""
from __future__ import annotations

import math

import pytest
import torch

from snn_interop.spec import oracle
from snn_interop.spec.neurons import (
    Compare, Decay, Discretisation, InputScale, Neuron, ResetMode, ResetTiming, SpikeFn, SynapseOrder,
)
from snn_interop.spec.surrogates import SURROGATES
from snn_interop_conformance.tolerances import FP64_EXACT

ATAN = SURROGATES["atan"].configure()
HALF = Decay(0.5)


def run(neuron: Neuron, xs: list[float]) -> oracle.Trace:
    return oracle.simulate(neuron, torch.tensor(xs, dtype=torch.float64).reshape(-1, 1))


def assert_trace(values: torch.Tensor, expected: list[float]) -> None:
    torch.testing.assert_close(values.flatten(), torch.tensor(expected, dtype=torch.float64), atol=FP64_EXACT.atol, rtol=FP64_EXACT.rtol)


# LIF, beta 0.5, threshold 1, constant input 0.8:
#   v_pre = 0.8 | 0.4+0.8 = 1.2 (spike) | ...
@pytest.mark.parametrize(
    ("reset", "timing", "spikes", "v"),
    [
        # subtract, same step: 1.2 -> 0.2; 0.1+0.8 = 0.9; 0.45+0.8 = 1.25 -> 0.25
        (ResetMode.SUBTRACT, ResetTiming.SAME_STEP, [0, 1, 0, 1], [0.8, 0.2, 0.9, 0.25]),
        # to zero, same step: 1.2 -> 0; 0.8; 1.2 -> 0
        (ResetMode.TO_VALUE, ResetTiming.SAME_STEP, [0, 1, 0, 1], [0.8, 0.0, 0.8, 0.0]),
        # no reset: 0.8, 1.2, 1.4, 1.5 all but the first over threshold
        (ResetMode.NONE, ResetTiming.SAME_STEP, [0, 1, 1, 1], [0.8, 1.2, 1.4, 1.5]),
        # subtract, next step (snntorch): 1.2 stays; 0.6+0.8-1 = 0.4; 0.2+0.8 = 1.0 fires (>=)
        (ResetMode.SUBTRACT, ResetTiming.NEXT_STEP, [0, 1, 0, 1], [0.8, 1.2, 0.4, 1.0]),
        # to zero, next step, after the charge: 0.6+0.8 -> 0 (that step's input is lost); 0.8
        (ResetMode.TO_VALUE, ResetTiming.NEXT_STEP, [0, 1, 0, 0], [0.8, 1.2, 0.0, 0.8]),
    ],
)
def test_lif_reset_modes_and_timings_match_hand_traces(reset, timing, spikes, v):
    trace = run(Neuron.lif(ATAN, HALF, reset=reset, reset_timing=timing), [0.8] * 4)
    assert_trace(trace.spikes, spikes)
    assert_trace(trace.v, v)


def test_subtract_reset_keeps_overshoot():
    # v crosses 1.0 to 1.3: subtract leaves 0.3, to-zero leaves 0.0, to 0.1 leaves 0.1
    assert_trace(run(Neuron.if_(ATAN), [1.3]).v, [0.3])
    assert_trace(run(Neuron.if_(ATAN, reset=ResetMode.TO_VALUE), [1.3]).v, [0.0])
    assert_trace(run(Neuron.if_(ATAN, reset=ResetMode.TO_VALUE, v_reset=0.1), [1.3]).v, [0.1])


def test_threshold_compare_decides_equality():
    # IF reaching exactly 1.0 (0.5 + 0.5, exact in binary): fires with >=, not with >
    assert_trace(run(Neuron.if_(ATAN), [0.5, 0.5]).spikes, [0, 1])
    assert_trace(run(Neuron.if_(ATAN, compare=Compare.GT), [0.5, 0.5]).spikes, [0, 0])


def test_v_pre_is_the_compared_membrane():
    # same-step subtract: the compared value 1.3 is recorded in v_pre, 0.3 in v
    trace = run(Neuron.if_(ATAN), [1.3])
    assert_trace(trace.v_pre, [1.3])


def test_multi_spike_counts_and_subtracts_each():
    # IF, threshold 1, input 2.5: floor(2.5) = 2 spikes, subtract 2 -> 0.5; MAX capped at 1 -> 1.5
    assert_trace(run(Neuron.if_(ATAN, spike_fn=SpikeFn.MULTI), [2.5]).spikes, [2])
    assert_trace(run(Neuron.if_(ATAN, spike_fn=SpikeFn.MULTI), [2.5]).v, [0.5])
    assert_trace(run(Neuron.if_(ATAN, spike_fn=SpikeFn.MAX, max_spikes=1), [2.5]).v, [1.5])
    # below threshold no spike although floor(0.5) = 0 and negative v gives none either
    assert_trace(run(Neuron.if_(ATAN, spike_fn=SpikeFn.MULTI), [0.5, -2.0]).spikes, [0, 0])


def test_cuba_lif_synapse_order():
    # alpha = beta = 0.5, threshold out of reach, input 1, 0, 0
    # current first: i = 1, 0.5, 0.25 and v = 1, 0.5+0.5 = 1.0, 0.5+0.25 = 0.75
    # membrane first: v sees last step's i: 0, 1, 0.5+0.5 = 1.0
    base = Neuron.cuba_lif(ATAN, HALF, HALF, threshold=10.0)
    assert_trace(run(base, [1, 0, 0]).i, [1.0, 0.5, 0.25])
    assert_trace(run(base, [1, 0, 0]).v, [1.0, 1.0, 0.75])
    assert_trace(run(base.with_(synapse_order=SynapseOrder.MEMBRANE_FIRST), [1, 0, 0]).v, [0.0, 1.0, 1.0])


def test_adaptive_threshold_rises_with_spikes():
    # rho 0.5, adapt_scale 1, no leak, subtract, input 1.5 each step:
    # t0: v 1.5 >= 1 spike -> 0.5, a = 0.5;   t1: theta 1.5, v 2.0 spike -> 0.5, a = 0.75
    # t2: theta 1.75, v 2.0 spike -> 0.25
    n = Neuron.adaptive_lif(ATAN, Decay(1.0), Decay(0.5), 1.0)
    trace = run(n, [1.5, 1.5, 1.5])
    assert_trace(trace.theta, [1.0, 1.5, 1.75])
    assert_trace(trace.v, [0.5, 0.5, 0.25])


def test_adaptive_threshold_decayed_first():
    # as above with adapt_decay_first (norse LSNN): theta sees rho a[t-1]
    # t0: theta 1, v 1.5 spike -> 0.5, a = 0.5;  t1: theta 1 + 0.25 = 1.25, v 2.0 spike -> 0.75, a = 0.75
    n = Neuron.adaptive_lif(ATAN, Decay(1.0), Decay(0.5), 1.0, adapt_decay_first=True)
    trace = run(n, [1.5, 1.5])
    assert_trace(trace.theta, [1.0, 1.25])
    assert_trace(trace.v, [0.5, 0.75])


def test_leaky_integrator_never_fires_and_leaks_to_v_leak():
    # beta 0.5, v_leak 1, no input: v = 1 + 0.5 (v - 1) from v_init 0 -> 0.5, 0.75
    trace = run(Neuron.li(HALF, v_leak=1.0), [0.0, 0.0])
    assert_trace(trace.v, [0.5, 0.75])
    assert_trace(trace.spikes, [0, 0])


def test_membrane_lower_bound():
    assert_trace(run(Neuron.if_(ATAN, v_min=-0.5), [-1.0]).v, [-0.5])


# one step of input 1 with r = 2: g = r, (1 - beta) r, dt / tau r
@pytest.mark.parametrize(
    ("scale", "method", "v"),
    [
        (InputScale.NONE, Discretisation.EULER, 2.0),
        (InputScale.ONE_MINUS_BETA, Discretisation.EULER, 0.2),  # beta = 1 - 1/10
        (InputScale.DT_OVER_TAU, Discretisation.EULER, 0.2),  # 1/10 * 2
        (InputScale.ONE_MINUS_BETA, Discretisation.EXACT, 2 * (1 - math.exp(-0.1))),
        (InputScale.DT_OVER_TAU, Discretisation.EXACT, 0.2),
        (InputScale.BETA, Discretisation.EULER, 2 * 0.9),
    ],
)
def test_input_scale(scale, method, v):
    n = Neuron.lif(ATAN, Decay.from_tau(10.0, 1.0, method), input_scale=scale, r=2.0, threshold=10.0)
    assert_trace(run(n, [1.0]).v, [v])


def test_spike_gradient_is_the_declared_surrogate():
    # one IF step, x = 0.7, threshold 1: ds/dx = g'(0.7 - 1) = (alpha/2) / (1 + (pi/2 alpha (-0.3))^2), alpha 2
    x = torch.tensor([[0.7]], dtype=torch.float64, requires_grad=True)
    oracle.simulate(Neuron.if_(ATAN), x).spikes.sum().backward()
    expected = 1.0 / (1 + (math.pi * -0.3) ** 2)
    assert x.grad.item() == pytest.approx(expected, abs=FP64_EXACT.atol)


@pytest.mark.parametrize("detach", [False, True])
def test_detached_reset_drops_the_reset_path(detach):
    # IF, subtract: v1 = x1 - s1, v2 = v1 + x2, s2 = H(v2 - 1).
    # ds2/dx1 = g'(v2 - 1) (1 - g'(x1 - 1)) through the reset, g'(v2 - 1) when detached.
    x = torch.tensor([[1.2], [0.5]], dtype=torch.float64, requires_grad=True)
    oracle.simulate(Neuron.if_(ATAN, detach_reset=detach), x).spikes[1].sum().backward()
    g = lambda u: 1.0 / (1 + (math.pi * u) ** 2)  # noqa: E731 - atan alpha 2 derivative
    v2 = 1.2 - 1.0 + 0.5
    expected = g(v2 - 1) * (1.0 if detach else 1 - g(0.2))
    assert x.grad[0].item() == pytest.approx(expected, abs=FP64_EXACT.atol)
