"""Hypothesis strategies derived from the spec's parameter domains."""
from __future__ import annotations

import math

from hypothesis import strategies as st

from snn_interop.spec.schema import Param, Surrogate

# Keep sampled values where the formulas are well conditioned on the test grid |x| <= 4.
SPAN = (0.2, 8.0)


def param_values(p: Param) -> st.SearchStrategy[float]:
    low = p.low if math.isfinite(p.low) else -2.0
    high = p.high if math.isfinite(p.high) else max(low, 0.0) + SPAN[1]
    if p.low == 0.0 and not p.closed[0]:
        low = SPAN[0]
    if p.low == 1.0 and not p.closed[0]:  # e.g. q_pseudo_spike alpha > 1
        low = 1.2
    if p.integer:
        return st.integers(int(math.ceil(low)), min(int(high), 6)).map(float)
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def configs(s: Surrogate, with_scale: bool = True) -> st.SearchStrategy[dict[str, float]]:
    params = s.all_params if with_scale else s.params
    return st.fixed_dictionaries({p.name: param_values(p) for p in params})
