"""Norse 1.1.0 plugin.

Norse selects its surrogate by name, ``threshold(x, method, alpha)`` in
``norse.torch.functional.threshold``, on x = v - v_th; its Heaviside fires at x > 0.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from snn_interop.spec.neurons import Compare, Decay, Discretisation, InputScale, Neuron, ResetMode, ResetTiming, SynapseOrder
from snn_interop.spec.surrogates import from_native
from snn_interop_plugins._common import availability, dist_version

NAME = "norse"
EXTRA = "norse"


def available() -> str | None:
    return availability("norse", "norse")


def framework_version() -> str:
    return dist_version("norse")


def spike_function(native: str, kwargs: Mapping[str, float], threshold: float = 1.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """Norse's spike function: ``native`` is "threshold:<method>" or a function in functional.threshold."""
    from norse.torch.functional import threshold as th

    if native.startswith("threshold:"):
        method = native.removeprefix("threshold:")
        return lambda x: th.threshold(x, method, kwargs.get("alpha", 0.0))
    fn = getattr(th, native)
    return lambda x: fn(x, *kwargs.values())


def default_neuron() -> tuple[torch.nn.Module, Neuron]:
    """``norse.torch.LIF()`` with every argument at its default, and its canonical twin.

    Norse's LIF is current-based: i += x; v += dt tau_mem_inv ((v_leak - v) + i); i decays by
    dt tau_syn_inv; fire at v > v_th; reset to v_reset by this step's spike, not detached.
    dt = 1e-3, tau_mem_inv = 100, tau_syn_inv = 200 give per-step factors 0.1 and 0.2,
    computed in float32 (the parameters are float32 tensors). The 'super' surrogate ignores
    its alpha (100).
    """
    import norse.torch

    module = norse.torch.LIF(record_states=True)
    a = float(torch.tensor(1e-3) * torch.tensor(100.0))  # dt tau_mem_inv, as norse computes it
    b = float(torch.tensor(1e-3) * torch.tensor(200.0))  # dt tau_syn_inv
    canonical = Neuron.cuba_lif(
        from_native(NAME, "threshold:super", {"alpha": 100.0}),
        Decay(1.0 - a, Discretisation.EULER),
        Decay(1.0 - b, Discretisation.EULER),
        input_scale=InputScale.ONE_MINUS_BETA,  # = dt tau_mem_inv under forward Euler
        synapse_order=SynapseOrder.CURRENT_FIRST,
        compare=Compare.GT,
        reset=ResetMode.TO_VALUE,
        v_reset=0.0,
        reset_timing=ResetTiming.SAME_STEP,
        detach_reset=False,
    )
    return module, canonical


def run(module: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a time-major norse module on ``x`` [T, B, ...]: (spikes, membrane after reset)."""
    spikes, states = module(x)
    return spikes, states.v
