"""The two Triton kernels: the whole T-step recurrence forward, and BPTT backward.

Each program owns ``BLOCK`` neurons and walks time inside the kernel, its state (membrane,
synaptic current, last spikes; and on the way back their adjoints) in registers; per step it
reads and writes only the tensors named beside each argument. Every convention of the
canonical neuron is a ``constexpr``, so a launch compiles (or interprets) only the branch it
needs. The arithmetic repeats :func:`snn_interop.spec.oracle.step` operation for operation,
in the same order, so the same dtype gives the same roundings and hence identical spikes.

Forward, per step t (``drive`` is x, or the synaptic current of a current-based LIF)::

    i    = ALPHA i + SYN_GAIN x                         (CUBA; drive = new i, or old i if MEMBRANE_FIRST)
    h    = V_LEAK + BETA (v - V_LEAK) + GAIN drive       charge
    u    = R(h, s[t-1])  if NEXT_STEP  else h             reset by the last step's spikes
    s[t] = H(u - THETA)  (x count for multi-spike)       fire
    w    = R(u, s[t])    if SAME_STEP  else u             reset by this step's spikes
    v    = max(w, V_MIN) if V_MIN is set  else w          bound
    R_subtract(u, s) = u - s THETA,  R_to_value(u, s) = (1 - min(s, 1)) u + min(s, 1) V_RESET

Backward, t = T-1 ... 0, with the adjoints ``av`` (of v[t]), ``as_`` (of s[t], from step
t+1's next-step reset) and ``ai`` (of i[t]) carried from step t+1, ``sg`` the surrogate::

    vbar = (gv[t] + av) [w >= V_MIN]          sbar = gs[t] + as_
    SAME_STEP:  ubar = vbar dR/du(u, s[t]);   sbar += vbar dR/ds(u, s[t])   (not when detached)
    ubar += sbar sg(u - THETA)
    NEXT_STEP:  hbar = ubar dR/du(h, s[t-1]); as_ = ubar dR/ds(h, s[t-1])   (0 when detached)
    av = BETA hbar;   dbar = GAIN hbar;   then through the synaptic current to dx[t]
    dR_subtract: du 1, ds -THETA;  dR_to_value: du 1 - min(s, 1), ds (V_RESET - u) [s <= 1]

The forward saves ``m``: the membrane the backward cannot rebuild, which is ``h`` for a
next-step reset to a value and ``u`` otherwise; ``u`` and ``w`` follow from it and the spikes
exactly (a reset to a value gives ``h`` or ``V_RESET``; the subtraction is repeated). Where
``m`` is ``u``, the backward fires again on it (``RECOMPUTE_S``: the forward's compare on the
forward's value, so the same spikes) instead of reading the spike tensor; only a next-step
reset to a value, which needs ``s[t-1]``, reads it (``LOAD_S``). With ``SAVE_DIFF`` it stores
``m - THETA`` in float16 (most precision near the threshold, where the surrogate is steep),
nudged by at most 2^-24 where rounding would move it across 0, so that the recomputed spikes
stay exact; else ``m`` itself. The float16 values of steps 2j and 2j+1 share one 32-bit word
(low and high half) at row j: the backward then loads 4 bytes per thread every other step,
which Triton's pipeliner prefetches (``cp.async``, at least 4 bytes), where a 2-byte load per
step is left unpipelined (``ld.global.b16`` in the sm_90 PTX) and stalls each step on memory.
``WRITE_V`` off skips the membrane output (spikes-only layer).

Vector accesses: a thread owns ``BLOCK / (32 num_warps)`` neurons, neighbours in a row. ``N`` is
left to Triton's specialization (only ``T`` is not): where N is a multiple of 16 the launch
marks it so, every row ``t N`` then stays 16-byte aligned, and a thread's 4 float32 neurons move
in one 16-byte access (``cp.async`` 16, ``st.global.v4``) where ``do_not_specialize`` on N left
4-byte ones (``python -m snn_interop.kernel.aot`` prints the accesses). An N of 1 becomes a
constexpr there, hence ``tl.cast(N, ...)`` rather than ``N.to``.
"""
from __future__ import annotations

from snn_interop.kernel.runtime import triton as _import_triton

triton = _import_triton()
import triton.language as tl  # noqa: E402 - after the helpful ImportError above


TINY_F16 = tl.constexpr(2.0 ** -24)  # the smallest positive float16 (subnormal)


