"""Shared test settings: hypothesis profile and the shared corpus location."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parents[1]


CORPUS = ROOT / "tests" / "data" / "nir-paper"  # a copy of ../shared/corpus/nir-paper (BSD-3, see LICENSE-NIR)


@pytest.fixture(scope="session")
def corpus() -> Path:
    return CORPUS


def plugin_or_skip(name: str):
    """The plugin for ``name``; the test skips only when that framework is not installed."""
    from snn_interop import registry

    info = registry.info(name)
    if info.unavailable:
        pytest.skip(f"{name} not installed: {info.unavailable}")
    return registry.get(name)


def seeded_weights(model, conv: float = 1.0, linear: float = 1.0):
    """``model`` with each Conv2d and Linear weight (3 u - 0.5) / fan_in times ``conv`` or ``linear``
    (u uniform in [0, 1), seed 3): a mean input of about one threshold per spike-filled fan-in."""
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                gain = linear if isinstance(m, nn.Linear) else conv
                m.weight.copy_((torch.rand(m.weight.shape, generator=gen) * 3 - 0.5) / m.weight[0].numel() * gain)
    return model
