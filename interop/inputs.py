"""The seeded input the checks run on: Bernoulli spikes ``[steps, batch, *shape]``,

    x = (torch.rand(steps, batch, *shape, generator=torch.Generator().manual_seed(seed)) < p).to(dtype)

``snn-convert --verify``, the reference it embeds (:mod:`snn_interop.reference`) and
``snn-interop compare`` draw it this one way, so a seed and a rate name the same input in each.
Or the user's own input, saved as ``torch.save({"x": x}, path)`` (:func:`save_inputs`,
``--save-inputs``) and given with ``--load-inputs``."""
from __future__ import annotations

from pathlib import Path

import torch

from snn_interop.errors import BadSource

SPIKE_P = 0.3  #: default probability of an input spike per step and input channel
BATCH = 2  #: default samples per input
RECIPE = "(torch.rand(steps, batch, *shape, generator=torch.Generator().manual_seed(seed)) < p).to(dtype)"


def more_spikes(given: bool = False) -> str:
    """How to exercise spikes an input left silent: another seeded input, or (``given``) another of the user's."""
    return ("a longer or stronger input (--load-inputs) exercises more spikes" if given else
            "a denser --input-rate, more --steps or another --seed exercise more spikes")


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


def save_inputs(x: torch.Tensor, path: str | Path) -> None:
    """Write a time-major input ``[T, B, ...]`` as ``--load-inputs`` reads it."""
    torch.save({"x": x}, path)


def load_inputs(path: str | Path) -> torch.Tensor:
    """An input saved with :func:`save_inputs` (or a plain tensor), time-major ``[T, B, ...]``,
    finite; read with ``weights_only=True`` (no pickled code runs)."""
    try:
        data = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - torch.load raises many kinds for a bad file
        raise BadSource(f"cannot read inputs from {path} ({type(exc).__name__}: {exc}); write them with "
                        "torch.save({'x': x}, path) or --save-inputs") from exc
    x = data.get("x") if isinstance(data, dict) else data
    if not torch.is_tensor(x) or x.dim() < 2 or x.is_complex():
        raise BadSource(f"{path} holds no time-major input tensor [T, B, ...] (write one with torch.save({{'x': x}}, path))")
    if x.numel() == 0 or not torch.isfinite(x.to(torch.float64)).all():
        raise BadSource(f"{path}: the input of shape {tuple(x.shape)} is empty or holds NaN or Inf")
    return x
