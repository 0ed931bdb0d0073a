"""SpikingJelly's CSNN shape, as its users write it: two blocks of Conv2d, BatchNorm2d, IFNode and
MaxPool2d, then Flatten, Dropout, Linear and an IFNode, in multi-step mode.

    snn-convert --from spikingjelly --to snntorch examples.sj_csnn.model:build \\
        --input-shape 2 8 8 -o csnn-snntorch --verify

NIR has no node for a BatchNorm, a Dropout or a max pool: snn-interop writes the BatchNorms as
their per-channel affine, leaves the Dropout out (both as at inference, hence eval mode) and
the max pools of spikes as SumPool2d + Threshold (docs/nir-metadata.md). The weights and the
BatchNorm statistics are seeded stand-ins for trained ones.
"""
from __future__ import annotations

import torch
from spikingjelly.activation_based import functional, layer, neuron, surrogate
from torch import nn


def build() -> nn.Module:
    """The network in eval mode, its BatchNorm statistics far from the identity."""
    torch.manual_seed(0)
    block = lambda c_in: [layer.Conv2d(c_in, 8, 3, padding=1, bias=False), layer.BatchNorm2d(8),  # noqa: E731
                          neuron.IFNode(surrogate_function=surrogate.ATan()), layer.MaxPool2d(2, 2)]
    net = nn.Sequential(*block(2), *block(8), layer.Flatten(), layer.Dropout(0.5), layer.Linear(8 * 2 * 2, 10, bias=False),
                        neuron.IFNode(surrogate_function=surrogate.ATan()))
    with torch.no_grad():
        for conv, gain in ((net[0], 8.0), (net[4], 6.0), (net[10], 6.0)):
            conv.weight.mul_(gain)
        for bn in (net[1], net[5]):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 2.0)
            bn.bias.uniform_(-0.2, 0.5)
    functional.set_step_mode(net, "m")
    return net.eval()
