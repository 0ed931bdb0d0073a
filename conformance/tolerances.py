"""Named tolerances, each with the reason for its size. Tests and reports use only these."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float
    reason: str

    def exceeded(self, error: Any, reference: Any) -> Any:
        """Where an absolute ``error`` is over atol + rtol |reference| (torch or numpy, elementwise)."""
        return error > self.atol + self.rtol * abs(reference)


#: The same float64 formula evaluated along two paths (a few roundings of O(1) values).
FP64_EXACT = Tolerance(1e-12, 1e-12, "float64 rounding of a handful of O(1) operations")

#: A hand-written derivative vs autograd of the primitive, float64, on a dense grid: both are
#: rounded closed forms; rtol covers cancellation in e.g. 1 - tanh^2 near saturation.
FP64_DERIVATIVE = Tolerance(1e-10, 1e-9, "two float64 closed forms of one derivative, cancellation near saturation")

#: A framework's float32 function vs the float64 canonical formula on O(1) inputs.
FP32_VS_FP64 = Tolerance(1e-6, 1e-5, "float32 evaluation (eps 1.2e-7) of exp/atan/erf over |x| <= 4 vs float64")

#: Two float64 simulations of the same update written in a different operation order
#: (e.g. v + a (i - v) vs (1 - a) v + a i), over up to a few hundred steps.
FP64_REORDERED = Tolerance(1e-10, 1e-9, "float64 rounding of reordered arithmetic accumulated over <= 256 steps")

#: A gradient that passed through a float32 tensor (snntorch and sinabs return float32 spikes,
#: so the incoming gradient of the spikes is rounded to float32) vs the float64 oracle.
FP32_GRADIENT = Tolerance(1e-6, 1e-5, "incoming spike gradients rounded to float32 (eps 1.2e-7), summed over <= 256 steps")

#: A converted model against its source (snn-convert --verify), float64: atol bounds the
#: membrane difference, rtol the gradients' error relative to their largest entry.
CONVERT_FP64 = Tolerance(1e-6, 1e-6, "float64: identical semantics, different operation order")

#: The same in float32 (eps 1.2e-7), over T steps and several layers.
CONVERT_FP32 = Tolerance(1e-4, 1e-4, "float32 (eps 1.2e-7): identical semantics, different operation order, over T steps")

#: A float32 run of a framework vs the float64 oracle over <= 256 steps, membranes up to a few
#: thresholds: float32 rounding (eps 1.2e-7) accumulates through the leak.
FP32_MEMBRANE = Tolerance(1e-5, 1e-5, "float32 state (eps 1.2e-7) accumulated over <= 256 steps vs float64")

#: The same for input gradients through BPTT (relative to the largest entry).
FP32_BPTT = Tolerance(1e-4, 1e-4, "float32 BPTT (eps 1.2e-7) through <= 256 steps vs float64")

#: Unit roundoff (half an ulp of 1) of the half-precision dtypes.
UNIT_ROUNDOFF = {"float16": 2.0 ** -11, "bfloat16": 2.0 ** -8}

#: Half precision (float16, bfloat16 state in the frameworks; float32 state in the fused kernel)
#: vs the float64 oracle. Each step rounds the state by a unit roundoff u of its size, and the
#: errors accumulate over the steps the neuron remembers, n = min(T, 1 / (1 - beta)
#: [+ 1 / (1 - alpha) for the synaptic current]) (T for an IF: nothing leaks), so the
#: tolerance is rtol = min(C u n, CAP) relative to the largest value (membrane, with atol =
#: rtol at the threshold's scale) or entry (gradient).
#: Measured worst, quick suite (T = 48) and every 256-step case (CPU, 2026-11-26), as a
#: multiple of u n: membrane 1.04 (snntorch, bfloat16), input gradient 3.13 (snntorch,
#: float16), parameter gradients 3.50 (snntorch, float16; of the sum of their per-neuron
#: magnitudes; sinabs's declared threshold deviation aside). Largest plain errors: membrane 8.4 % (snntorch, bfloat16 IF without reset over
#: 256 steps: its membrane reaches hundreds, where bfloat16's spacing is 2), gradient 21 %
#: (spikingjelly, bfloat16 IF over 256 steps). The caps keep a check from becoming vacuous
#: there: a bfloat16 IF over 256 steps is checked to 25 % (membrane) and 50 % (gradients),
#: which is what 8 significant bits give.
HALF_MEMBRANE_C, HALF_MEMBRANE_CAP = 4.0, 0.25
#: A half-precision spike flip counts as rounding (the neuron is compared up to it) where the
#: oracle is within u n (1 + m) of the threshold, m the largest |v| the neuron has had so far.
#: Measured: every flip of the quick suite and the small 256-step cases lies within 0.26 u n m
#: (snntorch, bfloat16); a reset one step late flips at ~5 u n m in bfloat16 and still fails.
HALF_FLIP_C = 1.0
HALF_GRADIENT_C, HALF_GRADIENT_CAP = 16.0, 0.5


def half_tolerance(dtype: str, quantity: str, memory: float) -> Tolerance:
    """The tolerance of a half-precision case (``quantity`` "membrane", "gradient", or "flip": how
    close to the threshold a spike flip is rounding) whose neuron remembers ``memory`` steps (see above)."""
    u = UNIT_ROUNDOFF[dtype]
    c, cap = (HALF_MEMBRANE_C, HALF_MEMBRANE_CAP) if quantity == "membrane" else (HALF_GRADIENT_C, HALF_GRADIENT_CAP)
    if quantity == "flip":
        return Tolerance(HALF_FLIP_C * u * memory, HALF_FLIP_C * u * memory, f"{dtype} rounding accumulated over {memory:.3g} steps")
    rtol = min(c * u * memory, cap)
    return Tolerance(rtol if quantity == "membrane" else 0.0, rtol,
                     f"{dtype} state (unit roundoff {u:.2g}) accumulated over {memory:.3g} remembered steps: "
                     f"min({c:g} u n, {cap:g})")


#: The conformance suite's tolerance per (case dtype, quantity); half precision: half_tolerance.
TOLERANCES = {
    ("float64", "membrane"): FP64_REORDERED,
    ("float64", "gradient"): FP32_GRADIENT,
    ("float32", "membrane"): FP32_MEMBRANE,
    ("float32", "gradient"): FP32_BPTT,
}

#: The fused kernel in float32 (snn_interop.kernel) vs the float64 oracle: float32 state
#: (eps 1.2e-7) through the forward recurrence and its BPTT. Measured worst over the conformance
#: cases at 16-20 steps: membrane 2.7e-6, gradient 5.6e-6 abs (2026-11-25).
KERNEL_FP32 = Tolerance(1e-5, 1e-4, "float32 state and BPTT (eps 1.2e-7) through <= 64 steps vs float64")

#: The fused kernel with save="float16" (snn_interop.kernel) vs the float64 oracle: the backward
#: evaluates the surrogate at v - theta rounded to float16 (11 significant bits, relative 4.9e-4
#: where the surrogate is steep), and that error flows through BPTT. Measured worst: 1.1e-2
#: abs on gradients up to ~10, within 1.7e-3 + 1e-3 |g| (conformance cases, 16 steps, 2026-11-25).
KERNEL_FP16_SAVED = Tolerance(5e-3, 5e-3, "surrogate evaluated at float16-rounded v - theta (rel 4.9e-4), through BPTT")
