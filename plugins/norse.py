"""Norse 1.1.0 plugin.

Norse selects its surrogate by name, ``threshold(x, method, alpha)`` in
``norse.torch.functional.threshold``, on x = v - v_th; its Heaviside fires at x > 0.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from snn_interop.nir import graph as nir_graph
from snn_interop.plugin_api import Capabilities, chain, linear_of, native_alias, NotExpressible, require, run_by_steps, seeded_linear, show
from snn_interop.spec.neurons import (
    Compare, Decay, Discretisation, InputScale, Model, Neuron, ResetMode, ResetTiming, SpikeFn, SynapseOrder, pack, uniform,
)
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


def build_neuron(neuron: Neuron) -> torch.nn.Module:
    """Norse's IAFCell, LIFBoxCell (LIF), LIFCell (current-based), LIBoxCell (LI), LICell
    (current-based LI) or LSNNCell (adaptive, current-based).

    Built with dt = 1 and per-step rates tau_inv = 1 - beta as float64 tensors, so the forward
    Euler step dt tau_inv is exactly the canonical 1 - beta. LSNNCell's threshold b relaxes to
    v_th at tau_adapt_inv = 1 - rho and jumps by its beta = adapt_scale (1 - rho) per spike, so
    b = threshold + adapt_scale a with a the canonical adaptation. Norse picks its surrogate by name
    only, so a surrogate without a norse alias cannot be injected: it is refused. Thresholds
    and decays may differ across neurons (norse's parameters are tensors broadcast over the
    neurons); every other parameter takes one value.
    """
    import norse.torch as nt
    from norse.torch.functional.reset import reset_subtract, reset_value

    n = neuron
    other = [p for p in n.per_neuron if p not in ("threshold", "decay.beta", "syn_decay.beta")]
    require(NAME, [(not other, f"per-neuron {', '.join(other)}", "only thresholds and decays take one value per neuron")])
    f64 = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731 - one value, or nested tuples per neuron
    rate = lambda beta: 1.0 - f64(beta)  # noqa: E731 - dt tau_inv with dt = 1, elementwise in float64
    gain_ok = n.input_scale is InputScale.ONE_MINUS_BETA and n.r == 1.0
    if n.model is Model.LI:
        require(NAME, [(gain_ok, f"input gain {show(n.input_gain)}", "LIBoxCell and LICell scale the input by dt tau_mem_inv = 1 - beta"),
                       (n.v_init == n.v_leak, f"v_init={n.v_init}", "the membrane starts at v_leak")])
        if n.synaptic_current:
            require(NAME, [(n.syn_input_gain == 1.0, f"synaptic input gain {show(n.syn_input_gain)}", "the input jumps the current unscaled"),
                           (n.synapse_order is SynapseOrder.CURRENT_FIRST, "synapse_order=membrane_first", "LICell charges with this step's current")])
            return nt.LICell(nt.LIParameters(tau_syn_inv=rate(n.syn_decay.beta), tau_mem_inv=rate(n.decay.beta), v_leak=f64(n.v_leak)), dt=1.0)
        return nt.LIBoxCell(nt.LIBoxParameters(tau_mem_inv=rate(n.decay.beta), v_leak=f64(n.v_leak)), dt=1.0)
    found = native_alias(n, NAME)
    require(NAME, [
        (n.model is not Model.ADAPTIVE_LIF or n.synaptic_current, "adaptive without a synaptic current",
         "LSNNCell, norse's adaptive neuron, is current-based"),
        (found is not None and found[0].startswith("threshold:"), f"surrogate {n.surrogate!r} with compare {n.compare.value}",
         "norse selects its surrogate by name (super, tanh, circ, heavi_erfc, triangle) and fires at v > v_th"),
        (n.reset_timing is ResetTiming.SAME_STEP, f"reset_timing={n.reset_timing.value}", "norse resets with this step's spike"),
        (not n.detach_reset, "detach_reset", "the feed-forward cells do not detach the reset"),
        (n.reset is not ResetMode.NONE, "reset=none", "every cell resets"),
        (n.spike_fn is SpikeFn.SINGLE and n.v_min is None, "spike_fn/v_min", "single spikes, no lower bound"),
    ])
    method, alpha = found[0].removeprefix("threshold:"), found[1].get("alpha", 0.0)
    if n.model is Model.IF:
        require(NAME, [(n.input_gain == 1.0, f"input gain {show(n.input_gain)}", "IAFCell adds the input unscaled"),
                       (n.reset is ResetMode.TO_VALUE and n.v_init == n.v_reset, "reset/v_init", "IAFCell resets to v_reset and starts there")])
        return nt.IAFCell(nt.IAFParameters(v_th=f64(n.threshold), v_reset=f64(n.v_reset), method=method, alpha=f64(alpha)))
    require(NAME, [(gain_ok, f"input gain {show(n.input_gain)}", "norse scales the input by dt tau_mem_inv = 1 - beta"),
                   (n.v_init == n.v_leak, f"v_init={n.v_init}", "the membrane starts at v_leak")])
    if n.model is Model.ADAPTIVE_LIF:
        require(NAME, [(n.reset is ResetMode.TO_VALUE, "reset=subtract", "LSNNCell resets to v_reset"),
                       (n.syn_input_gain == 1.0, f"synaptic input gain {show(n.syn_input_gain)}", "the input jumps the current unscaled"),
                       (n.synapse_order is SynapseOrder.MEMBRANE_FIRST, "synapse_order=current_first", "LSNNCell charges with last step's current"),
                       (n.adapt_decay_first, "adapt_decay_first=False", "LSNNCell compares with the adaptation already decayed this step")])
        rho = f64(n.adapt_decay.beta)
        p = nt.LSNNParameters(tau_syn_inv=rate(n.syn_decay.beta), tau_mem_inv=rate(n.decay.beta), tau_adapt_inv=1.0 - rho,
                              v_leak=f64(n.v_leak), v_th=f64(n.threshold), v_reset=f64(n.v_reset), beta=n.adapt_scale * (1.0 - rho),
                              method=method, alpha=f64(alpha))
        return nt.LSNNCell(p, dt=1.0)
    if n.model is Model.CUBA_LIF:
        require(NAME, [(n.reset is ResetMode.TO_VALUE, "reset=subtract", "LIFCell resets to v_reset"),
                       (n.syn_input_gain == 1.0, f"synaptic input gain {show(n.syn_input_gain)}", "the input jumps the current unscaled"),
                       (n.synapse_order is SynapseOrder.CURRENT_FIRST, "synapse_order=membrane_first", "LIFCell charges with this step's current")])
        p = nt.LIFParameters(tau_syn_inv=rate(n.syn_decay.beta), tau_mem_inv=rate(n.decay.beta), v_leak=f64(n.v_leak),
                             v_th=f64(n.threshold), v_reset=f64(n.v_reset), method=method, alpha=f64(alpha))
        return nt.LIFCell(p, dt=1.0)
    p = nt.LIFBoxParameters(tau_mem_inv=rate(n.decay.beta), v_leak=f64(n.v_leak), v_th=f64(n.threshold), v_reset=f64(n.v_reset),
                            method=method, alpha=f64(alpha), reset_method=reset_value if n.reset is ResetMode.TO_VALUE else reset_subtract)
    return nt.LIFBoxCell(p, dt=1.0)


def parameters(module: torch.nn.Module) -> dict[str, tuple[torch.Tensor, float]]:
    """The tensors a cell built by ``build_neuron`` computes with, each with d native /
    d canonical: dt = 1, so tau_inv = 1 - beta (slope -1; the 1 - beta input gain is the same
    tensor), and v_th is the threshold."""
    if type(module) not in _cells():
        return {}
    p = module.p
    out = {"decay.beta": (p.tau_mem_inv, -float(module.dt))} if hasattr(p, "tau_mem_inv") else {}
    if hasattr(p, "v_th"):
        out["threshold"] = (p.v_th, 1.0)
    if hasattr(p, "tau_syn_inv"):
        out["syn_decay.beta"] = (p.tau_syn_inv, -float(module.dt))
    return out


def capabilities() -> Capabilities:
    return Capabilities(
        framework=NAME, version=framework_version(),
        neurons={"if": "IAFCell", "lif": "LIFBoxCell", "cuba_lif": "LIFCell", "li": "LIBoxCell; LICell (with a synaptic current)",
                 "adaptive_lif": "LSNNCell (with a synaptic current the membrane sees a step late; the threshold sees the adaptation decayed)"},
        conventions={"reset": "to v_reset (all), subtract (LIFBoxCell); same step; not detached",
                     "input gain": "1 - beta (dt tau_mem_inv); IAF: 1", "compare": "> only", "spike_fn": "single", "v_min": "none"},
        surrogates="its own aliases only (method names super, tanh, circ, heavi_erfc, triangle): no injection point",
        backends={"cpu": ("torch",), "cuda": ("torch",)},
    )


def _cells() -> tuple[type, ...]:
    import norse.torch as nt

    return (nt.IAFCell, nt.LIFBoxCell, nt.LIFCell, nt.LIBoxCell, nt.LICell, nt.LSNNCell)


def step(module: torch.nn.Module, x_t: torch.Tensor, state: Any) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """One step of a norse cell: (spikes, membrane after reset, cell state)."""
    import norse.torch as nt

    out, state = module(x_t, state)
    spikes = torch.zeros_like(x_t) if isinstance(module, (nt.LIBoxCell, nt.LICell)) else out
    return spikes, state.v.expand_as(x_t), state


def run(module: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a norse module on time-major ``x`` [T, B, ...]: (spikes, membrane after reset).

    Time-wrapped modules (``LIF(record_states=True)``) take the whole sequence; cells are stepped.
    A leaky integrator's output is its membrane: its spikes are zeros.
    """
    import norse.torch as nt

    if isinstance(module, _cells()):
        return run_by_steps(step, module, x)
    out, states = module(x)
    return (torch.zeros_like(out), out) if isinstance(module, nt.LI) else (out, states.v)


