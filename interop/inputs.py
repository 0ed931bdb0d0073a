"""The seeded input the checks run on: Bernoulli spikes ``[steps, batch, *shape]``,

    x = (torch.rand(steps, batch, *shape, generator=torch.Generator().manual_seed(seed)) < p).to(dtype)

``snn-convert --verify``, the reference it embeds (:mod:`snn_interop.reference`) and
``snn-interop compare`` draw it this one way, so a seed and a rate name the same input in each."""
from __future__ import annotations

import torch

SPIKE_P = 0.3  #: default probability of an input spike per step and input channel
BATCH = 2  #: default samples per input
RECIPE = "(torch.rand(steps, batch, *shape, generator=torch.Generator().manual_seed(seed)) < p).to(dtype)"


def check_rate(p: float) -> float:
    """``p`` if it is a spike probability the input can use (0 < p <= 1), else ValueError."""
    if not 0.0 < p <= 1.0:
        raise ValueError(f"the input's spike probability must be in (0, 1], not {p:g}")
    return p


def bernoulli_input(steps: int, shape: tuple[int, ...], seed: int, dtype: torch.dtype, *, p: float = SPIKE_P,
                    batch: int = BATCH) -> torch.Tensor:
    """Seeded Bernoulli(``p``) spikes ``[steps, batch, *shape]`` in ``dtype`` (:data:`RECIPE`)."""
    check_rate(p)
    return (torch.rand(steps, batch, *shape, generator=torch.Generator().manual_seed(seed)) < p).to(dtype)
