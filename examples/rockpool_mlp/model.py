"""A small rockpool network, as its users write it (rockpool's own modules at their defaults):

    snn-convert --from rockpool --to sinabs examples.rockpool_mlp.model:build -o build/rockpool-sinabs --verify
    snn-convert --from rockpool --to xylo examples.rockpool_mlp.model:build_for_xylo -o build/rockpool-xylo

A combinator ``Sequential`` of ``LinearTorch`` layers (weights [in, out], no bias) and
current-based ``LIFTorch`` neurons with rockpool's defaults: tau_mem = tau_syn = 20 ms at
dt = 1 ms (leak_mode="taus"), threshold 1, and the ``StepPWL`` spike function, which fires
floor(v / threshold) spikes per step. Weights come from rockpool's own initialisation, seeded.
"""
from __future__ import annotations

import torch
from rockpool.nn.combinators import Sequential
from rockpool.nn.modules import LIFTorch, LinearTorch


def build() -> torch.nn.Module:
    """12 inputs -> 16 LIFTorch -> 5 LIFTorch."""
    torch.manual_seed(0)
    return Sequential(LinearTorch((12, 16)), LIFTorch(16), LinearTorch((16, 5)), LIFTorch(5))


def build_for_xylo() -> torch.nn.Module:
    """The same network written for Xylo: decays as bit shifts (1 - 2^-4, leak_mode="bitshifts"),
    hidden neurons capped at Xylo's 31 spikes per step and output neurons at one."""
    torch.manual_seed(0)
    xylo = dict(leak_mode="bitshifts", dash_mem=4, dash_syn=4)
    return Sequential(LinearTorch((12, 16)), LIFTorch(16, max_spikes_per_dt=31, **xylo),
                      LinearTorch((16, 5)), LIFTorch(5, max_spikes_per_dt=1, **xylo))
