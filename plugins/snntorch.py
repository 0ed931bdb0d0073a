"""snnTorch 1.0.0 plugin: spike functions are factories in ``snntorch.surrogate``.

snnTorch applies ``spike_grad(mem - threshold)``; its spike tensor is float32 whatever the
input dtype (measured), so :func:`spike_function` casts the result back.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from snn_interop_plugins._common import availability, dist_version

NAME = "snntorch"
EXTRA = "snntorch"


def available() -> str | None:
    return availability("snntorch", "snntorch")


def framework_version() -> str:
    return dist_version("snntorch")


def spike_function(native: str, kwargs: Mapping[str, float], threshold: float = 1.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """snnTorch's own spike function ``native`` (e.g. "surrogate.atan") applied to x = v - threshold."""
    import snntorch.surrogate

    factory = getattr(snntorch.surrogate, native.removeprefix("surrogate."))
    fn = factory(**kwargs)
    return lambda x: fn(x).to(x.dtype)
