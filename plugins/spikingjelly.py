"""SpikingJelly 2.0.0 (``spikingjelly.activation_based``) plugin.

Surrogates are ``nn.Module`` classes in ``activation_based.surrogate`` called on
x = v - v_threshold; ``spiking=True`` gives the Heaviside forward.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

import torch

from snn_interop.spec.neurons import Compare, Decay, Discretisation, InputScale, Neuron, ResetMode, ResetTiming
from snn_interop.spec.surrogates import from_native
from snn_interop_plugins._common import availability, dist_version

NAME = "spikingjelly"
EXTRA = "spikingjelly"


def available() -> str | None:
    return availability("spikingjelly", "spikingjelly")


def framework_version() -> str:
    return dist_version("spikingjelly")


def spike_function(native: str, kwargs: Mapping[str, float], threshold: float = 1.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """SpikingJelly's surrogate module ``native`` (e.g. "surrogate.ATan") applied to x."""
    from spikingjelly.activation_based import surrogate

    cls = getattr(surrogate, native.removeprefix("surrogate."))
    # FakeNumericalGradient takes no `spiking` argument: it always spikes
    spiking = {"spiking": True} if "spiking" in inspect.signature(cls.__init__).parameters else {}
    module = cls(**kwargs, **spiking)
    return lambda x: module(x)


def default_neuron() -> tuple[torch.nn.Module, Neuron]:
    """``LIFNode()`` with every argument at its default (multi-step mode), and its canonical twin.

    tau 2 with decay_input: H = V + (X - (V - V_reset)) / tau, i.e. forward Euler, beta = 1 - 1/tau,
    input scaled by 1/tau, leak towards V_reset = 0; hard reset to 0 by this step's spike, not
    detached; Sigmoid(alpha=4); fires at H >= V_threshold.
    """
    from spikingjelly.activation_based import neuron

    module = neuron.LIFNode(step_mode="m", store_v_seq=True)
    canonical = Neuron.lif(
        from_native(NAME, "surrogate.Sigmoid", {"alpha": 4.0}),
        Decay.from_tau(2.0, 1.0, Discretisation.EULER),
        input_scale=InputScale.ONE_MINUS_BETA,
        compare=Compare.GE,
        reset=ResetMode.TO_VALUE,
        v_reset=0.0,
        reset_timing=ResetTiming.SAME_STEP,
        detach_reset=False,
    )
    return module, canonical


def run(module: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a multi-step SpikingJelly node on time-major ``x`` [T, B, ...]: (spikes, membrane after reset)."""
    from spikingjelly.activation_based import functional

    functional.reset_net(module)
    spikes = module(x)
    return spikes, module.v_seq
