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
