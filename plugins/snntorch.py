"""snnTorch 1.0.0 plugin: spike functions are factories in ``snntorch.surrogate``.

snnTorch applies ``spike_grad(mem - threshold)``; its spike tensor is float32 whatever the
input dtype (measured), so :func:`spike_function` casts the result back.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

import torch

from snn_interop.nir import graph as nir_graph
from snn_interop.nir.layers import Scale
from snn_interop.plugin_api import (
    Capabilities, CanonicalSpike, NotExpressible, chain, equals, native_alias, require, run_by_steps, seeded_linear, show,
    spike_function as canonical_spike_function,
)
from snn_interop.spec.neurons import Compare, Decay, Model, Neuron, ResetMode, ResetTiming, SpikeFn, SynapseOrder, pack
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


# (reset mode, timing, detached) -> (reset_mechanism, reset_delay), per class; measured in
# tests/plugins/test_build_neuron.py against the oracle. Leaky's "zero" with reset_delay zeroes the
# stored membrane before the charge, which is a same-step reset whose membrane is reported before it.
# Not listed, measured inexact: "subtract" with reset_delay=False. Its delayed-reset term still sees
# the stored membrane, so when a membrane is still >= threshold after its reset, the next step
# subtracts the threshold a second time (first seen at step 5 of a 60-step run at 1.6x threshold drive).
_LEAKY_RESETS = {
    (ResetMode.SUBTRACT, ResetTiming.NEXT_STEP, True): ("subtract", True),
    (ResetMode.TO_VALUE, ResetTiming.SAME_STEP, True): ("zero", True),
    (ResetMode.TO_VALUE, ResetTiming.SAME_STEP, False): ("zero", False),
}
_SYNAPTIC_RESETS = {
    (ResetMode.SUBTRACT, ResetTiming.NEXT_STEP, True): ("subtract", True),
    (ResetMode.TO_VALUE, ResetTiming.NEXT_STEP, True): ("zero", True),
}


def _reset(neuron: Neuron, table: dict) -> tuple[str, bool]:
    if neuron.reset is ResetMode.NONE or not neuron.spikes:
        return "none", True
    key = (neuron.reset, neuron.reset_timing, neuron.detach_reset)
    combos = "; ".join(f"{m.value} {t.value} {'detached' if d else 'not detached'}" for m, t, d in table)
    require(NAME, [(neuron.reset is not ResetMode.TO_VALUE or neuron.v_reset == 0.0, f"v_reset={neuron.v_reset}", "snnTorch resets to zero only"),
                   (key in table, f"reset {neuron.reset.value} {neuron.reset_timing.value} {'detached' if neuron.detach_reset else 'not detached'}",
                    f"this class offers: {combos}")])
    return table[key]


def build_neuron(neuron: Neuron) -> torch.nn.Module:
    """snnTorch's own Leaky (IF, LIF, LI) or Synaptic (current-based LIF) for a canonical neuron.

    Parameters are float64 tensors, so nothing is rounded to float32. The spike function is
    snnTorch's own when the spec has an exact alias for the surrogate and compare, else the
    canonical spike function is injected as ``spike_grad`` (snnTorch accepts any callable).
    """
    import snntorch as snn

    n = neuron
    cuba = n.has_synapse  # Synaptic; a current-based LI is a Synaptic that never fires
    other = [p for p in n.per_neuron if p not in ("threshold", "decay.beta", "syn_decay.beta")]  # these take tensors
    require(NAME, [
        (not other, f"per-neuron {', '.join(other)}", "only beta, alpha and threshold take one value per neuron"),
        (n.model in (Model.IF, Model.LIF, Model.LI, Model.CUBA_LIF), f"model={n.model.value}", "snnTorch 1.0.0 has no adaptive-threshold neuron"),
        (equals(n.input_gain, 1.0), f"input gain {show(n.input_gain)}", "Leaky and Synaptic add the input unscaled (gain 1)"),
        (not cuba or equals(n.syn_input_gain, 1.0), f"synaptic input gain {show(n.syn_input_gain)}", "Synaptic adds the input unscaled"),
        (not cuba or n.synapse_order is SynapseOrder.CURRENT_FIRST, "synapse_order=membrane_first", "Synaptic feeds this step's current"),
        (n.v_leak == 0.0, f"v_leak={n.v_leak}", "no leak potential"),
        (n.v_init == 0.0, f"v_init={n.v_init}", "the membrane starts at 0"),
        (n.v_min is None, f"v_min={n.v_min}", "no membrane lower bound"),
        (n.spike_fn is SpikeFn.SINGLE, f"spike_fn={n.spike_fn.value}", "one spike per step (graded_spikes_factor scales a spike, it does not count)"),
    ])
    mechanism, delay = _reset(n, _SYNAPTIC_RESETS if cuba else _LEAKY_RESETS)
    surrogate = n.surrogate or from_native(NAME, "surrogate.atan", {"alpha": 2.0})  # LI: never fires, any will do
    found = native_alias(n.with_(surrogate=surrogate), NAME)
    if found is not None:
        import snntorch.surrogate

        spike_grad = getattr(snntorch.surrogate, found[0].removeprefix("surrogate."))(**found[1])
    else:
        spike_grad = canonical_spike_function(surrogate, n.compare)
    f64 = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    threshold = f64(n.threshold if n.spikes else float("inf"))
    common = dict(threshold=threshold, spike_grad=spike_grad, reset_mechanism=mechanism, reset_delay=delay)
    if cuba:
        return snn.Synaptic(alpha=f64(n.syn_decay.beta), beta=f64(n.decay.beta), **common)
    return snn.Leaky(beta=f64(n.decay.beta), **common)


def capabilities() -> Capabilities:
    return Capabilities(
        framework=NAME, version=framework_version(),
        neurons={"if": "Leaky(beta=1)", "lif": "Leaky", "li": "Leaky(reset_mechanism='none')", "cuba_lif": "Synaptic"},
        conventions={
            "input gain": "1 only", "v_leak, v_init": "0 only", "v_min": "none", "spike_fn": "single",
            "per-neuron values": "beta, alpha and threshold",
            "reset (Leaky)": "; ".join(f"{m.value} {t.value} {'detached' if d else 'not detached'}" for m, t, d in _LEAKY_RESETS) + "; none",
            "reset (Synaptic)": "; ".join(f"{m.value} {t.value} {'detached' if d else 'not detached'}" for m, t, d in _SYNAPTIC_RESETS) + "; none",
            "compare": "> natively, >= through an injected spike function",
        },
        surrogates="its own aliases natively (H(0) = 0); every other surrogate, and >=, by injecting the canonical spike function",
        backends={"cpu": ("torch",), "cuda": ("torch",)},
    )


def step(module: torch.nn.Module, x_t: torch.Tensor, state: Any) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """One step of a Leaky or Synaptic: (spikes, canonical end-of-step membrane, state).

    snnTorch returns the membrane it compared with the threshold; that is the end-of-step value
    except for Leaky's delayed reset to zero, which zeroes it only at the start of the next
    step: there it is mem (1 - spike).
    """
    import snntorch as snn

    if state is None:
        state = (torch.zeros_like(x_t), torch.zeros_like(x_t)) if isinstance(module, snn.Synaptic) else torch.zeros_like(x_t)
    if isinstance(module, snn.Synaptic):
        spk, syn, mem = module(x_t, *state)
        state = (syn, mem)
    else:
        spk, mem = module(x_t, state)
        state = mem
    spk = spk.to(x_t.dtype)
    zero_later = isinstance(module, snn.Leaky) and int(module.reset_mechanism_val) == 1 and module.reset_delay
    return spk, (mem * (1 - spk.detach()) if zero_later else mem), state


def run(module: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Step a snnTorch neuron over time-major ``x`` [T, B, ...]: (spikes, end-of-step membrane)."""
    return run_by_steps(step, module, x)


