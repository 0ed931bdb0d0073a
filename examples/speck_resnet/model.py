"""A residual network as sinabs's ``DynapcnnNetwork`` takes it for Speck: ``IAFSqueeze`` neurons
(batch and time folded, ``[B*T, ...]``), ``SumPool2d``, and a ``Merge`` joining two layers' spikes,
on 2x16x16 DVS events (two polarities).

    snn-convert --from sinabs --to speck examples.speck_resnet.model:build --input-shape 2 16 16 -o resnet-speck

A SEW-style block: the pooled spikes of the first layer go to the block's first convolution and,
unchanged, to the convolution after the block, which sums them with the block's output. On the
chip the first layer's core has two destinations, each pooled 2x2, and the core after the block
adds the spikes of two cores before its kernel (docs/hardware-speck.md). The weights are seeded
stand-ins for trained ones.
"""
from __future__ import annotations

import torch
from torch import nn


def build() -> nn.Module:
    """conv1 -> IF -> SumPool2d(2) -> [conv2 -> IF -> conv3 -> IF] + skip -> conv4 -> IF ->
    SumPool2d(2) -> Flatten -> Linear(128, 10) -> IF; no biases (the chip adds biases on its slow clock)."""
    import sinabs.layers as sl

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.iaf1, self.pool1 = nn.Conv2d(2, 8, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=1), sl.SumPool2d(2)
            self.conv2, self.iaf2 = nn.Conv2d(8, 8, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=1)
            self.conv3, self.iaf3 = nn.Conv2d(8, 8, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=1)
            self.merge = sl.Merge()
            self.conv4, self.iaf4, self.pool4 = nn.Conv2d(8, 8, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=1), sl.SumPool2d(2)
            self.flat = nn.Flatten()
            self.fc, self.iaf_out = nn.Linear(128, 10, bias=False), sl.IAFSqueeze(batch_size=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B*T, 2, 16, 16]
            skip = self.pool1(self.iaf1(self.conv1(x)))
            out = self.iaf3(self.conv3(self.iaf2(self.conv2(skip))))
            out = self.pool4(self.iaf4(self.conv4(self.merge(out, skip))))
            return self.iaf_out(self.fc(self.flat(out)))

    net = Net()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):  # (3 u - 0.5) / fan_in: each layer fires on the one before it
                m.weight.copy_((torch.rand(m.weight.shape, generator=gen) * 3 - 0.5) / m.weight[0].numel() * GAIN[type(m)])
    return net


GAIN = {nn.Conv2d: 0.5, nn.Linear: 0.25}
