"""Per-case metrics of one implementation against the float64 oracle.

Every metric is a plain number, so reports and declared deviations can name it:

- ``spike_mismatches``: entries of the [T, B, N] spike tensor that differ; ``first_step`` and
  ``first_neuron`` (flat index in B x N) locate the earliest, ``margin`` is the oracle's
  ``v_pre - theta`` there (0 means exactly at threshold), ``margin_noise`` how far rounding may
  move a decision there (:func:`noise_bound`, from the membrane tolerance);
- ``v_max_abs``: max |v - v_oracle|; ``v_scale``: max |v_oracle|; ``v_max_rel``: their ratio;
- ``grad_max_rel``: max |dL/dx - dL/dx_oracle| over max |dL/dx_oracle|, for the loss
  L = sum(w_s * spikes) + sum(w_v * v) with seeded weights w;
- ``threshold_hits``: oracle steps where v_pre == theta exactly (the input's edge phase);
- ``diverged``: half precision only: neurons whose spikes first depart from the oracle's where
  the oracle's |v_pre - theta| is within the membrane tolerance (:func:`divergence`), a flip
  that rounding of the state explains. From that step on such a neuron follows another trajectory, so
  it is compared up to it: its later spikes and membranes are left out, and the gradients come
  from the loss re-weighted to the neurons that did not diverge (``keep``). Any other first
  mismatch counts;
- ``param_grads``: for each canonical parameter the implementation exposes (its plugin's
  ``parameters``) and the oracle differentiates exactly (``oracle.differentiable``), the
  gradient dL/dp of the same loss as ``(native, oracle)``, the native one taken through the
  framework's own parameterisation and the chain rule (tau, 1 - beta, ...);
  ``param_grad_max_rel``: the largest |dL/dp - dL/dp_oracle| among them over
  ``param_grad_scales``, the oracle's sum over neurons of |dL/dp_n| (p given per neuron): the
  error bound of a sum whose terms each carry a relative error. A parameter's gradient sums
  terms of both signs over neurons and steps, and relative to the sum itself a rounding error
  could look huge: measured 1.9e-4 relative to |dL/dbeta| = 2.93 in float32 where the
  per-neuron magnitudes sum to 23958 (sinabs, current-based LIF, 512 neurons); None when the
  implementation exposes none.
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
    margin_noise: float | None  #: how far from the threshold rounding may move a decision there (noise_bound)
    v_max_abs: float
    v_max_rel: float
    v_scale: float  #: max |v_oracle|
    grad_max_rel: float
    threshold_hits: int
    param_grads: dict[str, tuple[float, float]] = field(default_factory=dict)
    param_grad_max_rel: float | None = None
    param_grad_scales: dict[str, float] = field(default_factory=dict)
    diverged: int = 0


def loss_weights(shape: torch.Size, seed: int) -> torch.Tensor:
    """Seeded float64 weights (w_s, w_v) of the scalar loss whose input gradient is compared."""
    return torch.randn(2, *shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)


def loss(spikes: torch.Tensor, v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (spikes.to(torch.float64) * w[0]).sum() + (v.to(torch.float64) * w[1]).sum()


def _ratio(err: float, scale: float) -> float:
    return err / scale if scale > 0 else err


def _max_rel(a: torch.Tensor, ref: torch.Tensor) -> float:
    err = (a.to(torch.float64) - ref).abs().max().item() if a.numel() else 0.0
    return _ratio(err, ref.abs().max().item() if ref.numel() else 0.0)


def noise_bound(trace: Trace, noise: tuple[float, float]) -> torch.Tensor:
    """[T, K] how far from the threshold rounding may move a spike decision: atol + rtol m, m the
    largest |v| the neuron has had so far (what the rounding errors carried into a step scale
    with; the saturating phase comes last, so a step early on is judged on early values)."""
    flat = lambda a: a.reshape(a.shape[0], -1)  # noqa: E731
    return noise[0] + noise[1] * torch.maximum(flat(trace.v).abs(), flat(trace.v_pre).abs()).cummax(0).values


def divergence(spikes: torch.Tensor, trace: Trace, noise: tuple[float, float] | None) -> torch.Tensor:
    """[T, K] mask of the steps compared, K = B x N flattened: all of them, except, with
    ``noise = (atol, rtol)``, those from each neuron's first mismatch on where that mismatch is
    a rounding-level flip: the oracle's |v_pre - theta| there within :func:`noise_bound`."""
    steps = spikes.shape[0]
    differ = (spikes.detach().to(torch.float64) != trace.spikes).reshape(steps, -1)
    valid = torch.ones_like(differ)
    if noise is None or not differ.any():
        return valid
    first = torch.where(differ.any(0), differ.to(torch.int8).argmax(0), steps)  # first mismatch per neuron, or T
    at = first.clamp(max=steps - 1), torch.arange(differ.shape[1])
    margin = (trace.v_pre - trace.theta).reshape(steps, -1)[at].abs()
    flips = (first < steps) & (margin <= noise_bound(trace, noise)[at])
    return valid & ~(flips & (torch.arange(steps)[:, None] >= first))