def describe_neuron(layer: torch.nn.Module) -> Neuron | None:
    """The canonical neuron of a Leaky, Synaptic, RLeaky, RSynaptic or Lapicque built with any
    spike function the spec knows; None for a layer that is not a snnTorch neuron."""
    import snntorch as snn

    if not isinstance(layer, (*_feed_forward_neurons(), snn.RLeaky, snn.RSynaptic)):
        return None
    graded = torch.as_tensor(layer.graded_spikes_factor)
    require(NAME, [
        (not layer.inhibition, f"{type(layer).__name__}(inhibition=True)",
         "only the neuron with the largest membrane in each sample fires: no canonical neuron couples its neurons"),
        (not layer.state_quant, f"{type(layer).__name__}(state_quant=...)", "the membrane is quantised every step"),
        (not layer.surrogate_disable, f"{type(layer).__name__}(surrogate_disable=True)",
         "its spike is a bare comparison without gradient: every canonical spike carries a surrogate"),
        (bool((graded == 1).all()), f"graded_spikes_factor={show(pack(graded.detach().cpu().numpy()))}",
         "the spikes are scaled by it: a canonical spike is a count"),
    ])
    recurrent = isinstance(layer, (snn.RLeaky, snn.RSynaptic))
    if recurrent and int(layer.reset_mechanism_val) == 1:
        raise NotExpressible(NAME, f"{type(layer).__name__}(reset_mechanism='zero')",
                             "it zeroes the whole new state, this step's input and recurrent current included, after a spike: "
                             "no canonical reset does that (Leaky's 'zero' keeps the input)")
    fn = layer.spike_grad
    if isinstance(fn, CanonicalSpike):
        surrogate, compare = fn.surrogate, fn.compare
    else:  # a snntorch.surrogate factory's closure: its free variables are the factory's arguments
        kwargs = dict(zip(fn.__code__.co_freevars, (c.cell_contents for c in fn.__closure__ or ())))
        surrogate, compare = from_native(NAME, "surrogate." + fn.__qualname__.split(".")[0], kwargs), Compare.GT
    cuba, lapicque = isinstance(layer, (snn.Synaptic, snn.RSynaptic)), isinstance(layer, snn.Lapicque)
    mechanism = ("subtract", "zero", "none")[int(layer.reset_mechanism_val)]
    threshold = pack(layer.threshold.detach().cpu().numpy())
    clamped = lambda t: pack(t.detach().clamp(0, 1).cpu().numpy())  # noqa: E731 - snnTorch clamps beta and alpha to [0, 1] every step
    beta, gain = _lapicque_decay(layer) if lapicque else (clamped(layer.beta), 1.0)
    syn_decay = Decay(clamped(layer.alpha)) if cuba else None
    common = dict(threshold=threshold, compare=compare)
    if mechanism == "none":
        if threshold == float("inf"):  # never fires: a leaky integrator (current-based for Synaptic)
            return Neuron.li(Decay(beta), r=gain, **(dict(synaptic_current=True, syn_decay=syn_decay) if cuba else {}))
        common.update(reset=ResetMode.NONE)
    else:
        # Lapicque has no reset_delay: it always resets by the previous step's spike, as Synaptic with the delay does
        table = _SYNAPTIC_RESETS if cuba or lapicque else _LEAKY_RESETS
        delay = True if lapicque else bool(layer.reset_delay)
        found = [k for k, v in table.items() if v == (mechanism, delay)]
        if not found:
            raise NotExpressible(NAME, f"reset_mechanism={mechanism!r} reset_delay={delay}",
                                 "measured inexact against every canonical reset (see _LEAKY_RESETS)")
        reset, timing, detach = found[0]
        common.update(reset=reset, reset_timing=timing, detach_reset=detach)
    if cuba:
        return Neuron.cuba_lif(surrogate, Decay(beta), syn_decay, **common)
    return Neuron(Model.IF if beta == 1.0 else Model.LIF, surrogate, decay=Decay(beta), r=gain, **common)


