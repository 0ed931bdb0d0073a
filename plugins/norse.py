"""Norse 1.1.0 plugin.

Norse selects its surrogate by name, ``threshold(x, method, alpha)`` in
``norse.torch.functional.threshold``, on x = v - v_th; its Heaviside fires at x > 0.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from snn_interop_plugins._common import availability, dist_version

NAME = "norse"
EXTRA = "norse"


def available() -> str | None:
    return availability("norse", "norse")


def framework_version() -> str:
    return dist_version("norse")


def spike_function(native: str, kwargs: Mapping[str, float], threshold: float = 1.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """Norse's spike function: ``native`` is "threshold:<method>" or a function in functional.threshold."""
    from norse.torch.functional import threshold as th

    if native.startswith("threshold:"):
        method = native.removeprefix("threshold:")
        return lambda x: th.threshold(x, method, kwargs.get("alpha", 0.0))
    fn = getattr(th, native)
    return lambda x: fn(x, *kwargs.values())
