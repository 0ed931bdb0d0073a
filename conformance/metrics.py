"""Per-case metrics of one implementation against the float64 oracle.

Every metric is a plain number, so reports and declared deviations can name it:

- ``spike_mismatches``: entries of the [T, B, N] spike tensor that differ; ``first_step`` and
  ``first_neuron`` (flat index in B x N) locate the earliest, ``margin`` is the oracle's
  ``v_pre - theta`` there (0 means exactly at threshold);
- ``v_max_abs``: max |v - v_oracle|; ``v_scale``: max |v_oracle|; ``v_max_rel``: their ratio;
- ``grad_max_rel``: max |dL/dx - dL/dx_oracle| over max |dL/dx_oracle|, for the loss
  L = sum(w_s * spikes) + sum(w_v * v) with seeded weights w;
- ``threshold_hits``: oracle steps where v_pre == theta exactly (the input's edge phase);
- ``param_grads``: for each canonical parameter the implementation exposes (its plugin's
  ``parameters``) and the oracle differentiates exactly (``oracle.differentiable``), the
  gradient dL/dp of the same loss as ``(native, oracle)``, the native one taken through the
  framework's own parameterisation and the chain rule (tau, 1 - beta, ...);
  ``param_grad_max_rel``: the largest |dL/dp - dL/dp_oracle| / |dL/dp_oracle| among them
  (None when the implementation exposes none).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from snn_interop.spec.oracle import Trace


@dataclass(frozen=True)
class Metrics:
    spike_mismatches: int
    spikes_total: int
    first_step: int | None
    first_neuron: int | None
    margin: float | None
    v_max_abs: float
    v_max_rel: float
    v_scale: float  #: max |v_oracle|
    grad_max_rel: float
    threshold_hits: int
    param_grads: dict[str, tuple[float, float]] = field(default_factory=dict)
    param_grad_max_rel: float | None = None


def loss_weights(shape: torch.Size, seed: int) -> torch.Tensor:
    """Seeded float64 weights (w_s, w_v) of the scalar loss whose input gradient is compared."""
    return torch.randn(2, *shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)


def loss(spikes: torch.Tensor, v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (spikes.to(torch.float64) * w[0]).sum() + (v.to(torch.float64) * w[1]).sum()


def _max_rel(a: torch.Tensor, ref: torch.Tensor) -> float:
    err = (a.to(torch.float64) - ref).abs().max().item() if a.numel() else 0.0
    scale = ref.abs().max().item() if ref.numel() else 0.0
    return err / scale if scale > 0 else err


def measure(spikes: torch.Tensor, v: torch.Tensor, grad: torch.Tensor, trace: Trace, oracle_grad: torch.Tensor,
            param_grads: dict[str, tuple[float, float]] | None = None) -> Metrics:
    """Compare one run (spikes, membrane, input gradient, parameter gradients) with the oracle's."""
    spikes = spikes.detach().to(torch.float64)
    differ = spikes != trace.spikes
    first_step = first_neuron = margin = None
    if differ.any():
        idx = differ.reshape(differ.shape[0], -1).nonzero()[0]
        first_step, first_neuron = int(idx[0]), int(idx[1])
        margin = float((trace.v_pre - trace.theta).reshape(differ.shape[0], -1)[first_step, first_neuron])
    v = v.detach().to(torch.float64)
    return Metrics(
        spike_mismatches=int(differ.sum()), spikes_total=int(trace.spikes.sum()),
        first_step=first_step, first_neuron=first_neuron, margin=margin,
        v_max_abs=float((v - trace.v).abs().max()) if v.numel() else 0.0,
        v_max_rel=_max_rel(v, trace.v), v_scale=float(trace.v.abs().max()) if v.numel() else 0.0, grad_max_rel=_max_rel(grad, oracle_grad),
        threshold_hits=int((trace.v_pre == trace.theta).sum()),
        param_grads=dict(param_grads or {}),
        param_grad_max_rel=max((scalar_rel(g, g_o) for g, g_o in param_grads.values()), default=None) if param_grads else None,
    )


def scalar_rel(value: float, reference: float) -> float:
    """|value - reference| / |reference| (the absolute error when the reference is 0)."""
    return abs(value - reference) / abs(reference) if reference != 0 else abs(value)
