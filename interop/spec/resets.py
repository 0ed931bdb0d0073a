"""Reset rules as tiny torch functions sharing one signature, swappable for each other.

``ResetRule(v, s, theta, v_reset) -> v``: the membrane after the reset caused by spike count
``s`` (0 or 1 for single spikes). Gradients flow through ``s`` unless the caller detaches it.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from snn_interop.spec.neurons import ResetMode

ResetRule = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]


def reset_subtract(v: torch.Tensor, s: torch.Tensor, theta: torch.Tensor, v_reset: float) -> torch.Tensor:
    """v - s theta: keeps the overshoot; subtracts theta once per spike."""
    return v - s * theta


def reset_to_value(v: torch.Tensor, s: torch.Tensor, theta: torch.Tensor, v_reset: float) -> torch.Tensor:
    """(1 - min(s, 1)) v + min(s, 1) v_reset: v_reset wherever the neuron spiked."""
    fired = s.clamp(max=1.0)
    return (1.0 - fired) * v + fired * v_reset


def reset_none(v: torch.Tensor, s: torch.Tensor, theta: torch.Tensor, v_reset: float) -> torch.Tensor:
    """No reset: the membrane keeps integrating."""
    return v


RESETS: dict[ResetMode, ResetRule] = {
    ResetMode.SUBTRACT: reset_subtract,
    ResetMode.TO_VALUE: reset_to_value,
    ResetMode.NONE: reset_none,
}