def keep(valid: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """1 for the neurons compared on every step, 0 for the diverged: loss weights' mask, broadcast to ``shape``."""
    return valid.all(0).to(torch.float64).reshape(shape[1:])


def measure(spikes: torch.Tensor, v: torch.Tensor, grad: torch.Tensor, trace: Trace, oracle_grad: torch.Tensor,
            param_grads: dict[str, tuple[float, float]] | None = None, valid: torch.Tensor | None = None,
            param_scales: dict[str, float] | None = None, noise: tuple[float, float] | None = None) -> Metrics:
    """Compare one run (spikes, membrane, input gradient, parameter gradients) with the oracle's,
    on the steps ``valid`` marks (:func:`divergence`; default all); parameter gradients relative
    to ``param_scales`` (see the module docstring). ``noise``: how close to the threshold a
    flip is rounding, giving ``margin_noise`` at the first mismatch (:func:`noise_bound`)."""
    param_grads, param_scales = dict(param_grads or {}), dict(param_scales or {})
    spikes = spikes.detach().to(torch.float64)
    steps = spikes.shape[0]
    valid = torch.ones(steps, spikes[0].numel() if steps else 0, dtype=torch.bool) if valid is None else valid
    differ = (spikes != trace.spikes).reshape(steps, -1) & valid
    first_step = first_neuron = margin = margin_noise = None
    if differ.any():
        idx = differ.nonzero()[0]
        first_step, first_neuron = int(idx[0]), int(idx[1])
        margin = float((trace.v_pre - trace.theta).reshape(steps, -1)[first_step, first_neuron])
        margin_noise = float(noise_bound(trace, noise)[first_step, first_neuron]) if noise else None
    v = v.detach().to(torch.float64)
    v_err = ((v - trace.v).reshape(steps, -1).abs() * valid)
    return Metrics(
        spike_mismatches=int(differ.sum()), spikes_total=int(trace.spikes.sum()),
        first_step=first_step, first_neuron=first_neuron, margin=margin, margin_noise=margin_noise,
        v_max_abs=float(v_err.max()) if v.numel() else 0.0,
        v_max_rel=_ratio(float(v_err.max()), float(trace.v.abs().max())) if v.numel() else 0.0,
        v_scale=float(trace.v.abs().max()) if v.numel() else 0.0, grad_max_rel=_max_rel(grad, oracle_grad),
        threshold_hits=int((trace.v_pre == trace.theta).sum()),
        param_grads=param_grads, param_grad_scales=param_scales,
        param_grad_max_rel=max((param_rel(g, g_o, param_scales.get(k)) for k, (g, g_o) in param_grads.items()),
                               default=None) if param_grads else None,
        diverged=int((~valid.all(0)).sum()) if valid.numel() else 0,
    )


def param_rel(value: float, reference: float, scale: float | None) -> float:
    """A parameter gradient's error relative to ``scale`` (the oracle's sum of per-neuron magnitudes), else to |reference|."""
    return abs(value - reference) / scale if scale else scalar_rel(value, reference)


def scalar_rel(value: float, reference: float) -> float:
    """|value - reference| / |reference| (the absolute error when the reference is 0)."""
    return abs(value - reference) / abs(reference) if reference != 0 else abs(value)