@triton.jit
def fire(u, diff, THETA: tl.constexpr, GE: tl.constexpr, MAX_SPIKES: tl.constexpr, SPIKE_FN: tl.constexpr,
         STATE: tl.constexpr, BLOCK: tl.constexpr):
    """Spike counts from ``diff = u - THETA``: 1 where diff >= 0 (GE) or > 0; floor(u / THETA), at
    least 1 (multi), capped at MAX_SPIKES (max). Passed to both kernels as ``FIRE``
    (:func:`snn_interop.kernel.runtime.callee`), so that forward and backward fire alike."""
    if GE:
        crossed = diff >= 0.0
    else:
        crossed = diff > 0.0
    s = tl.where(crossed, 1.0, 0.0).to(STATE)
    if SPIKE_FN != 0:
        if STATE == tl.float64:
            ratio = u / THETA  # float64 division is IEEE-rounded
        else:
            ratio = tl.math.div_rn(u, tl.full([BLOCK], THETA, STATE))  # not the approximate float32 '/'
        count = tl.maximum(tl.floor(ratio), 1.0)
        if SPIKE_FN == 2:
            count = tl.minimum(count, MAX_SPIKES * 1.0)
        s = tl.where(crossed, count, 0.0).to(STATE)
    return s


@triton.jit(do_not_specialize=["T"])  # N is specialized: see "Vector accesses" above
def neuron_forward(
    x_ptr,  # [T, N] input drive, float16/bfloat16/float32/float64: read once
    s_ptr,  # [T, N] out: spike counts, written once
    v_ptr,  # [T, N] out: membrane at the end of each step, written once (if WRITE_V)
    m_ptr,  # [T, N] out: the membrane saved for backward, written once (if SAVE); [ceil(T / 2), N] int32 words if SAVE_DIFF
    N,  # neurons per time step
    T,  # time steps
    FIRE: tl.constexpr,  # fire(), the spike function shared with the backward
    STATE: tl.constexpr,  # state dtype: tl.float32 or tl.float64
    BETA: tl.constexpr, ALPHA: tl.constexpr,  # membrane and synaptic decay per step
    GAIN: tl.constexpr, SYN_GAIN: tl.constexpr,  # input gains of membrane and synaptic current
    V_LEAK: tl.constexpr, THETA: tl.constexpr, V_RESET: tl.constexpr, V_MIN: tl.constexpr, V_INIT: tl.constexpr,
    MAX_SPIKES: tl.constexpr,  # cap of the max spike function
    CUBA: tl.constexpr, MEMBRANE_FIRST: tl.constexpr,  # current-based LIF; membrane sees last step's current
    SPIKES: tl.constexpr, SPIKE_FN: tl.constexpr,  # the model fires; 0 single, 1 multi, 2 max
    RESET: tl.constexpr, NEXT_STEP: tl.constexpr,  # 0 none, 1 subtract, 2 to value; timing
    GE: tl.constexpr, HAS_V_MIN: tl.constexpr,  # v == theta fires; lower bound set
    SAVE: tl.constexpr, SAVE_DIFF: tl.constexpr, WRITE_V: tl.constexpr,
    RECOMPUTE_S: tl.constexpr,  # the backward recomputes the spikes from m (keep their sign exact in float16)
    BLOCK: tl.constexpr,  # neurons per program
    STAGES: tl.constexpr,  # software-pipelining depth of the time loop
):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    x_ptr += offs
    s_ptr += offs
    v_ptr += offs
    m_ptr += offs
    v = tl.full([BLOCK], 0.0, STATE) + V_INIT
    i = tl.full([BLOCK], 0.0, STATE)
    s_prev = tl.full([BLOCK], 0.0, STATE)
    pending = tl.full([BLOCK], 0, tl.int32)  # SAVE_DIFF: the float16 bits of the last even step
    for t in tl.range(0, T, num_stages=STAGES):  # STAGES > 1: Triton may prefetch the loads that many steps ahead
        x = tl.load(x_ptr, mask=mask, other=0.0).to(STATE)
        drive = x
        if CUBA:
            i_next = ALPHA * i + SYN_GAIN * x
            if MEMBRANE_FIRST:
                drive = i
            else:
                drive = i_next
            i = i_next
        h = V_LEAK + BETA * (v - V_LEAK) + GAIN * drive
        u = h
        if NEXT_STEP:
            if RESET == 1:
                u = h - s_prev * THETA
            if RESET == 2:
                fired = tl.minimum(s_prev, 1.0)
                u = (1.0 - fired) * h + fired * V_RESET
        w = u
        if SPIKES:
            s = FIRE(u, u - THETA, THETA, GE, MAX_SPIKES, SPIKE_FN, STATE, BLOCK)
            crossed = s > 0.0
            if not NEXT_STEP:
                if RESET == 1:
                    w = u - s * THETA
                if RESET == 2:
                    fired = tl.minimum(s, 1.0)
                    w = (1.0 - fired) * u + fired * V_RESET
            tl.store(s_ptr, s, mask=mask)
            s_prev = s
        if HAS_V_MIN:
            w = tl.maximum(w, V_MIN)
        v = w
        if WRITE_V:
            tl.store(v_ptr, v, mask=mask)
        if SAVE:
            m = u
            if NEXT_STEP and RESET == 2:
                m = h
            if SAVE_DIFF:
                m = (m - THETA).to(tl.float16)
                if RECOMPUTE_S:  # the backward fires on the sign of m: rounding must not move it across 0
                    if GE:  # -0 would fire
                        m = tl.where(crossed, m, tl.where(m >= 0.0, -TINY_F16, m))
                    else:  # an underflow to 0 would not
                        m = tl.where(crossed, tl.where(m <= 0.0, TINY_F16, m), m)
                bits = m.to(tl.int16, bitcast=True).to(tl.int32) & 0xFFFF
                step = offs * 0 + t  # a tensor: the interpreter's masks must be
                odd = step % 2 == 1
                tl.store(m_ptr, tl.where(odd, pending | (bits << 16), bits), mask=mask & (odd | (step == T - 1)))
                pending = bits
                m_ptr += N * (t % 2)  # the next pair's word after an odd step
            else:
                tl.store(m_ptr, m, mask=mask)
                m_ptr += N
        x_ptr += N
        s_ptr += N
        v_ptr += N


