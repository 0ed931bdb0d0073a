"""A small SpikingJelly network, as its users write it: the example snn-convert converts.

    snn-convert --from spikingjelly --to snntorch examples.sj_mlp.model:build \\
        --weights examples/sj_mlp/weights.pt -o build/demo-snntorch --verify

Two layers of multi-step LIF neurons (tau 4, soft reset by subtraction, ATan surrogate with
alpha 3) classify 20-channel spike patterns into 4 classes by output spike count. weights.pt
is the state dict left by ``python -m examples.sj_mlp.train`` (a few seconds on a CPU).
"""
from __future__ import annotations

import torch
from spikingjelly.activation_based import layer, neuron, surrogate
from torch import nn


def build() -> nn.Module:
    """The untrained network; load weights.pt into it (snn-convert --weights does)."""
    lif = dict(tau=4.0, v_reset=None, surrogate_function=surrogate.ATan(alpha=3.0), step_mode="m")
    torch.manual_seed(0)
    return nn.Sequential(layer.Linear(20, 32), neuron.LIFNode(**lif), layer.Linear(32, 4), neuron.LIFNode(**lif))
