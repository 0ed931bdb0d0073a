"""Train examples/sj_mlp for a few seconds on synthetic spike patterns and save weights.pt.

Each class fires a different quarter of the 20 input channels more often; the loss is the
cross-entropy of the output spike counts. Deterministic (seeded); about 5 s on a CPU.
"""
from __future__ import annotations

from pathlib import Path

import torch
from spikingjelly.activation_based import functional

from examples.sj_mlp.model import build

T, BATCH, CLASSES = 30, 32, 4


def patterns(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.randint(0, CLASSES, (BATCH,), generator=generator)
    rate = torch.full((BATCH, 20), 0.05)
    for b, c in enumerate(labels.tolist()):
        rate[b, c * 5:(c + 1) * 5] = 0.5
    return (torch.rand(T, BATCH, 20, generator=generator) < rate).float(), labels


def main() -> None:
    model, gen = build(), torch.Generator().manual_seed(1)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    for step in range(150):
        x, y = patterns(gen)
        functional.reset_net(model)
        counts = model(x).sum(0)
        loss = torch.nn.functional.cross_entropy(counts, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step}: loss {loss.item():.3f}, accuracy {(counts.argmax(1) == y).float().mean().item():.2f}")
    torch.save(model.state_dict(), Path(__file__).with_name("weights.pt"))


if __name__ == "__main__":
    main()