@triton.jit(do_not_specialize=["T"])
def neuron_backward(
    gs_ptr,  # [T, N] gradient of the spikes (if HAS_GS): read once
    gv_ptr,  # [T, N] gradient of the membrane (if HAS_GV): read once
    s_ptr,  # [T, N] the forward's spikes (if LOAD_S): read once
    m_ptr,  # [T, N] the forward's saved membrane (if SAVE): read once; [ceil(T / 2), N] int32 words if SAVE_DIFF
    dx_ptr,  # [T, N] out: gradient of the input, written once
    N,  # neurons per time step
    T,  # time steps
    SG: tl.constexpr,  # the generated surrogate derivative, scale * g'(x) (codegen.py)
    FIRE: tl.constexpr,  # fire(), as in the forward
    STATE: tl.constexpr,
    BETA: tl.constexpr, ALPHA: tl.constexpr, GAIN: tl.constexpr, SYN_GAIN: tl.constexpr,
    V_LEAK: tl.constexpr, THETA: tl.constexpr, V_RESET: tl.constexpr, V_MIN: tl.constexpr, V_INIT: tl.constexpr,
    MAX_SPIKES: tl.constexpr,
    CUBA: tl.constexpr, MEMBRANE_FIRST: tl.constexpr, SPIKES: tl.constexpr, SPIKE_FN: tl.constexpr,
    RESET: tl.constexpr, NEXT_STEP: tl.constexpr, GE: tl.constexpr, HAS_V_MIN: tl.constexpr,
    SAVE: tl.constexpr, SAVE_DIFF: tl.constexpr,
    DETACH: tl.constexpr,  # no gradient through the reset's spike term
    HAS_GS: tl.constexpr, HAS_GV: tl.constexpr,
    LOAD_S: tl.constexpr,  # read the forward's spikes (a next-step reset to a value needs s[t-1])
    RECOMPUTE_S: tl.constexpr,  # fire again on the saved m instead (the same compare on the same value)
    BLOCK: tl.constexpr, STAGES: tl.constexpr,
):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    stride = tl.cast(N, tl.int64)  # (N may be the constexpr 1) 64-bit index arithmetic (the interpreter checks 32-bit arithmetic for overflow, slowly)
    steps = T.to(tl.int64)
    last = (steps - 1) * stride + offs
    gs_ptr += last
    gv_ptr += last
    s_ptr += last
    dx_ptr += last
    if SAVE_DIFF:
        m_ptr += ((steps - 1) // 2) * stride + offs  # the word of the last pair
    else:
        m_ptr += last
    word = tl.full([BLOCK], 0, tl.int32)  # SAVE_DIFF: the word of steps t (and t + 1 or t - 1)
    av = tl.full([BLOCK], 0.0, STATE)  # adjoint of v[t] from step t+1
    as_ = tl.full([BLOCK], 0.0, STATE)  # adjoint of s[t] from step t+1 (next-step reset)
    ai = tl.full([BLOCK], 0.0, STATE)  # adjoint of i[t] from step t+1
    s = tl.full([BLOCK], 0.0, STATE)
    if LOAD_S:
        s = tl.load(s_ptr, mask=mask, other=0.0).to(STATE)
    for k in tl.range(0, T, num_stages=STAGES):  # t = T - 1 - k
        s_prev = tl.full([BLOCK], 0.0, STATE)
        if LOAD_S:
            s_prev = tl.load(s_ptr - stride, mask=mask & (offs * 0 + k < steps - 1), other=0.0).to(STATE)  # no step -1
        vbar = av
        if HAS_GV:
            vbar = vbar + tl.load(gv_ptr, mask=mask, other=0.0).to(STATE)
        u = tl.full([BLOCK], 0.0, STATE)
        h = u
        if SAVE:
            if SAVE_DIFF:
                t = steps - 1 - k
                step = offs * 0 + t  # a tensor: the interpreter's masks must be
                odd = step % 2 == 1
                first = odd | (step == steps - 1)  # an odd step, or the last one: the pair's word is read here
                word = tl.where(first, tl.load(m_ptr, mask=mask & first, other=0), word)
                bits = tl.where(odd, word >> 16, word) & 0xFFFF
                diff = bits.to(tl.int16).to(tl.float16, bitcast=True).to(STATE)
                m = diff + THETA
                m_ptr -= stride * (1 - t % 2)  # the previous pair's word after an even step
            else:
                m = tl.load(m_ptr, mask=mask, other=0.0).to(STATE)
                diff = m - THETA
                m_ptr -= stride
            u = m
            h = m
            if NEXT_STEP and RESET == 2:
                fired_prev = tl.minimum(s_prev, 1.0)
                u = (1.0 - fired_prev) * h + fired_prev * V_RESET
            if RECOMPUTE_S:  # m is u here: the forward's compare on the forward's value
                s = FIRE(u, diff, THETA, GE, MAX_SPIKES, SPIKE_FN, STATE, BLOCK)
        if HAS_V_MIN:  # the forward's same-step reset, recomputed (not saved) to know whether v_min clipped
            w = u
            if not NEXT_STEP:
                if RESET == 1:
                    w = u - s * THETA
                if RESET == 2:
                    fired = tl.minimum(s, 1.0)
                    w = (1.0 - fired) * u + fired * V_RESET
            vbar = tl.where(w >= V_MIN, vbar, 0.0)
        ubar = vbar
        hbar = vbar
        if SPIKES:
            sbar = as_
            if HAS_GS:
                sbar = sbar + tl.load(gs_ptr, mask=mask, other=0.0).to(STATE)
            if not NEXT_STEP:
                if RESET == 1:
                    if not DETACH:
                        sbar = sbar - vbar * THETA
                if RESET == 2:
                    ubar = vbar * (1.0 - tl.minimum(s, 1.0))
                    if not DETACH:
                        sbar = sbar + tl.where(s <= 1.0, vbar * (V_RESET - u), 0.0)
            ubar = ubar + sbar * SG(u - THETA)
            hbar = ubar
            if NEXT_STEP:
                if RESET == 1:
                    if not DETACH:
                        as_ = -(ubar * THETA)
                if RESET == 2:
                    hbar = ubar * (1.0 - tl.minimum(s_prev, 1.0))
                    if not DETACH:
                        as_ = tl.where(s_prev <= 1.0, ubar * (V_RESET - h), 0.0)
        av = BETA * hbar
        dbar = GAIN * hbar
        if CUBA:
            if MEMBRANE_FIRST:
                ibar = ai
                ai = ALPHA * ibar + dbar
            else:
                ibar = dbar + ai
                ai = ALPHA * ibar
            dx = SYN_GAIN * ibar
        else:
            dx = dbar
        tl.store(dx_ptr, dx, mask=mask)
        s = s_prev
        gs_ptr -= stride
        gv_ptr -= stride
        s_ptr -= stride
        dx_ptr -= stride
