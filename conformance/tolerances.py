"""Named tolerances, each with the reason for its size. Tests and reports use only these."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float
    reason: str


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

#: The conformance suite's tolerance per (case dtype, quantity).
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