def _feed_forward_neurons() -> tuple[type, ...]:
    """The feed-forward snnTorch neurons snn-interop describes and steps."""
    import snntorch as snn

    return (snn.Leaky, snn.Synaptic, snn.Lapicque)


def _lapicque_decay(layer: torch.nn.Module) -> tuple[Any, Any]:
    """snnTorch's Lapicque: mem = x R (1 / (R C)) dt + (1 - dt / (R C)) mem - reset. Its beta
    argument only sets C: the decay is 1 - dt / (R C) and the input gain R (1 / (R C)) dt = dt / C,
    both computed from its buffers as it computes them."""
    dt, r, c = layer.time_step, layer.R, layer.C
    beta = (1 - (dt / (r * c))).detach().cpu().numpy()
    require(NAME, [(bool((beta >= 0).all()), f"time_step / (R C) = {show(pack(1 - beta))}", "a forward-Euler decay 1 - dt / (R C) below 0")])
    return pack(beta), pack((r * (1 / (r * c)) * dt).detach().cpu().numpy())


def parameters(module: torch.nn.Module) -> dict[str, tuple[torch.Tensor, float]]:
    """The tensors a Leaky/Synaptic computes with for the canonical parameters, each with
    d native / d canonical: beta and alpha are the canonical decays (clamped to [0, 1], slope 1
    inside), the threshold is the threshold."""
    import snntorch as snn

    if not isinstance(module, (snn.Leaky, snn.Synaptic)):
        return {}
    out = {"threshold": (module.threshold, 1.0), "decay.beta": (module.beta, 1.0)}
    if isinstance(module, snn.Synaptic):
        out["syn_decay.beta"] = (module.alpha, 1.0)
    return out


