"""SpikingJelly 2.0.0 (``spikingjelly.activation_based``) plugin.

Surrogates are ``nn.Module`` classes in ``activation_based.surrogate`` called on
x = v - v_threshold; ``spiking=True`` gives the Heaviside forward.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

import torch

from snn_interop_plugins._common import availability, dist_version

NAME = "spikingjelly"
EXTRA = "spikingjelly"


def available() -> str | None:
    return availability("spikingjelly", "spikingjelly")


def framework_version() -> str:
    return dist_version("spikingjelly")


def spike_function(native: str, kwargs: Mapping[str, float], threshold: float = 1.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """SpikingJelly's surrogate module ``native`` (e.g. "surrogate.ATan") applied to x."""
    from spikingjelly.activation_based import surrogate

    cls = getattr(surrogate, native.removeprefix("surrogate."))
    # FakeNumericalGradient takes no `spiking` argument: it always spikes
    spiking = {"spiking": True} if "spiking" in inspect.signature(cls.__init__).parameters else {}
    module = cls(**kwargs, **spiking)
    return lambda x: module(x)
