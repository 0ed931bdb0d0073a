"""Canonical neuron cases generated from the spec's enumerations (never listed by hand)."""
from __future__ import annotations

import itertools
from collections.abc import Iterator

from snn_interop.spec.neurons import Compare, Decay, InputScale, Model, Neuron, ResetMode, ResetTiming
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


def neuron_cases() -> Iterator[Neuron]:
    """Every model x reset mode x timing x detach x compare x surrogate x input scaling
    (and synaptic input scaling for the current-based LIF)."""
    for model, scale, sg in itertools.product((Model.IF, Model.LIF, Model.CUBA_LIF, Model.LI), (InputScale.NONE, InputScale.ONE_MINUS_BETA), SURROGATE_CHOICES):
        decay = Decay(1.0) if model is Model.IF else Decay(BETA)
        if model is Model.IF and scale is not InputScale.NONE:
            continue  # (1 - beta) = 0: no input reaches an IF
        if model is Model.LI:
            if sg is SURROGATE_CHOICES[0]:
                yield Neuron.li(decay, input_scale=scale)
            continue
        resets = [(ResetMode.NONE, ResetTiming.SAME_STEP, False)] + list(
            itertools.product((ResetMode.SUBTRACT, ResetMode.TO_VALUE), ResetTiming, (False, True)))
        for (reset, timing, detach), compare in itertools.product(resets, Compare):
            conventions = dict(input_scale=scale, threshold=THRESHOLD, reset=reset, reset_timing=timing, detach_reset=detach, compare=compare)
            if model is Model.CUBA_LIF:
                for syn_scale in (InputScale.NONE, InputScale.BETA):  # snntorch/norse/spikingjelly vs sinabs
                    yield Neuron.cuba_lif(sg, decay, Decay(ALPHA), syn_input_scale=syn_scale, **conventions)
            else:
                yield Neuron(model, sg, decay=decay, **conventions)


def case_id(n: Neuron) -> str:
    parts = [n.model.value, n.input_scale.value] + ([f"syn_{n.syn_input_scale.value}"] if n.model.value == "cuba_lif" else [])
    if n.spikes:
        parts += [n.reset.value, n.reset_timing.value, "detach" if n.detach_reset else "grad", n.compare.value, repr(n.surrogate)]
    return "-".join(parts)
