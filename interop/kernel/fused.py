"""A drop-in layer: the canonical neuron over T steps as two kernel launches.

``FusedNeuron(neuron)(x)`` takes time-major input ``[T, B, ...]`` and returns
``(spikes, membrane)`` (``membrane=False``: the spikes alone), both shaped like ``x`` and of its dtype, the membrane taken at the end
of each step (after reset and bound), as the plugins' ``run`` and
:func:`snn_interop.spec.oracle.simulate` (``trace.spikes``, ``trace.v``) do. The state is
float64 for float64 input and float32 otherwise (float16/bfloat16 input keeps float32 state).

Saved for backward, per neuron-step (see :mod:`.kernels` for why these suffice):

* ``save="exact"`` (default): the membrane ``m`` at the state precision, 4 bytes (float32)
  or 8 bytes (float64). The backward then evaluates the surrogate on the very value the
  forward compared with the threshold: gradients equal the oracle's up to summation order.
* ``save="float16"``: ``m - threshold`` in float16, **2 bytes** (two steps to a 32-bit word). Near the threshold, where
  the surrogate is large, float16 keeps ~11 significant bits of the distance; the gradient
  then carries that rounding (tolerance ``KERNEL_FP16_SAVED`` in
  ``conformance/tolerances.py``). Distances beyond 65504 overflow: use ``"exact"`` there.
* the spike output itself, by reference (no copy), only where the backward cannot fire again
  on the saved membrane: a next-step reset to a value (it needs ``s[t-1]``), and multi-spike
  counts under ``save="float16"``. The next layer keeps this tensor alive anyway when it
  consumes the spikes, so it adds nothing in a network. Elsewhere the backward recomputes the
  spikes it needs (the forward's compare on the same value: the same spikes).
* nothing at all for the leaky integrator (its backward is linear).

Not covered, refused with :class:`NotFusable` naming the feature: the adaptive-threshold LIF
and parameters that differ across neurons (per-neuron values); use the oracle or a plugin.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from snn_interop.spec.neurons import Model, Neuron, ResetMode, ResetTiming, SpikeFn, SynapseOrder, Compare

SAVE_MODES = ("exact", "float16")


class NotFusable(NotImplementedError):
    """A canonical feature the fused kernel does not implement; the message names it."""


@dataclass(frozen=True)
class Plan:
    """The kernels' compile-time constants for one neuron: every convention as data."""

    BETA: float
    ALPHA: float
    GAIN: float
    SYN_GAIN: float
    V_LEAK: float
    THETA: float
    V_RESET: float
    V_MIN: float
    V_INIT: float
    MAX_SPIKES: int
    CUBA: bool
    MEMBRANE_FIRST: bool
    SPIKES: bool
    SPIKE_FN: int
    RESET: int
    NEXT_STEP: bool
    GE: bool
    HAS_V_MIN: bool
    DETACH: bool
    SAVE: bool
    NEEDS_S: bool  #: the backward needs the spikes (a reset to a value, or v_min under a same-step reset)

    def constants(self, *names: str) -> dict[str, Any]:
        return {k: getattr(self, k) for k in names}


_COMMON = ("BETA", "ALPHA", "GAIN", "SYN_GAIN", "V_LEAK", "THETA", "V_RESET", "V_MIN", "V_INIT", "MAX_SPIKES", "CUBA",
           "MEMBRANE_FIRST", "SPIKES", "SPIKE_FN", "RESET", "NEXT_STEP", "GE", "HAS_V_MIN", "SAVE")
_RESET_CODE = {ResetMode.NONE: 0, ResetMode.SUBTRACT: 1, ResetMode.TO_VALUE: 2}
_SPIKE_FN_CODE = {SpikeFn.SINGLE: 0, SpikeFn.MULTI: 1, SpikeFn.MAX: 2}


