"""Sinabs 3.1.3 plugin.

Sinabs separates the spike function (``SingleSpike``, ``MultiSpike``, ``MaxSpike``) from the
surrogate, which is called as ``surrogate(v_mem, spike_threshold)``: several surrogates
depend on the threshold itself, not only on v - threshold. ``import sinabs`` does not import
``samna``; nothing here may.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from snn_interop_plugins._common import availability, dist_version

NAME = "sinabs"
EXTRA = "sinabs"


def available() -> str | None:
    return availability("sinabs", "sinabs")


def framework_version() -> str:
    return dist_version("sinabs")


def spike_function(native: str, kwargs: Mapping[str, float], threshold: float = 1.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """``SingleSpike`` with surrogate ``native`` (e.g. "activation.SingleExponential") on v = x + threshold."""
    from sinabs import activation

    surrogate = getattr(activation, native.removeprefix("activation."))(**kwargs)
    return lambda x: activation.SingleSpike.apply(x + threshold, threshold, surrogate).to(x.dtype)