def _time_wrapped() -> dict[type, type]:
    """Norse's modules that run a cell over the whole sequence, and that cell."""
    import norse.torch as nt

    return {nt.LIF: nt.LIFCell, nt.IAF: nt.IAFCell, nt.LSNN: nt.LSNNCell, nt.LI: nt.LICell, nt.LIFRecurrent: nt.LIFRecurrentCell}


def describe_neuron(layer: torch.nn.Module) -> Neuron | None:
    """The canonical neuron of an IAFCell, LIFBoxCell, LIFCell, LIBoxCell, LICell or LSNNCell, of
    a time-wrapped LIF, IAF, LSNN or LI (the same cell over the sequence), or of a
    LIFRecurrentCell, LIFRecurrent or LILinearCell (whose input and recurrent weights
    :func:`describe_input` and :func:`describe_recurrent` give); None otherwise.

    Each decay is 1 - dt tau_inv with dt tau_inv rounded as norse computes it, in the
    parameter's dtype (float32 by default: LIF()'s beta is 1 - 0.10000000149, not 0.9)."""
    import norse.torch as nt
    from norse.torch.functional.reset import reset_subtract, reset_value

    cell = _time_wrapped().get(type(layer))
    if cell is nt.LIFRecurrentCell:  # its weights do not enter the neuron (describe_input, describe_recurrent)
        return describe_neuron(cell(1, 1, p=layer.p, dt=layer.dt))
    if cell is not None:
        return describe_neuron(cell(p=layer.p, dt=layer.dt))
    if isinstance(layer, (nt.LSNNRecurrentCell, nt.LSNNRecurrent)):
        raise NotExpressible(NAME, "LSNNRecurrentCell", "its adaptation jumps by the detached spike (lsnn_step: b + z.detach() beta), "
                             "so no gradient reaches the threshold through it; the canonical adaptation, like LSNNCell's, carries one")
    if type(layer) not in (*_cells(), nt.LIFRecurrentCell, nt.LILinearCell):
        return None
    p = layer.p
    a = lambda t: np.asarray(torch.as_tensor(t).detach().cpu(), dtype=np.float64)  # noqa: E731
    f = lambda t: pack(a(t))  # noqa: E731 - one value, or per neuron
    decay = lambda tau_inv: Decay(pack(1.0 - a(layer.dt * tau_inv)))  # noqa: E731 - dt tau_inv as norse rounds it
    if isinstance(layer, nt.LIBoxCell):
        return Neuron.li(decay(p.tau_mem_inv), input_scale=InputScale.ONE_MINUS_BETA, v_leak=f(p.v_leak), v_init=f(p.v_leak))
    if isinstance(layer, (nt.LICell, nt.LILinearCell)):  # i += x (W x); v += dt tau_mem_inv ((v_leak - v) + i); i decays
        return Neuron.li(decay(p.tau_mem_inv), input_scale=InputScale.ONE_MINUS_BETA, v_leak=f(p.v_leak), v_init=f(p.v_leak),
                         synaptic_current=True, syn_decay=decay(p.tau_syn_inv))
    surrogate = from_native(NAME, "threshold:" + p.method, {"alpha": float(p.alpha)})
    common = dict(threshold=f(p.v_th), compare=Compare.GT, v_reset=f(p.v_reset), reset_timing=ResetTiming.SAME_STEP, detach_reset=False)
    if isinstance(layer, nt.IAFCell):
        return Neuron.if_(surrogate, reset=ResetMode.TO_VALUE, v_init=f(p.v_reset), **common)
    membrane = dict(input_scale=InputScale.ONE_MINUS_BETA, v_leak=f(p.v_leak), v_init=f(p.v_leak))
    if isinstance(layer, nt.LIFCell):
        return Neuron.cuba_lif(surrogate, decay(p.tau_mem_inv), decay(p.tau_syn_inv), reset=ResetMode.TO_VALUE, **membrane, **common)
    if isinstance(layer, nt.LIFRecurrentCell):  # lif_step: LIFCell's order, i += W_in x + W_rec z[t-1]; the reset detached
        return Neuron.cuba_lif(surrogate, decay(p.tau_mem_inv), decay(p.tau_syn_inv), reset=ResetMode.TO_VALUE, **membrane,
                               **(common | dict(detach_reset=True)))
    if isinstance(layer, nt.LSNNCell):
        return _describe_lsnn(layer, surrogate, decay, membrane | common)
    reset = {reset_value: ResetMode.TO_VALUE, reset_subtract: ResetMode.SUBTRACT}.get(p.reset_method)
    if reset is None:
        raise NotExpressible(NAME, f"reset_method={p.reset_method!r}", "only reset_value and reset_subtract are described")
    return Neuron.lif(surrogate, decay(p.tau_mem_inv), reset=reset, **membrane, **common)


