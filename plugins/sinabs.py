"""Sinabs 3.1.3 plugin.

Sinabs separates the spike function (``SingleSpike``, ``MultiSpike``, ``MaxSpike``) from the
surrogate, which is called as ``surrogate(v_mem, spike_threshold)``: several surrogates
depend on the threshold itself, not only on v - threshold. ``import sinabs`` does not import
``samna``; nothing here may.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from snn_interop.spec.neurons import Compare, Decay, Discretisation, InputScale, Neuron, ResetMode, ResetTiming, SpikeFn
from snn_interop.spec.surrogates import from_native
from snn_interop_plugins._common import availability, dist_version

NAME = "sinabs"
EXTRA = "sinabs"


def available() -> str | None:
    return availability("sinabs", "sinabs")


def framework_version() -> str:
    return dist_version("sinabs")


def spike_function(native: str, kwargs: Mapping[str, float], threshold: float = 1.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """``SingleSpike`` with surrogate ``native`` (e.g. "activation.SingleExponential") on v = x + threshold."""
    from sinabs import activation

    surrogate = getattr(activation, native.removeprefix("activation."))(**kwargs)
    return lambda x: activation.SingleSpike.apply(x + threshold, threshold, surrogate).to(x.dtype)


def default_neuron() -> tuple[torch.nn.Module, Neuron]:
    """``sinabs.layers.LIF(tau_mem=10.0)`` with every other argument at its default, and its twin.

    tau_mem has no default; 10 steps is used. Sinabs computes alpha = exp(-1/tau) in float32
    (tau is a float32 Parameter), scales the input by (1 - alpha) (norm_input=True), emits
    several spikes per step (MultiSpike: floor(v / thr) when v >= thr), subtracts thr per spike
    in the same step without detaching, and uses SingleExponential(grad_width=0.5, grad_scale=1).
    """
    import sinabs.layers

    module = sinabs.layers.LIF(tau_mem=10.0, record_states=True)
    beta = float(torch.exp(-1.0 / torch.tensor(10.0, dtype=torch.float32)))
    canonical = Neuron.lif(
        from_native(NAME, "activation.SingleExponential", {"grad_width": 0.5, "grad_scale": 1.0}, theta=1.0),
        Decay(beta, Discretisation.EXACT, tau=10.0, dt=1.0),
        input_scale=InputScale.ONE_MINUS_BETA,
        compare=Compare.GE,
        spike_fn=SpikeFn.MULTI,
        reset=ResetMode.SUBTRACT,
        reset_timing=ResetTiming.SAME_STEP,
        detach_reset=False,
    )
    return module, canonical


def run(module: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a sinabs layer (batch-first [B, T, ...]) on time-major ``x`` [T, B, ...].

    Returns (spikes, membrane after reset) time-major; needs ``record_states=True``.
    """
    module.reset_states()
    spikes = module(x.transpose(0, 1)).transpose(0, 1)
    return spikes.to(x.dtype), module.recordings["v_mem"].transpose(0, 1)
