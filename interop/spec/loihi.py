"""Loihi's fixed-point current-based LIF neuron, declared exactly, and the float <-> integer mapping.

The integer update is Lava's bit-accurate Loihi model (lava-nc/lava
``src/lava/proc/lif/models.py``: ``AbstractPyLifModelFixed.subthr_dynamics`` and
``PyLifModelBitAcc``), per step t with synaptic input a[t] = W s[t] (integer weights, 0/1 spikes),
plus W_rec o[t-1] in a layer that feeds its own spikes o back (netx ``dense_rec``, o[-1] = 0):

    decay(x, d) = sign(x) * ((|x| * (4096 - d)) >> 12)              (rounds toward zero)
    u[t] = wrap24(decay(u[t-1], du + 1) + (a[t] << 6))             (ds_offset = 1: du = 4095 clears u)
    v[t] = clip(decay(v[t-1], dv) + u[t] + (bias_mant << bias_exp), -(2^23 - 1), 2^23 - 1)
    s[t] = v[t] > (vth_mant << 6);  v[t] = 0 where s[t]             (reset to zero, same step)

wrap24 folds u into 24 bits: x - 2^24 when x > 2^23, x + 2^24 when x <= -2^23.
In a convolutional layer (netx ``conv``) a[t] is the cross-correlation of s[t] with the integer
kernel (PyTorch's ``conv2d``: stride, padding, dilation, groups) and the bias is per channel; a
dense layer after one reads its spikes flattened channel-major (netx ``flatten``).
Lava's ``Dense`` (and ``Conv``) delivers a[t] one step later, so each layer adds a step of
latency, while every layer's neurons run from the first step: during the k steps before its
input arrives, layer k charges with its bias alone (nothing happens without a bias).
:func:`run_chain` runs exactly that and reads each layer back k steps later, at the float model's
steps. A recurrent layer's own spikes reach it through a second ``Dense``, one step later in Lava
as here, so in Lava's shifted time the recurrence is still one step.

The mapping from a float current-based LIF (canonical update, current first: i[t] = alpha i[t-1]
+ g_syn W s[t], v[t] = beta v[t-1] + g i[t] + c, fire when v > theta, reset to zero) uses one
scale S (integer state units per float unit) per layer: U = S g i, V = S v, hence

    du + 1 = max(round(4096 (1 - alpha)), 1),   dv = round(4096 (1 - beta))   (the current always decays by >= 1/4096)
    W_int = round(S g g_syn W / 64),   vth_mant = round(S theta / 64),   bias_mant = round(S c / 2^bias_exp)
    (W_rec likewise, at the same S: both feed the same current)

and S is the largest that keeps every integer in range (:func:`quantise`). ``from_loihi`` maps back.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

DECAY_SHIFT = 12  #: decays are 12-bit fractions of 4096
UNITY = 1 << DECAY_SHIFT
ACT_SHIFT = 6  #: synaptic input is MSB-aligned by 6 bits
VTH_SHIFT = 6  #: the threshold mantissa is MSB-aligned by 6 bits
BIAS_EXP = 6  #: netx builds every CUBA layer with bias_exp = 6 (lava-dl netx/hdf5.py get_neuron_params)
UV_BITS = 24  #: u and v are 24-bit signed
MAX_UV = 1 << (UV_BITS - 1)
#: Limits of Lava's PyLifModelBitAcc / netx: du unsigned 12-bit (effective current decay du + 1 in
#: 1..4096); dv 0..4096 (netx's own default neuron has vDecay 4096); vth 17-bit unsigned;
#: bias_mant 13-bit signed; weights 8-bit signed (netx optimize_weight_bits: "standard 8 bit signed").
LIMITS = {"du": (0, UNITY - 1), "dv": (0, UNITY), "vth_mant": (0, (1 << 17) - 1),
          "bias_mant": (-(1 << 12), (1 << 12) - 1), "weight": (-128, 127)}


@dataclass(frozen=True)
class Conv:
    """A convolutional layer's geometry (netx ``conv``; PyTorch's ``conv2d``), each pair (y, x)."""

    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1


def synaptic_input(weight: np.ndarray, conv: Conv | None, s: np.ndarray) -> np.ndarray:
    """a[t] for every step of spikes ``s`` [T, B, ...]: ``conv2d`` of each [C, H, W] step with the
    kernel ``weight`` [C_out, C_in / groups, kh, kw], or ``weight`` [n_out, n_in] times each step
    flattened channel-major. Integer weights give int64 (exact: the float64 sums stay far below
    2^53), float weights float64."""
    s = np.asarray(s)
    if conv is None:
        return np.einsum("oi,tbi->tbo", weight, s.reshape(*s.shape[:2], -1))
    x = torch.from_numpy(s.reshape(-1, *s.shape[2:]).astype(np.float64))
    a = torch.nn.functional.conv2d(x, torch.from_numpy(np.asarray(weight, dtype=np.float64)), stride=conv.stride,
                                   padding=conv.padding, dilation=conv.dilation, groups=conv.groups).numpy()
    a = a.reshape(*s.shape[:2], *a.shape[1:])
    return np.rint(a).astype(np.int64) if np.issubdtype(np.asarray(weight).dtype, np.integer) else a


def per_neuron(bias: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A per-neuron (dense) or per-channel (conv: ``like`` [B, C, H, W]) bias, shaped to add to ``like``."""
    bias = np.asarray(bias)
    return bias.reshape(-1, 1, 1) if like.ndim == 4 and bias.ndim == 1 else bias