def describe_input(layer: torch.nn.Module) -> torch.nn.Module | None:
    """The input weights a LIFRecurrentCell (or LIFRecurrent) or LILinearCell applies itself, W_in x,
    as a bias-free nn.Linear; None for any other layer."""
    import norse.torch as nt

    return linear_of(layer.input_weights) if isinstance(layer, (nt.LIFRecurrentCell, nt.LIFRecurrent, nt.LILinearCell)) else None


def describe_recurrent(layer: torch.nn.Module, shape: tuple[int, ...]) -> torch.nn.Module | None:
    """The recurrence of a LIFRecurrentCell (or LIFRecurrent), W_rec z[t-1] added to the next step's current, as a
    bias-free nn.Linear on the neurons; None for any other layer. Without autapses norse keeps
    the diagonal at zero, and so does the copy."""
    import norse.torch as nt

    return linear_of(layer.recurrent_weights) if isinstance(layer, (nt.LIFRecurrentCell, nt.LIFRecurrent)) else None


def _describe_lsnn(layer: torch.nn.Module, surrogate: Any, decay: Callable[[Any], Decay], conventions: dict) -> Neuron:
    """An LSNNCell: b relaxes to v_th, b' = b + dt tau_adapt_inv (v_th - b), compared as
    v' > b', then b = b' + beta z. With a = (b - v_th) / adapt_scale that is the canonical
    adaptation with rho = 1 - dt tau_adapt_inv and adapt_scale = beta / (1 - rho)."""
    p = layer.p
    adapt = decay(p.tau_adapt_inv)
    jump = np.asarray(torch.as_tensor(p.beta).detach().cpu(), dtype=np.float64)
    if not (uniform(adapt.beta) and jump.size == 1):
        raise NotExpressible(NAME, "per-neuron tau_adapt_inv or beta", "the adaptation's decay and step are one number")
    if adapt.beta == 1.0:
        raise NotExpressible(NAME, "tau_adapt_inv=0", "an adaptation that never decays has no canonical step size")
    return Neuron.adaptive_lif(surrogate, decay(p.tau_mem_inv), adapt, float(jump) / (1.0 - adapt.beta), syn_decay=decay(p.tau_syn_inv),
                               synaptic_current=True, synapse_order=SynapseOrder.MEMBRANE_FIRST, adapt_decay_first=True,
                               reset=ResetMode.TO_VALUE, **conventions)


