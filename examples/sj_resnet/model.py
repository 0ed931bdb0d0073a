"""A residual SpikingJelly network, as its model zoo writes SEW-ResNet and Spiking ResNet
(``spikingjelly.activation_based.model``), scaled down: a class whose forward adds each block's
input to its output, in multi-step mode.

    snn-convert --from spikingjelly --to sinabs examples.sj_resnet.model:build \\
        --input-shape 2 8 8 -o resnet-sinabs --verify

Its forward is not a chain of layers: snn-interop reads it with torch.fx as a graph, and each
skip connection becomes NIR edges from both summed layers into the node that reads the sum
(docs/cli.md). The weights and BatchNorm statistics are seeded stand-ins for trained ones.
"""
from __future__ import annotations

import torch
from torch import nn


def build(kind: str = "sew", connect: str = "ADD", flatten: str = "by_mode") -> nn.Module:
    """conv, BatchNorm, LIF, max pool, two residual blocks (the second downsampling through a 1x1
    conv), global average pool, flatten, Linear, IF; multi-step mode, eval, on 2x8x8 spikes.
    ``kind``: "sew" adds spikes after each block's last neuron (SEW-ResNet, ``connect`` as its
    ``cnf``), "spiking" adds currents before it (Spiking ResNet). ``flatten``: "by_mode" as the
    model zoo writes it (``torch.flatten(x, 1)`` or ``(x, 2)`` by step mode), "time_major" as users
    of multi-step mode often do (``x.flatten(2)``, the time and batch dimensions kept)."""
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    def sn(lif: bool = False) -> nn.Module:
        return (neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan(), detach_reset=True) if lif
                else neuron.IFNode(surrogate_function=surrogate.ATan(), detach_reset=True))

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1, self.bn1, self.sn1 = layer.Conv2d(cin, cout, 3, stride, 1, bias=False), layer.BatchNorm2d(cout), sn()
            self.conv2, self.bn2, self.sn2 = layer.Conv2d(cout, cout, 3, 1, 1, bias=False), layer.BatchNorm2d(cout), sn()
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(layer.Conv2d(cin, cout, 1, stride, bias=False), layer.BatchNorm2d(cout))
                self.downsample_sn = sn()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            identity = x
            out = self.sn1(self.bn1(self.conv1(x)))
            if kind == "spiking":
                out = self.bn2(self.conv2(out))
                if self.downsample is not None:
                    identity = self.downsample(x)
                out += identity
                return self.sn2(out)
            out = self.sn2(self.bn2(self.conv2(out)))
            if self.downsample is not None:
                identity = self.downsample_sn(self.downsample(x))
            return out + identity if connect == "ADD" else out * identity

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.bn1, self.sn1 = layer.Conv2d(2, 4, 3, 1, 1, bias=False), layer.BatchNorm2d(4), sn(lif=True)
            self.maxpool = layer.MaxPool2d(2)
            self.layer1 = nn.Sequential(Block(4, 4, 1), Block(4, 8, 2))
            self.avgpool = layer.AdaptiveAvgPool2d((1, 1))
            self.fc, self.sn_out = layer.Linear(8, 5), sn()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.maxpool(self.sn1(self.bn1(self.conv1(x))))
            x = self.avgpool(self.layer1(x))
            if flatten == "time_major":
                x = x.flatten(2)
            else:
                x = torch.flatten(x, 1) if self.avgpool.step_mode == "s" else torch.flatten(x, 2)
            return self.sn_out(self.fc(x))

    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(3.0)
            if isinstance(m, nn.BatchNorm2d):  # trained statistics, not the identity of a fresh BatchNorm
                m.running_mean.uniform_(-0.2, 0.2), m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.8, 1.6), m.bias.uniform_(0.0, 0.3)
        net.fc.weight.mul_(4.0)
    functional.set_step_mode(net, "m")
    return net.eval()


def spiking_resnet() -> nn.Module:
    """The same network with Spiking ResNet's blocks: currents added before each block's last neuron."""
    return build("spiking")
