"""snnTorch 1.0.0 plugin: spike functions are factories in ``snntorch.surrogate``.

snnTorch applies ``spike_grad(mem - threshold)``; its spike tensor is float32 whatever the
input dtype (measured), so :func:`spike_function` casts the result back.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from snn_interop.spec.neurons import Compare, Decay, Neuron, ResetMode, ResetTiming
from snn_interop.spec.surrogates import from_native
from snn_interop_plugins._common import availability, dist_version

NAME = "snntorch"
EXTRA = "snntorch"


def available() -> str | None:
    return availability("snntorch", "snntorch")


def framework_version() -> str:
    return dist_version("snntorch")


def spike_function(native: str, kwargs: Mapping[str, float], threshold: float = 1.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """snnTorch's own spike function ``native`` (e.g. "surrogate.atan") applied to x = v - threshold."""
    import snntorch.surrogate

    factory = getattr(snntorch.surrogate, native.removeprefix("surrogate."))
    fn = factory(**kwargs)
    return lambda x: fn(x).to(x.dtype)


def default_neuron() -> tuple[torch.nn.Module, Neuron]:
    """``snn.Leaky(beta=0.9)`` with every other argument at its default, and its canonical twin.

    beta has no default in snnTorch; 0.9 is the tutorials' value. snnTorch stores beta as a
    float32 buffer, so the canonical beta is float32(0.9). Its default reset is delayed: the
    previous step's spike, recomputed from the stored membrane with the forward (x > 0) and
    detached, is subtracted after this step's charge.
    """
    import snntorch as snn

    module = snn.Leaky(beta=0.9)
    neuron = Neuron.lif(
        from_native(NAME, "surrogate.atan", {"alpha": 2.0}),
        Decay(float(torch.tensor(0.9, dtype=torch.float32))),
        compare=Compare.GT,
        reset=ResetMode.SUBTRACT,
        reset_timing=ResetTiming.NEXT_STEP,
        detach_reset=True,
    )
    return module, neuron


def run(module: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Step a stateful snnTorch neuron over time-major ``x`` [T, B, ...]: (spikes, membrane).

    The membrane is what snnTorch returns each step: the value compared with the threshold.
    """
    mem = module.reset_mem()
    spikes, membrane = [], []
    for x_t in x:
        spk, mem = module(x_t, mem)
        spikes.append(spk.to(x.dtype))
        membrane.append(mem)
    return torch.stack(spikes), torch.stack(membrane)