def describe_recurrent(layer: torch.nn.Module, shape: tuple[int, ...]) -> torch.nn.Module | None:
    """The recurrent connection of an RLeaky or RSynaptic, V(S[t-1]) added to the next step's
    input, as a stateless layer on the neurons' ``shape`` (its nn.Linear, or a Scale for the
    one-to-one V); None for any other layer.

    snnTorch: U[t] = beta U[t-1] + I[t] + V(S[t-1]) - R (RLeaky); RSynaptic adds V(S[t-1]) to
    the synaptic current's input. A convolutional V has no NIR node here and is refused."""
    import snntorch as snn

    if not isinstance(layer, (snn.RLeaky, snn.RSynaptic)):
        return None
    rec = layer.recurrent
    if isinstance(rec, torch.nn.Linear):
        return rec
    if type(rec).__name__ == "RecurrentOneToOne":
        v = torch.as_tensor(rec.V).detach()
        return Scale(v.expand(shape).clone())
    raise NotExpressible(NAME, f"{type(layer).__name__} with a {type(rec).__name__} recurrent connection",
                         "only a Linear (linear_features) or one-to-one V recurrence is carried to NIR")


def from_nir(graph: Any, **options: Any) -> torch.nn.Module:
    """A runnable snnTorch model of a NIR graph (see snn_interop.nir.graph.from_nir)."""
    return nir_graph.from_nir(graph, sys.modules[__name__], **options)


def to_nir(module: torch.nn.Module, sample_input: torch.Tensor) -> Any:
    """The NIR graph of a snnTorch model (nn.Sequential or a from_nir module); sample: one step [B, ...]."""
    return nir_graph.to_nir(module, sys.modules[__name__], sample_input)


def reset(model: torch.nn.Module) -> None:
    """Clear the hidden state snnTorch's neurons keep between calls (``snntorch.utils.reset``)."""
    import snntorch.utils

    snntorch.utils.reset(model)


def run_model(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A snnTorch network as users write it (an ``nn.Sequential`` whose neurons have
    ``init_hidden=True``) on time-major ``x``: its output per step, and each neuron layer's
    end-of-step membrane keyed by its index (the NIR node name snn-interop gives it)."""
    import snntorch as snn

    reset(model)
    neurons = {name: m for name, m in chain(model) if isinstance(m, (*_feed_forward_neurons(), snn.RLeaky, snn.RSynaptic))}
    for m in neurons.values():  # snnTorch 1.0.0's RSynaptic.reset_hidden zeroes syn and mem but keeps the last run's spikes
        if isinstance(m, snn.RSynaptic):
            m.spk = torch.zeros_like(m.spk)
    spikes: dict[str, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: spikes.__setitem__(name, out[0] if isinstance(out, tuple) else out))
             for name, m in neurons.items()]
    outputs, membranes = [], {name: [] for name in neurons}
    try:
        for x_t in x:
            out = model(x_t)
            outputs.append((out[0] if isinstance(out, tuple) else out).to(x.dtype))
            for name, m in neurons.items():
                zero_later = isinstance(m, snn.Leaky) and int(m.reset_mechanism_val) == 1 and m.reset_delay
                membranes[name].append(m.mem * (1 - spikes[name].detach().to(m.mem.dtype)) if zero_later else m.mem)
    finally:
        for h in hooks:
            h.remove()
    return torch.stack(outputs), {k: torch.stack(v) for k, v in membranes.items()}


def example_mlp(dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """A 12 -> 16 -> 5 network as snnTorch users write it: Leaky neurons with init_hidden in an
    nn.Sequential, fast_sigmoid(slope=10). Seeded weights; used by tests and the NIR matrix."""
    import snntorch as snn
    from snntorch import surrogate

    sg = surrogate.fast_sigmoid(slope=10)
    return torch.nn.Sequential(seeded_linear(12, 16, 3.0, 0, dtype), snn.Leaky(beta=0.875, spike_grad=sg, init_hidden=True),
                               seeded_linear(16, 5, 3.0, 1, dtype), snn.Leaky(beta=0.875, spike_grad=sg, init_hidden=True, output=True))