def from_nir(graph: Any, **options: Any) -> torch.nn.Module:
    """A runnable norse model of a NIR graph (see snn_interop.nir.graph.from_nir)."""
    return nir_graph.from_nir(graph, sys.modules[__name__], **options)


def to_nir(module: torch.nn.Module, sample_input: torch.Tensor) -> Any:
    """The NIR graph of a norse model (nn.Sequential or a from_nir module); sample: one step [B, ...]."""
    return nir_graph.to_nir(module, sys.modules[__name__], sample_input)


def run_model(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A norse ``SequentialState`` of layers and cells stepped over time-major ``x``: its output,
    and each cell's membrane after reset keyed by its index in the sequence. A sequence of
    time-wrapped neurons (``LIF``, ``IAF``) and layers runs layer by layer over the whole
    sequence instead, as norse runs it (stateless layers see time folded into the batch)."""
    layers = chain(model, describe_layer)
    neurons = [name for name, m in layers if describe_neuron(m) is not None]
    wrapped = [type(m) in _time_wrapped() for _, m in layers if describe_neuron(m) is not None]
    if any(wrapped):
        if not all(wrapped):
            raise ValueError("a SequentialState that mixes time-wrapped neurons (LIF, IAF) with cells cannot run either way")
        return _run_wrapped(layers, x)
    state, outputs, membranes = None, [], {name: [] for name in neurons}
    for x_t in x:
        out, state = model(x_t, state)
        outputs.append(out)
        for name in neurons:
            membranes[name].append(_state_at(state, name).v)
    return torch.stack(outputs), {k: torch.stack(v) for k, v in membranes.items()}


def _state_at(state: list[Any], name: str) -> Any:
    """The state of cell ``name`` ("2.1": cell 1 of block 2) in a SequentialState's nested state list."""
    for index in name.split("."):
        if not isinstance(state, (list, tuple)):
            raise ValueError(f"norse cell {name} keeps no state across steps: a cell inside a plain nn.Sequential is called "
                             "without its state by SequentialState; put the block in a SequentialState")
        state = state[int(index)]
    return state


def _run_wrapped(layers: list[tuple[str, torch.nn.Module]], x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Time-wrapped neurons over ``x`` [T, B, ...], layer by layer, recording each neuron's membrane."""
    import norse.torch as nt

    y, membranes = x, {}
    for name, layer in layers:
        if type(layer) in _time_wrapped():
            recording, layer.record_states = layer.record_states, True
            try:
                y, states = layer(y)
            finally:
                layer.record_states = recording
            membranes[name] = states.v
        elif type(layer) is nt.Lift:  # norse's own way to apply a layer to each step
            y = layer(y)
        else:
            y = layer(y.flatten(0, 1)).unflatten(0, y.shape[:2])
    return y, membranes


def describe_layer(layer: torch.nn.Module) -> torch.nn.Module | None:
    """A nested ``SequentialState`` (a block of layers and cells) as the plain ``nn.Sequential``
    its layers form, so that ``to_nir`` opens it; ``Lift(m)`` (m applied to each step) as the
    stateless ``m`` it lifts."""
    import norse.torch as nt

    if type(layer) is nt.SequentialState:
        return torch.nn.Sequential(*layer)
    if type(layer) is nt.Lift and not layer.is_stateful:
        return layer.lifted_module
    return None


def example_mlp(dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """A 12 -> 16 -> 5 network as norse users write it: a SequentialState of LIFBoxCells with the
    'tanh' surrogate (alpha 4). Seeded weights; used by tests and the NIR matrix."""
    import norse.torch as nt

    p = nt.LIFBoxParameters(tau_mem_inv=torch.tensor(125.0, dtype=dtype), method="tanh", alpha=torch.tensor(4.0, dtype=dtype))
    return nt.SequentialState(seeded_linear(12, 16, 12.0, 0, dtype), nt.LIFBoxCell(p), seeded_linear(16, 5, 12.0, 1, dtype), nt.LIFBoxCell(p))