def plan(neuron: Neuron) -> Plan:
    """The kernels' constants for ``neuron``, or :class:`NotFusable` naming what is missing."""
    if neuron.model is Model.ADAPTIVE_LIF:
        raise NotFusable("the fused kernel does not implement the adaptive-threshold LIF (model adaptive_lif): "
                         "run it with snn_interop.spec.oracle.simulate or a framework plugin")
    if neuron.per_neuron:
        raise NotFusable(f"the fused kernel takes one value per parameter for all neurons; {', '.join(neuron.per_neuron)} "
                         "differ across neurons (per-neuron parameters): run it with the oracle or a framework plugin")
    cuba, spikes = neuron.has_synapse, neuron.spikes
    reset = _RESET_CODE[neuron.reset] if spikes else 0
    has_v_min = spikes and neuron.v_min is not None  # the oracle bounds only neurons that fire
    needs_s = spikes and (reset == 2 or (has_v_min and reset != 0 and neuron.reset_timing is ResetTiming.SAME_STEP))
    return Plan(
        BETA=float(neuron.decay.beta), ALPHA=float(neuron.syn_decay.beta) if cuba else 0.0,
        GAIN=float(neuron.input_gain), SYN_GAIN=float(neuron.syn_input_gain) if cuba else 0.0,
        V_LEAK=float(neuron.v_leak), THETA=float(neuron.threshold) if spikes else 0.0,
        V_RESET=float(neuron.v_reset) if reset == 2 else 0.0, V_MIN=float(neuron.v_min) if has_v_min else 0.0,
        V_INIT=float(neuron.v_init), MAX_SPIKES=int(neuron.max_spikes) if neuron.spike_fn is SpikeFn.MAX else 1,
        CUBA=cuba, MEMBRANE_FIRST=cuba and neuron.synapse_order is SynapseOrder.MEMBRANE_FIRST,
        SPIKES=spikes, SPIKE_FN=_SPIKE_FN_CODE[neuron.spike_fn] if spikes else 0, RESET=reset,
        NEXT_STEP=spikes and reset != 0 and neuron.reset_timing is ResetTiming.NEXT_STEP,
        GE=neuron.compare is Compare.GE, HAS_V_MIN=has_v_min, DETACH=bool(neuron.detach_reset) and spikes,
        SAVE=spikes, NEEDS_S=needs_s,
    )


def spike_source(p: Plan, save: str) -> dict[str, bool]:
    """How the backward gets the spikes it needs: ``LOAD_S`` reads the forward's output (a
    next-step reset to a value needs ``s[t-1]``, which the saved ``h`` cannot give; and
    multi-spike counts from a float16 ``m``), ``RECOMPUTE_S`` fires again on the saved ``m``."""
    load = p.NEEDS_S and ((p.NEXT_STEP and p.RESET == 2) or (p.SPIKE_FN != 0 and save == "float16"))
    return {"LOAD_S": load, "RECOMPUTE_S": p.NEEDS_S and not load}


def saved_bytes_per_step(neuron: Neuron, dtype: torch.dtype = torch.float32, save: str = "exact") -> int:
    """Bytes the forward stores for the backward per neuron-step, beyond the spike output it may keep a reference to."""
    p = plan(neuron)
    if not p.SAVE:
        return 0
    return 2 if save == "float16" else _state_dtype(dtype).itemsize


def _state_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _tl_dtype(dtype: torch.dtype) -> Any:
    import triton.language as tl

    return tl.float64 if dtype == torch.float64 else tl.float32


Setting = int | tuple[int, int] | None  #: a launch setting: one value for both launches, or (forward, backward)

# The compiled launches' defaults (each a Setting: one value, or (forward, backward)): 512 neurons
# per program on 4 warps, 4 neurons per thread in 16-byte accesses, 7 stages: the fastest shape of
# the float16-saved spikes-only kernel in a 70-shape sweep on an H100, within 2 % of the fastest
# for save="exact" (docs/performance.md, 2026-11-27)
BLOCK: Setting = 512  #: neurons per program
WARPS: Setting = 4  #: warps per program
STAGES: Setting = 7  #: software-pipelining depth of the time loops (tl.range num_stages): loads run 6 steps ahead


def launch_shape(n: int, device: torch.device, backward: bool = False, block: Setting = None, warps: Setting = None,
                 stages: Setting = None) -> tuple[int, int, int]:
    """(neurons per program, warps, stages) of the forward or the ``backward`` launch on ``n`` neurons:
    each setting as given, else its default (:data:`BLOCK`, :data:`WARPS`, :data:`STAGES`; in the
    interpreter one program for up to 4096 neurons); a pair ``(forward, backward)`` sets each launch."""
    from snn_interop.kernel.runtime import interpreting

    def pick(name: str, value: Setting, default: Setting) -> int:
        value = default if value is None else value
        if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
            return value[int(backward)]
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int or a (forward, backward) pair of ints, got {value!r}")
        return value

    default_block = min(4096, max(16, 1 << (max(n, 1) - 1).bit_length())) if interpreting(device) else BLOCK
    return pick("block", block, default_block), pick("warps", warps, WARPS), pick("stages", stages, STAGES)