@dataclass(frozen=True)
class LoihiCuba:
    """One layer of Loihi CUBA neurons behind integer weights ``weight`` [n_out, n_in].

    ``du``/``dv`` as Lava's LIF process takes them (the current's effective decay is du + 1,
    netx's ``iDecay``); ``bias_mant`` is per neuron; ``delay`` extra steps on the synaptic input
    (netx's ``delay``; 1 expresses a membrane-first synapse order); ``weight_rec`` [n_out, n_out]
    the layer's own spikes back into it, a step later (netx ``dense_rec``), or None; ``conv`` the
    geometry of a convolutional layer (``weight`` its kernel [C_out, C_in / groups, kh, kw],
    ``bias_mant`` per channel), or None."""

    weight: np.ndarray
    du: int
    dv: int
    vth_mant: int
    bias_mant: np.ndarray
    bias_exp: int = BIAS_EXP
    delay: int = 0
    weight_rec: np.ndarray | None = None
    conv: Conv | None = None

    @property
    def i_decay(self) -> int:
        """netx's ``iDecay``: the effective current decay du + 1."""
        return self.du + 1


def decay(x: np.ndarray, d: int) -> np.ndarray:
    """sign(x) * ((|x| * (4096 - d)) >> 12), in int64 (Lava's decayed_curr / decayed_volt)."""
    x = np.asarray(x, dtype=np.int64)
    return np.sign(x) * np.right_shift(np.abs(x) * (UNITY - d), DECAY_SHIFT)


def wrap24(x: np.ndarray) -> np.ndarray:
    """Lava's 24-bit wrap of the current: x - 2^24 above 2^23, x + 2^24 at or below -2^23."""
    x = np.where(x > MAX_UV, x - 2 * MAX_UV, x)
    return np.where(x <= -MAX_UV, x + 2 * MAX_UV, x)


