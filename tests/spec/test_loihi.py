"""Loihi's fixed-point CUBA neuron (snn_interop.spec.loihi) against a line-by-line transcription of
Lava's PyLifModelBitAcc and against the trace Lava produced for the NIR paper's LIF neuron."""
from __future__ import annotations

import nir
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from snn_interop.nir.neurons import NirDefaults, neuron_from_node
from snn_interop.spec import loihi
from snn_interop.spec.neurons import Discretisation
from snn_interop_plugins.loihi import float_layer


class LavaBitAcc:
    """A transcription of lava-nc/lava src/lava/proc/lif/models.py (AbstractPyLifModelFixed.
    subthr_dynamics, scale_bias, PyLifModelBitAcc.scale_threshold / spiking_activation, run_spk)."""

    def __init__(self, n: int, du: int, dv: int, vth: int, bias_mant: np.ndarray, bias_exp: int) -> None:
        self.u, self.v = np.zeros(n, np.int32), np.zeros(n, np.int32)
        self.du, self.dv, self.vth = du, dv, vth
        self.bias_mant, self.bias_exp = bias_mant.astype(np.int16), np.full(n, bias_exp, np.int16)
        self.ds_offset, self.dm_offset, self.max_uv_val, self.decay_shift, self.decay_unity = 1, 0, 2 ** 23, 12, 2 ** 12

    def run_spk(self, a_in: np.ndarray) -> np.ndarray:
        bias_mant = self.bias_mant.copy().astype(np.int32)
        effective_bias = np.where(self.bias_exp >= 0, np.left_shift(bias_mant, self.bias_exp), np.right_shift(bias_mant, -self.bias_exp))
        effective_vth = np.left_shift(self.vth, 6)
        decayed_curr = np.int64(self.u) * (self.decay_unity - (self.du + self.ds_offset))
        decayed_curr = np.int32(np.sign(decayed_curr) * np.right_shift(np.abs(decayed_curr), self.decay_shift))
        decayed_curr += np.left_shift(a_in, 6)
        wrapped = np.where(decayed_curr > self.max_uv_val, decayed_curr - 2 * self.max_uv_val, decayed_curr)
        wrapped = np.where(wrapped <= -self.max_uv_val, decayed_curr + 2 * self.max_uv_val, wrapped)
        self.u[:] = wrapped
        decayed_volt = np.int64(self.v) * (self.decay_unity - (self.dv + self.dm_offset))
        decayed_volt = np.int32(np.sign(decayed_volt) * np.right_shift(np.abs(decayed_volt), self.decay_shift))
        self.v[:] = np.clip(decayed_volt + self.u + effective_bias, -np.int32(self.max_uv_val) + 1, np.int32(self.max_uv_val) - 1)
        s = self.v > effective_vth
        self.v[s] = 0
        return s


@given(du=st.integers(0, 4095), dv=st.integers(0, 4095), vth=st.integers(0, 2 ** 17 - 1), seed=st.integers(0, 2 ** 31),
       bias=st.integers(-4096, 4095), big=st.booleans())
def test_the_integer_update_is_lavas_bit_accurate_lif(du: int, dv: int, vth: int, seed: int, bias: int, big: bool) -> None:
    rng = np.random.default_rng(seed)
    n, steps = 6, 40
    a = rng.integers(-(2 ** 15) if big else -300, 2 ** 15 if big else 300, size=(steps, n)).astype(np.int16)  # 16-bit a_in; big drives the wrap
    lava = LavaBitAcc(n, du, dv, vth, np.full(n, bias), loihi.BIAS_EXP)
    p = loihi.LoihiCuba(np.eye(n, dtype=np.int64), du, dv, vth, np.full(n, bias), loihi.BIAS_EXP)
    u = v = np.zeros(n, np.int64)
    for t in range(steps):
        expected = lava.run_spk(a[t].astype(np.int32))
        u, v_pre, s = loihi.step(p, a[t], u, v)
        v = np.where(s > 0, 0, v_pre)
        assert np.array_equal(s.astype(bool), expected) and np.array_equal(u, lava.u) and np.array_equal(v, lava.v), t


def test_decay_rounds_toward_zero_and_du_4095_clears_the_current() -> None:
    assert loihi.decay(np.array([-7, 7]), 2048).tolist() == [-3, 3]
    assert loihi.decay(np.array([1000]), 4096).tolist() == [0]
    assert loihi.decay_int(0.0) - 1 == 4095 and loihi.decay_int(1.0) == 0


@given(alpha=st.floats(0.0, 1.0), beta=st.floats(0.0, 1.0), theta=st.floats(0.05, 5000.0), w=st.floats(0.01, 3.0))
def test_the_mapping_and_its_inverse_agree_within_one_rounding_step(alpha: float, beta: float, theta: float, w: float) -> None:
    f = loihi.FloatCuba(np.array([[w, -w / 3]]), alpha, beta, theta, np.array([theta / 10]))
    p, scale = loihi.quantise(f)
    back = loihi.from_loihi(p, scale)
    assert int(np.max(np.abs(p.weight))) <= 127 and 1 <= p.vth_mant <= 2 ** 17 - 1 and np.all(np.abs(p.bias_mant) <= 4095)
    assert 0 <= p.du <= 4095 and 0 <= p.dv <= 4096  # du + 1 >= 1: a current that never decays loses 1/4096 a step
    assert np.max(np.abs(back.weight - f.weight)) <= 0.5 * 64 / scale + 1e-12
    assert abs(back.threshold - theta) <= 0.5 * 64 / scale + 1e-12
    assert abs(back.beta - beta) <= 0.5 / 4096 + 1e-12 and abs(back.alpha - alpha) <= max(0.5, 4096 * alpha - 4095) / 4096 + 1e-12


def _paper(corpus):
    trace = np.loadtxt(corpus / "lif_lava_loihi_fixed.csv", delimiter=",")
    graph = nir.read(corpus / "lif_norse.nir")
    # Lava's Dense delivers a spike one step later: the neuron sees the input column shifted by one.
    shifted = np.concatenate([[0.0], trace[:-1, 0]])[:, None, None]
    return trace, graph, shifted


def test_lavas_loihi_trace_of_the_nir_paper_neuron_is_reproduced(corpus) -> None:
    trace, graph, shifted = _paper(corpus)
    # The paper's integers: weight 10 and vThMant 25 (the float weight and threshold times 250, i.e.
    # scale S = 16000), dv = floor(4096 dt/tau) = 163 (Euler), du = 4095 (no synaptic current).
    paper = loihi.LoihiCuba(np.array([[10]]), 4095, 163, 25, np.array([0]))
    spikes, v = loihi.run_layer(paper, shifted)
    fired = trace[:, 2] > 0
    assert np.array_equal(spikes[:, 0, 0], trace[:, 2].astype(int))
    assert np.array_equal(v[~fired, 0, 0], trace[~fired, 1].astype(int))  # every step without a spike, bit for bit
    # Our mapping of the node (Euler, rounded to nearest, weight mantissa 10) gives dv = 164: same spike steps.
    f = float_layer(graph.nodes["0"], neuron_from_node(graph.nodes["1"], NirDefaults(discretisation=Discretisation.EULER)))
    ours, scale = loihi.quantise(f, w_max=10)
    assert (ours.weight.item(), ours.vth_mant, ours.du, ours.dv) == (10, 25, 4095, 164) and round(scale) == 16000
    spikes, v = loihi.run_layer(ours, shifted)
    assert np.array_equal(spikes[:, 0, 0], trace[:, 2].astype(int))
    assert np.max(np.abs(v[~fired, 0, 0] - trace[~fired, 1])) <= 5
