"""Canonical neuron cases generated from the spec's enumerations (never listed by hand)."""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from snn_interop.spec.neurons import Compare, Decay, InputScale, Model, Neuron, ResetMode, ResetTiming, SynapseOrder
from snn_interop.spec.schema import SurrogateConfig
from snn_interop.spec.surrogates import SURROGATES

# A few surrogates that several frameworks ship natively, at non-default parameters where
# a framework can vary them: each framework meets both its own functions and foreign ones.
SURROGATE_CHOICES: tuple[SurrogateConfig, ...] = (
    SURROGATES["atan"].configure(alpha=3.0),
    SURROGATES["fast_sigmoid"].configure(alpha=1.0, scale=2.0),
    SURROGATES["sigmoid"].configure(alpha=5.0),
)
BETA, ALPHA, THRESHOLD = 0.875, 0.625, 1.25  # exact in binary: no float32 rounding anywhere
RHO, ADAPT_SCALE = 0.75, 0.5  # the adaptive LIF's adaptation decay and threshold step, exact in binary


def neuron_cases() -> Iterator[Neuron]:
    """Every model x reset mode x timing x detach x compare x surrogate x input scaling
    (and synaptic input scaling for the current-based LIF; the leaky integrator with and without
    a synaptic current, which it sees in the same step). The adaptive LIF instead crosses
    whether the threshold sees the adaptation decayed this step (sinabs ALIF: no; norse LSNN:
    yes) with whether a synaptic current drives its membrane (norse LSNN's, which the membrane
    sees a step late, input unscaled), with one surrogate: fast-sigmoid, norse's default
    'super' (the surrogates are crossed with every other spiking model)."""
    models = (Model.IF, Model.LIF, Model.CUBA_LIF, Model.LI, Model.ADAPTIVE_LIF)
    for model, scale, sg in itertools.product(models, (InputScale.NONE, InputScale.ONE_MINUS_BETA), SURROGATE_CHOICES):
        decay = Decay(1.0) if model is Model.IF else Decay(BETA)
        if model is Model.IF and scale is not InputScale.NONE:
            continue  # (1 - beta) = 0: no input reaches an IF
        if model is Model.LI:  # with and without a synaptic current (snnTorch Synaptic that never fires, norse LICell)
            if sg is SURROGATE_CHOICES[0]:
                yield Neuron.li(decay, input_scale=scale)
                yield Neuron.li(decay, input_scale=scale, synaptic_current=True, syn_decay=Decay(ALPHA))
            continue
        resets = [(ResetMode.NONE, ResetTiming.SAME_STEP, False)] + list(
            itertools.product((ResetMode.SUBTRACT, ResetMode.TO_VALUE), ResetTiming, (False, True)))
        for (reset, timing, detach), compare in itertools.product(resets, Compare):
            conventions = dict(input_scale=scale, threshold=THRESHOLD, reset=reset, reset_timing=timing, detach_reset=detach, compare=compare)
            if model is Model.CUBA_LIF:
                for syn_scale in (InputScale.NONE, InputScale.BETA):  # snntorch/norse/spikingjelly vs sinabs
                    yield Neuron.cuba_lif(sg, decay, Decay(ALPHA), syn_input_scale=syn_scale, **conventions)
            elif model is Model.ADAPTIVE_LIF:
                if sg is SURROGATE_CHOICES[1]:
                    for decay_first, synapse in itertools.product((False, True), (False, True)):
                        current = dict(synaptic_current=True, syn_decay=Decay(ALPHA), synapse_order=SynapseOrder.MEMBRANE_FIRST) if synapse else {}
                        yield Neuron.adaptive_lif(sg, decay, Decay(RHO), ADAPT_SCALE, adapt_decay_first=decay_first, **current, **conventions)
            else:
                yield Neuron(model, sg, decay=decay, **conventions)


def case_id(n: Neuron) -> str:
    parts = [n.model.value, n.input_scale.value] + ([f"syn_{n.syn_input_scale.value}"] if n.model is Model.CUBA_LIF else [])
    if n.model is Model.ADAPTIVE_LIF:
        parts.append("adapt_decayed" if n.adapt_decay_first else "adapt_previous")
    if n.synaptic_current:
        parts.append(f"syn_{n.synapse_order.value}")
    if n.spikes:
        parts += [n.reset.value, n.reset_timing.value, "detach" if n.detach_reset else "grad", n.compare.value, repr(n.surrogate)]
    return "-".join(parts)


DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
HALF = ("float16", "bfloat16")  #: compared up to rounding-level spike flips (metrics.divergence)


def default_dtypes(device: str) -> tuple[str, ...]:
    """float64 and float32 everywhere; float16 and bfloat16 too on CUDA, where they are used to train."""
    return tuple(DTYPES) if device == "cuda" else ("float64", "float32")
#: (batch, neurons per sample): a small and a medium layer.
SHAPES = {"small": (2, 3), "medium": (8, 64)}
STEPS_FULL = (1, 16, 256)
STEPS_QUICK = (48,)


def memory(neuron: Neuron, steps: int) -> float:
    """Steps over which rounding errors accumulate in the state: min(T, 1 / (1 - beta)
    [+ 1 / (1 - alpha) for the synaptic current, + 1 / (1 - rho) for the adaptation]); T where
    nothing leaks (IF)."""
    beta = float(neuron.decay.beta)
    n = 1.0 / (1.0 - beta) if beta < 1 else float("inf")
    if neuron.has_synapse:
        alpha = float(neuron.syn_decay.beta)
        n += 1.0 / (1.0 - alpha) if alpha < 1 else float("inf")
    if neuron.model is Model.ADAPTIVE_LIF:
        n += 1.0 / (1.0 - float(neuron.adapt_decay.beta))
    return min(float(steps), n)


@dataclass(frozen=True)
class Case:
    """One conformance case: a canonical neuron on a seeded input of a given dtype and shape."""

    neuron: Neuron
    dtype: str = "float64"
    shape: str = "small"
    steps: int = 48
    seed: int = 0

    @property
    def id(self) -> str:
        return f"{case_id(self.neuron)}-{self.dtype}-{self.shape}-T{self.steps}"

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def inputs(self) -> torch.Tensor:
        """The case's input, time-major [T, B, N] in the case dtype (see :func:`drive`)."""
        return drive(self.neuron, self.steps, SHAPES[self.shape], self.seed).to(self.torch_dtype)


def cases(quick: bool = False, seed: int = 0, dtypes: tuple[str, ...] = ("float64", "float32")) -> list[Case]:
    """Every neuron case x dtype x shape x T (quick: the small shape, T = 48)."""
    unknown = set(dtypes) - set(DTYPES)
    if unknown:
        raise ValueError(f"unknown dtype {sorted(unknown)}; choose from {list(DTYPES)}")
    shapes = ("small",) if quick else tuple(SHAPES)
    steps = STEPS_QUICK if quick else STEPS_FULL
    return [Case(n, d, s, t, seed) for n in neuron_cases() for d in dtypes for s in shapes for t in steps]


def drive(neuron: Neuron, steps: int, shape: tuple[int, int], seed: int) -> torch.Tensor:
    """Seeded float64 input in four phases of about T/4 steps each (T >= 8; else the first only):

    1. threshold edge: multiples of theta / (4 g), g the input's gain into the membrane, from
       rest, so that dyadic arithmetic lands membranes exactly on the threshold (compare >
       vs >= shows there);
    2. random drive in [0, 1.6 theta / g): regular firing;
    3. silence: zeros (leak, and a pending next-step reset with no input);
    4. saturation: 4 theta / g every step (fires every step; several spikes for multi-spike).

    All values are exact in float32 too, so both of those dtypes see the same input; a
    half-precision case rounds the random phase once more (the oracle takes that rounded input).
    """
    gen = torch.Generator().manual_seed(seed)
    gain = neuron.input_gain * (neuron.syn_input_gain if neuron.has_synapse else 1.0)
    unit = float(neuron.threshold) / float(gain)  # the generated cases are uniform across neurons
    bounds = [0, steps] if steps < 8 else [0, steps // 4, steps // 2, 3 * steps // 4, steps]
    phases = [
        lambda n: torch.randint(0, 5, (n, *shape), generator=gen).to(torch.float64) * unit / 4,
        lambda n: (torch.rand(n, *shape, generator=gen, dtype=torch.float64) * 1.6 * unit).to(torch.float32).to(torch.float64),
        lambda n: torch.zeros(n, *shape, dtype=torch.float64),
        lambda n: torch.full((n, *shape), 4.0 * unit, dtype=torch.float64),
    ]
    return torch.cat([phase(hi - lo) for phase, lo, hi in zip(phases, bounds, bounds[1:])])
