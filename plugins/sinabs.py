"""Sinabs 3.1.3 plugin.

Sinabs separates the spike function (``SingleSpike``, ``MultiSpike``, ``MaxSpike``) from the
surrogate, which is called as ``surrogate(v_mem, spike_threshold)``: several surrogates
depend on the threshold itself, not only on v - threshold. ``import sinabs`` does not import
``samna``; nothing here may.

On CUDA the plugin also builds sinabs-exodus's layers (``sinabs.exodus.layers``: the same
classes with CUDA kernels for the whole time loop) when ``SNN_INTEROP_SINABS_BACKEND=exodus``
is set (:func:`backend_environment`); exodus is float32 only and built from source (nvcc).
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

from snn_interop.nir import graph as nir_graph
from snn_interop.plugin_api import (
    CanonicalDerivative, Capabilities, NotExpressible, batch_first, chain, equals, native_alias, require, seeded_linear, show,
    surrogate_derivative,
)
from snn_interop.spec.neurons import (
    Compare, Decay, Discretisation, InputScale, Model, Neuron, ResetMode, ResetTiming, SpikeFn, SynapseOrder, pack, uniform, values,
)
from snn_interop.spec.oracle import HeavisideSurrogate
from snn_interop.spec.surrogates import from_native
from snn_interop_plugins._common import availability, dist_version

NAME = "sinabs"
EXTRA = "sinabs"
#: Set to "exodus", build_neuron builds sinabs-exodus's layers (CUDA only)
BACKEND_VARIABLE = "SNN_INTEROP_SINABS_BACKEND"


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


class _CanonicalSpikeFn:
    """A sinabs spike_fn with the canonical compare and surrogate, differentiable in the threshold
    too: for v > threshold (sinabs's own fire at >=) and for ALIF's adaptive threshold (sinabs's
    own return no gradient for it; the canonical neuron's reaches the adaptation through it).

    Sinabs calls ``spike_fn.apply(*states[required_states], threshold, surrogate_grad_fn)``.
    """

    required_states = ["v_mem"]

    def __init__(self, neuron: Neuron) -> None:
        self.surrogate, self.compare = neuron.surrogate, neuron.compare

    def apply(self, v_mem: torch.Tensor, threshold: torch.Tensor, surrogate_grad_fn: object) -> torch.Tensor:
        return HeavisideSurrogate.apply(v_mem - threshold, self.surrogate, self.compare)


def _spiking(n: Neuron) -> dict:
    """spike_fn, reset_fn and surrogate_grad_fn for a canonical neuron."""
    from sinabs import activation

    require(NAME, [
        (n.reset_timing is ResetTiming.SAME_STEP, f"reset_timing={n.reset_timing.value}", "sinabs resets with this step's spikes"),
        (n.reset is not ResetMode.NONE, "reset=none", "every spiking layer resets"),
        (n.reset is not ResetMode.SUBTRACT or not n.detach_reset, "reset subtract detached", "MembraneSubtract is not detached"),
        (n.reset is not ResetMode.TO_VALUE or n.detach_reset, "reset to_value not detached", "MembraneReset's (spikes == 0) mask carries no gradient"),
        (n.reset is not ResetMode.TO_VALUE or n.v_reset == 0.0, f"v_reset={n.v_reset}", "MembraneReset(v) adds v to every neuron, spiking or not (bug): only 0 is exact"),
        (n.compare is Compare.GE or n.spike_fn is SpikeFn.SINGLE, f"compare > with spike_fn={n.spike_fn.value}", "only single spikes can be made strict"),
        (n.model is not Model.ADAPTIVE_LIF or n.spike_fn is SpikeFn.SINGLE, f"adaptive with spike_fn={n.spike_fn.value}",
         "only single spikes carry the adaptive threshold's gradient"),
    ])
    # sinabs' own surrogates scale their width with one threshold: per-neuron thresholds get the canonical one
    found = native_alias(n, NAME) if uniform(n.threshold) else None
    surrogate = getattr(activation, found[0].removeprefix("activation."))(**found[1]) if found else surrogate_derivative(n.surrogate)
    if n.compare is Compare.GT or n.model is Model.ADAPTIVE_LIF:
        spike_fn = _CanonicalSpikeFn(n)
    else:
        spike_fn = {SpikeFn.SINGLE: activation.SingleSpike, SpikeFn.MULTI: activation.MultiSpike}.get(n.spike_fn) or activation.MaxSpike(n.max_spikes)
    reset_fn = activation.MembraneSubtract() if n.reset is ResetMode.SUBTRACT else activation.MembraneReset(0.0)
    return dict(spike_fn=spike_fn, reset_fn=reset_fn, surrogate_grad_fn=surrogate)


def build_neuron(neuron: Neuron) -> torch.nn.Module:
    """Sinabs' IAF, LIF (with tau_syn for current-based) or ExpLeak for a canonical neuron.

    Built with ``train_alphas=True`` and converted to float64, the per-step decays are set to the
    canonical values exactly (sinabs itself would compute exp(-1/tau) in float32). Thresholds and
    decays may differ across neurons (tensors shaped like the neurons). With
    ``SNN_INTEROP_SINABS_BACKEND=exodus``, sinabs-exodus's layers of the same names, kept in
    float32 (its kernels take nothing else), with decay_early=False on ExpLeak (sinabs' order).
    """
    n = neuron
    exodus = os.environ.get(BACKEND_VARIABLE) == "exodus"
    if exodus:
        import sinabs.exodus.layers as sl
    else:
        import sinabs.layers as sl
    cuba = n.model is Model.CUBA_LIF
    norm_input = n.input_scale is InputScale.ONE_MINUS_BETA and n.r == 1.0
    other = [p for p in n.per_neuron if p not in ("threshold", "decay.beta", "syn_decay.beta")]
    require(NAME, [
        (not other, f"per-neuron {', '.join(other)}", "only thresholds and decays take one value per neuron"),
        (n.model is not Model.ADAPTIVE_LIF or not n.adapt_decay_first, "adapt_decay_first",
         "ALIF compares with the adaptation of the previous step, not one decayed this step"),
        (n.model is not Model.ADAPTIVE_LIF or uniform(n.threshold), "per-neuron threshold", "ALIF's b0 is one number"),
        (n.model is not Model.ADAPTIVE_LIF or not n.synaptic_current, "adaptive with a synaptic current",
         "ALIF(tau_syn) restarts its synaptic current at 0 on every call"),
        (n.model is not Model.LI or not n.synaptic_current, "li with a synaptic current", "ExpLeak has no synaptic current"),
        (n.v_leak == 0.0 and n.v_init == 0.0, "v_leak/v_init", "sinabs leaks to 0 from 0"),
        (n.model is Model.IF or norm_input or equals(n.input_gain, 1.0), f"input gain {show(n.input_gain)}", "LIF scales the input by 1 - beta (norm_input) or not at all"),
        (n.model is not Model.IF or equals(n.input_gain, 1.0), f"input gain {show(n.input_gain)}", "IAF adds the input unscaled"),
        (not cuba or n.syn_input_gain == n.syn_decay.beta, f"synaptic input gain {show(n.syn_input_gain)}",
         "the synaptic current is alpha (i + x): its input gain is alpha"),
        (not cuba or n.synapse_order is SynapseOrder.CURRENT_FIRST, "synapse_order=membrane_first", "this step's current reaches the membrane"),
    ])
    if exodus and n.spikes:
        require(NAME + "[exodus]", [
            (n.reset is ResetMode.SUBTRACT, f"reset={n.reset.value}", "exodus's kernels subtract the threshold (MembraneSubtract only)"),
            (n.compare is Compare.GE, "compare >", "exodus's kernels fire at v >= threshold"),
            (n.model is not Model.ADAPTIVE_LIF, "model=adaptive_lif", "exodus has no ALIF"),
        ])
    extra = dict(min_v_mem=n.v_min, record_states=True)
    tau = lambda v: torch.full(values(v).shape, 10.0)  # noqa: E731 - placeholders of the decays' shape, set below
    threshold = torch.as_tensor(values(n.threshold))
    if n.model is Model.LI:
        module = sl.ExpLeak(tau_mem=tau(n.decay.beta), train_alphas=True, norm_input=norm_input, **extra,
                            **(dict(decay_early=False) if exodus else {}))
    elif n.model is Model.IF:
        module = sl.IAF(spike_threshold=threshold, **_spiking(n), **extra)
    elif n.model is Model.ADAPTIVE_LIF:  # with the canonical spike function (_spiking), differentiable in the threshold
        module = sl.ALIF(tau_mem=tau(n.decay.beta), tau_adapt=10.0, adapt_scale=n.adapt_scale, spike_threshold=float(n.threshold),
                         train_alphas=True, norm_input=norm_input, **_spiking(n), **extra)
    else:
        module = sl.LIF(tau_mem=tau(n.decay.beta), tau_syn=tau(n.syn_decay.beta) if cuba else None, train_alphas=True,
                        norm_input=norm_input, spike_threshold=threshold, **_spiking(n), **extra)
    module = module.float() if exodus else module.double()
    with torch.no_grad():
        if n.model is not Model.IF:
            module.alpha_mem.copy_(torch.as_tensor(values(n.decay.beta)))
        if n.model is Model.ADAPTIVE_LIF:
            module.alpha_adapt.copy_(torch.as_tensor(values(n.adapt_decay.beta)))
        if cuba:
            module.alpha_syn.copy_(torch.as_tensor(values(n.syn_decay.beta)))
        if n.spikes and n.model is not Model.ADAPTIVE_LIF:  # ALIF's b0 is a number, set above
            module.spike_threshold.copy_(threshold)
    return module


def parameters(module: torch.nn.Module) -> dict[str, tuple[torch.Tensor, float]]:
    """The tensors a layer built by ``build_neuron`` computes with, each with d native /
    d canonical: with ``train_alphas`` the decays are the canonical ones (alpha_mem = beta; the
    1 - beta input gain follows it), the threshold is ``spike_threshold``."""
    import sinabs.layers as sl

    if isinstance(module, sl.ALIF):  # its b0 is a number; its spike_threshold is a state (b0 + adapt_scale b)
        return {"decay.beta": (module.alpha_mem, 1.0)} if module.train_alphas else {}
    if not isinstance(module, (sl.IAF, sl.LIF, sl.ExpLeak)):
        return {}
    out = {"threshold": (module.spike_threshold, 1.0)} if getattr(module, "spike_threshold", None) is not None else {}
    if getattr(module, "train_alphas", False):
        out["decay.beta"] = (module.alpha_mem, 1.0)
        if getattr(module, "alpha_syn", None) is not None:
            out["syn_decay.beta"] = (module.alpha_syn, 1.0)
    return out


def capabilities() -> Capabilities:
    return Capabilities(
        framework=NAME, version=framework_version(),
        neurons={"if": "IAF", "lif": "LIF", "cuba_lif": "LIF(tau_syn=...)", "li": "ExpLeak",
                 "adaptive_lif": "ALIF (single spikes, the canonical spike function: sinabs's own pass no threshold gradient)"},
        conventions={"reset": "subtract (not detached) or to 0 (detached), same step", "spike_fn": "single, multi, max",
                     "input gain": "1, or 1 - beta (norm_input); synaptic: alpha", "v_min": "any (min_v_mem)",
                     "per-neuron": "thresholds and decays (tensors shaped like the neurons)",
                     "compare": ">= natively, > through an injected spike function (single spikes)"},
        surrogates="its own aliases natively; every other surrogate injected as surrogate_grad_fn",
        backends={"cpu": ("torch",), "cuda": ("torch", "exodus")},
    )


def backend_environment(device: str, backend: str) -> dict[str, str] | None:
    """The environment under which :func:`build_neuron` builds ``backend``'s layers: sinabs-exodus
    on CUDA when it is installed (its CUDA extension ``exodus_cuda`` importable); None otherwise."""
    if device != "cuda" or backend != "exodus":
        return None
    if importlib.util.find_spec("exodus_cuda") is None or importlib.util.find_spec("sinabs.exodus") is None:
        return None
    return {BACKEND_VARIABLE: "exodus"}


def run(module: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a sinabs layer (batch-first [B, T, ...]) on time-major ``x`` [T, B, ...].

    Returns (spikes, membrane after reset and clipping) time-major; needs ``record_states=True``.
    ExpLeak's output is its membrane: its spikes are reported as zeros.
    """
    module.reset_states()
    return run_continue(module, x)


def step(module: torch.nn.Module, x_t: torch.Tensor, state: Any) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """One step: a sequence of length 1; the layer keeps its state between calls."""
    if state is None:
        module.reset_states()
    spikes, v = run_continue(module, x_t.unsqueeze(0))
    return spikes[0], v[0], True


def run_continue(module: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Continue a layer from its current state over time-major ``x``."""
    if x.dtype != torch.float32 and type(module).__module__.startswith("sinabs.exodus"):
        raise NotExpressible(NAME + "[exodus]", f"dtype {str(x.dtype).removeprefix('torch.')}", "exodus's CUDA kernels take float32 only")
    import sinabs.layers as sl

    if isinstance(module, sl.ALIF):  # its v_mem recordings are the next step's charged membrane (not cloned): step by step
        outs, vs = [], []
        for x_t in x:
            outs.append(module(x_t.unsqueeze(1).contiguous())[:, 0])
            vs.append(module.v_mem)
        return torch.stack(outs).to(x.dtype), torch.stack(vs)
    # contiguous batch-first, as users pass it: exodus's ExpLeak refuses the view a transpose gives
    out = module(x.transpose(0, 1).contiguous()).transpose(0, 1)
    v = module.recordings["v_mem"].transpose(0, 1)
    return (torch.zeros_like(v) if module.spike_fn is None else out.to(x.dtype)), v  # ExpLeak (sinabs's, exodus's): no spikes


def _exodus_kind(layer: torch.nn.Module) -> str | None:
    """"IAF", "LIF" or "ExpLeak" for sinabs-exodus's layers (or their Squeeze forms), else None."""
    cls = type(layer)
    kind = cls.__name__.removesuffix("Squeeze")
    return kind if cls.__module__.startswith("sinabs.exodus.") and kind in ("IAF", "LIF", "ExpLeak") else None


def describe_neuron(layer: torch.nn.Module) -> Neuron | None:
    """The canonical neuron of an IAF, LIF or ExpLeak, sinabs's or sinabs-exodus's (with or without
    a synaptic current), of an IAFRecurrent or LIFRecurrent (whose recurrence
    :func:`describe_recurrent` gives), or of an ALIF; None for other layers.

    exodus's ``decay_early`` is sinabs's order when True for the synaptic current (i = alpha (i + x))
    and False for ExpLeak's membrane; a synaptic current with decay_early=False takes x unscaled.
    ALIF (without tau_syn) is the canonical adaptive LIF: theta = b0 + adapt_scale b[t-1], the
    reset subtracts that theta, b = rho b + (1 - rho) s.
    """
    import sinabs.layers as sl

    exodus = _exodus_kind(layer)
    alif = type(layer) is sl.ALIF
    if type(layer) not in (sl.IAF, sl.LIF, sl.ExpLeak, sl.IAFRecurrent, sl.LIFRecurrent, *_squeezed()) and exodus is None and not alif:
        return None
    num = lambda t: pack(t.detach().cpu().numpy())  # noqa: E731 - one value, or per neuron
    beta = num(layer.alpha_mem_calculated)
    scale = InputScale.ONE_MINUS_BETA if getattr(layer, "norm_input", False) else InputScale.NONE
    v_min = float(layer.min_v_mem) if layer.min_v_mem is not None else None
    if isinstance(layer, sl.ExpLeak) or exodus == "ExpLeak":
        if exodus and layer.decay_early:
            raise NotExpressible(NAME + "[exodus]", "ExpLeak(decay_early=True)", "the input decays in the step it arrives, "
                                 "on top of norm_input: sinabs's order is decay_early=False")
        return Neuron.li(Decay(beta), input_scale=scale, v_min=v_min)
    if alif:
        require(NAME, [(layer.alpha_syn_calculated is None, "ALIF(tau_syn=...)", "sinabs 3.1.3's ALIF restarts its synaptic current at 0 "
                        "on every call and compounds norm_input into it")])
        surrogate, common = _firing(layer, float(layer.b0), adaptive=True)
        return Neuron.adaptive_lif(surrogate, Decay(beta), Decay(float(layer.alpha_adapt_calculated.detach())), float(layer.adapt_scale),
                                   input_scale=scale, v_min=v_min, **common)
    surrogate, common = _firing(layer, num(layer.spike_threshold))
    if layer.alpha_syn_calculated is not None:  # an IAF's too: a current-based IF is a CuBa LIF with beta 1
        syn_scale = InputScale.NONE if exodus and not layer.decay_early else InputScale.BETA
        return Neuron.cuba_lif(surrogate, Decay(beta), Decay(num(layer.alpha_syn_calculated)), input_scale=scale,
                               syn_input_scale=syn_scale, v_min=v_min, **common)
    if isinstance(layer, (sl.IAF, sl.IAFRecurrent)) or exodus == "IAF":
        return Neuron.if_(surrogate, v_min=v_min, **common)
    return Neuron.lif(surrogate, Decay(beta), input_scale=scale, v_min=v_min, **common)


def describe_recurrent(layer: torch.nn.Module, shape: tuple[int, ...]) -> torch.nn.Module | None:
    """The ``rec_connect`` of an IAFRecurrent or LIFRecurrent, whose output on this step's spikes
    is added to the next step's input (sinabs's ``lif_recurrent``); None for any other layer.

    sinabs adds nothing before the first step, where a NIR cycle adds the recurrent layer's
    response to no spikes: a bias there is refused."""
    import sinabs.layers as sl

    if not isinstance(layer, (sl.IAFRecurrent, sl.LIFRecurrent)):
        return None
    rec = layer.rec_connect
    bias = getattr(rec, "bias", None)
    require(NAME, [(bias is None or not bool(bias.detach().ne(0).any()), f"{type(layer).__name__} rec_connect with a bias",
                    "sinabs feeds back nothing before the first step; a NIR cycle feeds back the bias there")])
    return rec


def _firing(layer: torch.nn.Module, threshold: Any, adaptive: bool = False) -> tuple[Any, dict]:
    """The surrogate and the firing conventions (threshold, compare, spike function, reset) of a
    spiking sinabs layer; an ``adaptive`` threshold (ALIF) needs the canonical spike function."""
    from sinabs import activation

    fn = layer.spike_fn
    if adaptive and not isinstance(fn, _CanonicalSpikeFn):
        raise NotExpressible(NAME, f"ALIF spike_fn={getattr(fn, '__name__', fn)!r}", "sinabs's spike functions pass no gradient to the "
                             "adaptive threshold, the canonical neuron's does: the forward would be exact, the input gradients not")
    if isinstance(fn, _CanonicalSpikeFn):  # its own surrogate: surrogate_grad_fn is not called
        surrogate, compare, spike_fn, max_spikes = fn.surrogate, fn.compare, SpikeFn.SINGLE, 1
    else:
        sg = layer.surrogate_grad_fn
        if isinstance(sg, CanonicalDerivative):
            surrogate = sg.surrogate
        elif isinstance(threshold, tuple):
            raise NotExpressible(NAME, "per-neuron spike_threshold", "sinabs surrogate widths scale with the threshold: describe one value")
        else:
            surrogate = from_native(NAME, "activation." + type(sg).__name__, dict(vars(sg)), theta=threshold)
        compare = Compare.GE
        if fn is activation.SingleSpike:
            spike_fn = SpikeFn.SINGLE
        elif fn is activation.MultiSpike:
            spike_fn = SpikeFn.MULTI
        elif isinstance(fn, activation.MaxSpike):  # an instance (unhashable): at most max_num_spikes_per_bin
            spike_fn = SpikeFn.MAX
        else:
            raise NotExpressible(NAME, f"spike_fn={fn!r}", "only SingleSpike, MultiSpike and MaxSpike(n) are known")
        max_spikes = getattr(fn, "max_num_spikes_per_bin", None) or 1
    reset_fn = layer.reset_fn
    if isinstance(reset_fn, activation.MembraneSubtract) and reset_fn.subtract_value is None:
        reset = dict(reset=ResetMode.SUBTRACT, detach_reset=False)
    elif isinstance(reset_fn, activation.MembraneReset) and reset_fn.reset_value == 0.0:
        reset = dict(reset=ResetMode.TO_VALUE, v_reset=0.0, detach_reset=True)
    else:
        raise NotExpressible(NAME, f"reset_fn={reset_fn!r}", "only MembraneSubtract() and MembraneReset(0) are exact")
    return surrogate, dict(threshold=threshold, compare=compare, spike_fn=spike_fn, max_spikes=max_spikes, **reset)


def from_nir(graph: Any, **options: Any) -> torch.nn.Module:
    """A runnable sinabs model of a NIR graph (see snn_interop.nir.graph.from_nir)."""
    return nir_graph.from_nir(graph, sys.modules[__name__], **options)


def to_nir(module: torch.nn.Module, sample_input: torch.Tensor) -> Any:
    """The NIR graph of a sinabs model (nn.Sequential or a from_nir module); sample: one step [B, ...]."""
    return nir_graph.to_nir(module, sys.modules[__name__], sample_input)


def _squeezed() -> tuple[type, ...]:
    """sinabs's neuron layers that take batch and time folded into one dimension, [B*T, ...]."""
    import sinabs.layers as sl

    return (sl.IAFSqueeze, sl.LIFSqueeze, sl.ExpLeakSqueeze)


@contextlib.contextmanager
def _recurrent_membranes(neurons: Mapping[str, torch.nn.Module]) -> Iterator[dict[str, torch.Tensor]]:
    """The time-major end-of-step membranes of the IAFRecurrent/LIFRecurrent layers among
    ``neurons``, filled in as they run.

    sinabs 3.1.3's ``lif_recurrent`` records each step's state dict, which the next step's
    ``lif_forward_single`` then mutates: its ``v_mem`` recording is the next step's membrane
    before reset. While such a layer runs, each step's state is observed as
    ``lif_forward_single`` returns it (after reset and clipping) instead."""
    import sinabs.layers as sl
    import sinabs.layers.functional.lif as fl

    original, seen, out, handles = fl.lif_forward_single, {}, {}, []

    def observe(steps: list[torch.Tensor]) -> Callable[..., Any]:
        def observed(*args: Any, **kwargs: Any) -> Any:
            spikes, state = original(*args, **kwargs)
            steps.append(state["v_mem"].clone())
            return spikes, state
        return observed

    def start(name: str) -> Callable[..., None]:
        return lambda module, args: setattr(fl, "lif_forward_single", observe(seen.setdefault(name, [])))

    def stop(name: str) -> Callable[..., None]:
        def done(module: Any, args: Any, output: Any) -> None:
            fl.lif_forward_single = original
            out[name] = torch.stack(seen.pop(name))
        return done

    for name, m in neurons.items():
        if isinstance(m, (sl.IAFRecurrent, sl.LIFRecurrent)):
            handles += [m.register_forward_pre_hook(start(name)), m.register_forward_hook(stop(name))]
    try:
        yield out
    finally:
        fl.lif_forward_single = original
        for h in handles:
            h.remove()


def describe_layer(layer: torch.nn.Module) -> torch.nn.Module | None:
    """``sinabs.from_torch.from_model``'s ``Network``, whose forward is its ``spiking_model``'s, as that Sequential."""
    from sinabs.network import Network

    return layer.spiking_model if isinstance(layer, Network) else None


def reset(model: torch.nn.Module) -> None:
    """Clear the state sinabs's layers keep between calls (their ``reset_states``)."""
    for m in model.modules():
        if hasattr(m, "reset_states"):
            m.reset_states()


def is_sum(layer: torch.nn.Module) -> bool:
    """sinabs's ``Merge``: its output is the sum of its two inputs (``DynapcnnNetwork``'s way to join two layers' spikes)."""
    import sinabs.layers as sl

    return isinstance(layer, sl.Merge)


@contextlib.contextmanager
def layout(model: torch.nn.Module, steps: int, batch: int) -> Iterator[tuple[Callable[[torch.Tensor], torch.Tensor], ...]]:
    """How ``model`` takes a whole sequence: batch first, [B, T, ...]; or, when its neurons are
    Squeeze layers (IAFSqueeze, the form DYNAP-CNN takes), batch and time folded, [B*T, ...],
    each Squeeze layer set to this batch size meanwhile. Yields (time-major -> that, back)."""
    neurons = [m for m in model.modules() if describe_neuron(m) is not None]
    squeezed = [_is_squeezed(m) for m in neurons]
    if any(squeezed) and not all(squeezed):
        raise ValueError("a sinabs network that mixes Squeeze neurons ([B*T, ...] input) with others ([B, T, ...]) cannot run")
    if not any(squeezed):
        with batch_first(model, steps, batch) as swaps:
            yield swaps
        return
    folds = [(m, m.batch_size, m.num_timesteps) for m in neurons]
    try:
        for m, _, _ in folds:
            m.batch_size, m.num_timesteps = batch, -1
        yield (lambda v: v.transpose(0, 1).flatten(0, 1)), (lambda v: v.unflatten(0, (batch, steps)).transpose(0, 1))
    finally:
        for m, b, t in folds:
            m.batch_size, m.num_timesteps = b, t


def _is_squeezed(m: torch.nn.Module) -> bool:
    import sinabs.layers as sl

    return isinstance(m, sl.SqueezeMixin)  # sinabs's and exodus's Squeeze layers


def run_model(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A sinabs network of batch-first layers ([B, T, ...]) on time-major ``x``: its output, and
    each neuron layer's membrane after reset and clipping keyed by its index in the Sequential.

    A network of Squeeze neurons (IAFSqueeze, the form DYNAP-CNN takes) gets batch and time
    folded, [B*T, ...] (:func:`layout`)."""
    neurons = {name: m for name, m in chain(model) if describe_neuron(m) is not None}
    reset(model)
    for m in neurons.values():
        m.record_states = True
    with layout(model, *x.shape[:2]) as (into, back), _recurrent_membranes(neurons) as recurrent:
        y = back(model(into(x))).to(x.dtype)
    return y, {name: recurrent[name] if name in recurrent else m.recordings["v_mem"].transpose(0, 1) for name, m in neurons.items()}


def example_mlp(dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """A 12 -> 16 -> 5 network as sinabs users write it: LIF(tau_mem=8) with
    SingleExponential(grad_width=0.3). Seeded weights; used by tests and the NIR matrix."""
    import sinabs.layers as sl
    from sinabs.activation import SingleExponential

    return torch.nn.Sequential(seeded_linear(12, 16, 20.0, 0, dtype), sl.LIF(tau_mem=8.0, surrogate_grad_fn=SingleExponential(grad_width=0.3)),
                               seeded_linear(16, 5, 20.0, 1, dtype), sl.LIF(tau_mem=8.0, surrogate_grad_fn=SingleExponential(grad_width=0.3)))