@dataclass(frozen=True)
class Prepared:
    """What every launch for one neuron needs, computed once: the plan, its constants and the
    generated surrogate derivative (the layer keeps one; :func:`fused_run` makes one per call)."""

    neuron: Neuron
    plan: Plan
    constants: dict[str, Any]
    derivative: Any  # the @triton.jit surrogate derivative, or None when the neuron does not fire


def prepare(neuron: Neuron) -> Prepared:
    """:class:`Prepared` for ``neuron``, or :class:`NotFusable` naming what the kernel lacks."""
    from snn_interop.kernel import codegen

    p = plan(neuron)
    return Prepared(neuron, p, p.constants(*_COMMON), codegen.derivative(neuron.surrogate) if p.SPIKES else None)


class FusedNeuronFunction(torch.autograd.Function):
    """Forward: one launch of ``neuron_forward``; backward: one launch of ``neuron_backward``.

    Returns ``(spikes, membrane)``, or the spikes alone when ``membrane`` is False."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, prepared: Prepared, save: str, block: Setting,
                warps: Setting, stages: Setting, membrane: bool = True) -> Any:
        from snn_interop.kernel import kernels
        from snn_interop.kernel.runtime import callee, for_tensor

        if save not in SAVE_MODES:
            raise ValueError(f"save must be one of {SAVE_MODES}, got {save!r}")
        if x.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            raise TypeError(f"the fused kernel takes float16, bfloat16, float32 or float64 input, got {x.dtype}")
        if x.dim() < 1:
            raise ValueError("input must be time-major [T, ...]")
        p = prepared.plan
        source = spike_source(p, save)
        steps = x.shape[0]
        n = x[0].numel() if steps else 0
        xs = x.contiguous().view(steps, n)
        s = torch.empty_like(xs)
        v = torch.empty_like(xs) if membrane else s
        rows = (steps + 1) // 2 if save == "float16" else steps  # float16: two steps per int32 word (kernels.py)
        m = torch.empty((rows, n), dtype=torch.int32 if save == "float16" else _state_dtype(x.dtype), device=x.device) if p.SAVE else s
        blk, num_warps, num_stages = launch_shape(n, x.device, False, block, warps, stages)
        if steps and n:
            if not p.SPIKES:
                s.zero_()
            for_tensor(kernels.neuron_forward, x)[(triton_cdiv(n, blk),)](
                xs, s, v, m, n, steps, FIRE=callee(kernels.fire, x.device), STATE=_tl_dtype(x.dtype), **prepared.constants, SAVE_DIFF=save == "float16",
                WRITE_V=membrane, RECOMPUTE_S=source["RECOMPUTE_S"], BLOCK=blk, STAGES=num_stages,
                num_warps=num_warps, enable_fp_fusion=False)
        spikes = s.view(x.shape)
        ctx.set_materialize_grads(False)
        ctx.prepared, ctx.save, ctx.block, ctx.warps, ctx.stages, ctx.source = prepared, save, block, warps, stages, source
        ctx.shape, ctx.n, ctx.dtype, ctx.membrane = x.shape, n, x.dtype, membrane
        ctx.save_for_backward(spikes if source["LOAD_S"] else None, m if p.SAVE else None)
        return (spikes, v.view(x.shape)) if membrane else spikes

    @staticmethod
    def backward(ctx: Any, g_spikes: torch.Tensor | None, g_membrane: torch.Tensor | None = None) -> tuple[Any, ...]:
        from snn_interop.kernel import kernels
        from snn_interop.kernel.runtime import callee, for_tensor

        none = (None,) * 6
        spikes, m = ctx.saved_tensors
        prepared: Prepared = ctx.prepared
        p = prepared.plan
        steps, n = ctx.shape[0], ctx.n
        like = g_membrane if g_membrane is not None else g_spikes
        if like is None:
            return (None, *none)
        dx = torch.empty((steps, n), dtype=ctx.dtype, device=like.device)
        if steps and n:
            gs = g_spikes.contiguous().view(steps, n) if g_spikes is not None and p.SPIKES else dx
            gv = g_membrane.contiguous().view(steps, n) if g_membrane is not None else dx
            sg = callee(prepared.derivative, dx.device)
            blk, num_warps, num_stages = launch_shape(n, dx.device, True, ctx.block, ctx.warps, ctx.stages)
            for_tensor(kernels.neuron_backward, dx)[(triton_cdiv(n, blk),)](
                gs, gv, spikes.view(steps, n) if spikes is not None else dx, m if m is not None else dx, dx, n, steps,
                SG=sg, FIRE=callee(kernels.fire, dx.device), STATE=_tl_dtype(dx.dtype), **prepared.constants, SAVE_DIFF=ctx.save == "float16",
                DETACH=p.DETACH, HAS_GS=g_spikes is not None and p.SPIKES, HAS_GV=g_membrane is not None,
                **ctx.source, BLOCK=blk, STAGES=num_stages, num_warps=num_warps, enable_fp_fusion=False)
        return (dx.view(ctx.shape), *none)


def triton_cdiv(a: int, b: int) -> int:
    return -(-a // b)


def fused_run(neuron: Neuron, x: torch.Tensor, save: str = "exact", block: Setting = None,
              warps: Setting = None, stages: Setting = None, membrane: bool = True) -> Any:
    """``neuron`` over time-major ``x`` ``[T, B, ...]``: ``(spikes, membrane)``, differentiable in ``x``;
    the spikes alone when ``membrane`` is False (the membrane is then never written: 1/4 fewer bytes).

    ``block`` (neurons per program, a power of two), ``warps`` (warps per program) and
    ``stages`` (pipelining depth of the time loop) override the launch defaults
    (:func:`launch_shape`), each one value for both launches or a ``(forward, backward)`` pair."""
    return FusedNeuronFunction.apply(x, prepare(neuron), save, block, warps, stages, membrane)


class FusedNeuron(torch.nn.Module):
    """The canonical ``neuron`` as a layer on time-major input ``[T, B, ...]`` -> ``(spikes, membrane)``,
    or -> ``spikes`` with ``membrane=False`` (like spikingjelly's and sinabs's layers, which return spikes).

    ``save`` chooses what the forward keeps for the backward (``"exact"`` or ``"float16"``,
    see the module docstring); ``block``, ``warps`` and ``stages`` override the launch (:func:`fused_run`). The neuron is
    checked when the layer is built (:class:`NotFusable` names a missing feature). On a
    CPU tensors, Triton runs in its CPU interpreter (:mod:`.runtime`).
    """

    def __init__(self, neuron: Neuron, save: str = "exact", block: Setting = None, warps: Setting = None,
                 stages: Setting = None, membrane: bool = True) -> None:
        super().__init__()
        if save not in SAVE_MODES:
            raise ValueError(f"save must be one of {SAVE_MODES}, got {save!r}")
        launch_shape(1, torch.device("cpu"), False, block, warps, stages)  # a malformed setting fails here, not at the first call
        self.prepared = prepare(neuron)  # a feature or derivative the kernel cannot carry fails here, not in backward
        self.neuron, self.save, self.block, self.warps, self.stages, self.membrane = neuron, save, block, warps, stages, membrane

    def forward(self, x: torch.Tensor) -> Any:
        return FusedNeuronFunction.apply(x, self.prepared, self.save, self.block, self.warps, self.stages, self.membrane)

    def extra_repr(self) -> str:
        return f"{self.neuron.model.value}, save={self.save!r}" + ("" if self.membrane else ", membrane=False")


def moved_bytes_per_step(neuron: Neuron, dtype: torch.dtype = torch.float32, save: str = "exact",
                         membrane: bool = True) -> tuple[int, int]:
    """Bytes per neuron-step the two launches must move, (forward, backward), for a loss on the spikes only.

    Forward: read x, write the spikes, the membrane (if ``membrane``) and the saved ``m``.
    Backward: read the spikes' gradient, ``m`` and (``LOAD_S``) the spikes; write dx."""
    size = torch.empty((), dtype=dtype).element_size()
    p, saved = plan(neuron), saved_bytes_per_step(neuron, dtype, save)
    load_s = spike_source(p, save)["LOAD_S"]
    return (2 + membrane) * size + saved, 2 * size + saved + (size if load_s else 0)