def step(p: LoihiCuba, a: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step on synaptic input ``a`` (integers) from state (u, v): returns (u, v before the
    reset, spikes), int64; the next step starts from v = where(spikes, 0, v before the reset)."""
    u = wrap24(decay(u, p.du + 1) + np.left_shift(np.asarray(a, dtype=np.int64), ACT_SHIFT))
    bias = per_neuron(np.left_shift(np.asarray(p.bias_mant, dtype=np.int64), p.bias_exp), u)
    v = np.clip(decay(v, p.dv) + u + bias, -MAX_UV + 1, MAX_UV - 1)
    return u, v, (v > (int(p.vth_mant) << VTH_SHIFT)).astype(np.int64)


def run_layer(p: LoihiCuba, s_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spikes ``s_in`` [T, B, ...] (0/1) through one layer: (spikes, v before the reset), each
    [T, B, n_out] (a convolution: [T, B, C, H, W]) int64. The synaptic input is a[t] = weight @
    s_in[t - delay] (:func:`synaptic_input`; + weight_rec @ spikes[t - 1])."""
    a_all = synaptic_input(np.asarray(p.weight, dtype=np.int64), p.conv, np.asarray(s_in, dtype=np.int64))
    if p.delay:
        a_all = np.concatenate([np.zeros_like(a_all[: p.delay]), a_all[: a_all.shape[0] - p.delay]])
    rec = None if p.weight_rec is None else np.asarray(p.weight_rec, dtype=np.int64)
    u = v = np.zeros(a_all.shape[1:], dtype=np.int64)
    spikes, volts = np.zeros_like(a_all), np.zeros_like(a_all)
    for t in range(a_all.shape[0]):
        a = a_all[t] if rec is None or t == 0 else a_all[t] + spikes[t - 1] @ rec.T
        u, volts[t], spikes[t] = step(p, a, u, v)
        v = np.where(spikes[t] > 0, 0, volts[t])
    return spikes, volts


def run_chain(layers: list[LoihiCuba], s_in: np.ndarray) -> list[np.ndarray]:
    """Each layer's spikes [T, B, ...] as Lava runs the chain on spikes ``s_in`` [T, B, ...]: every
    synaptic input a step late (``Dense``'s latency), the input followed by silence until the last
    layer has answered, layer k read k steps later (at the float model's steps). Lava's output is
    the last of these, L steps earlier."""
    steps, count = len(s_in), len(layers)
    s = np.concatenate([np.asarray(s_in, dtype=np.int64), np.zeros((count, *np.shape(s_in)[1:]), dtype=np.int64)])
    out = []
    for k, p in enumerate(layers, start=1):
        s, _ = run_layer(replace(p, delay=p.delay + 1), s)
        out.append(s[k:k + steps])
    return out


def simulate(layers: list[LoihiCuba], s_in: np.ndarray) -> np.ndarray:
    """The chain's output spikes [T, B, n_out] on spikes ``s_in`` [T, B, ...], at the float model's steps (:func:`run_chain`)."""
    return run_chain(layers, s_in)[-1]


@dataclass(frozen=True)
class FloatCuba:
    """A float current-based LIF layer in Loihi's form (current first, reset to zero, v > theta):
    i[t] = alpha i[t-1] + W s[t] (+ W_rec o[t-1], its own spikes o) (W, W_rec include g and g_syn),
    v[t] = beta v[t-1] + i[t] + c."""

    weight: np.ndarray
    alpha: float
    beta: float
    threshold: float
    bias: np.ndarray
    delay: int = 0
    weight_rec: np.ndarray | None = None
    conv: Conv | None = None


def simulate_float(layers: list[FloatCuba], s_in: np.ndarray) -> np.ndarray:
    """The float form of a chain on spikes ``s_in`` [T, B, ...] (float64, before any rounding):
    output spikes [T, B, n_out]; equal to the canonical float model when the mapping is right."""
    s = np.asarray(s_in, dtype=np.float64)
    for f in layers:
        a = synaptic_input(np.asarray(f.weight, dtype=np.float64), f.conv, s)
        if f.delay:
            a = np.concatenate([np.zeros_like(a[: f.delay]), a[: a.shape[0] - f.delay]])
        i = v = np.zeros(a.shape[1:])
        out = np.zeros_like(a)
        for t in range(a.shape[0]):
            i = f.alpha * i + a[t] + (out[t - 1] @ f.weight_rec.T if f.weight_rec is not None and t else 0.0)
            v = f.beta * v + i + per_neuron(f.bias, v)
            out[t] = v > f.threshold
            v = np.where(out[t] > 0, 0.0, v)
        s = out
    return s


def decay_int(keep: float) -> int:
    """The 12-bit decay d of a per-step factor ``keep``: round(4096 (1 - keep))."""
    return int(np.rint(UNITY * (1.0 - keep)))


def quantise(f: FloatCuba, w_max: int = LIMITS["weight"][1]) -> tuple[LoihiCuba, float]:
    """The Loihi layer of ``f`` and its scale S (integer state units per float unit): the largest
    with max |W_int| <= ``w_max`` (W and W_rec), vth_mant <= 2^17 - 1 and |bias_mant| <= 4095,

        S = min(64 w_max / max |W, W_rec|,  64 (2^17 - 1) / theta,  2^bias_exp 4095 / max |c|).

    Integers are rounded to nearest; weights far below the largest (or below theta / 2^17) round
    to zero (``figures`` counts them)."""
    weights = [np.asarray(f.weight), *([] if f.weight_rec is None else [np.asarray(f.weight_rec)])]
    largest = [max(float(np.max(np.abs(w), initial=0.0)) for w in weights), abs(f.threshold), float(np.max(np.abs(f.bias), initial=0.0))]
    room = [(1 << ACT_SHIFT) * w_max, (1 << VTH_SHIFT) * LIMITS["vth_mant"][1], (1 << BIAS_EXP) * LIMITS["bias_mant"][1]]
    scale = min((r / x for r, x in zip(room, largest) if x > 0), default=1.0)
    weight, *rec = (np.rint(scale * w / (1 << ACT_SHIFT)).astype(np.int64) for w in weights)
    bias = np.rint(scale * np.asarray(f.bias, dtype=np.float64) / (1 << BIAS_EXP)).astype(np.int64)
    layer = LoihiCuba(weight, max(decay_int(f.alpha) - 1, 0), decay_int(f.beta), int(np.rint(scale * f.threshold / (1 << VTH_SHIFT))),
                      bias, BIAS_EXP, f.delay, rec[0] if rec else None, f.conv)
    return layer, scale


def from_loihi(p: LoihiCuba, scale: float) -> FloatCuba:
    """The float layer a Loihi layer computes at scale S (the inverse of :func:`quantise`)."""
    back = lambda w: None if w is None else np.asarray(w, dtype=np.float64) * (1 << ACT_SHIFT) / scale  # noqa: E731
    return FloatCuba(back(p.weight), 1.0 - (p.du + 1) / UNITY, 1.0 - p.dv / UNITY,
                     p.vth_mant * (1 << VTH_SHIFT) / scale, np.asarray(p.bias_mant, dtype=np.float64) * (1 << p.bias_exp) / scale,
                     p.delay, back(p.weight_rec), p.conv)
