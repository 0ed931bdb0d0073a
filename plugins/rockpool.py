"""Rockpool 3.1.0 plugin (its torch modules only; no hardware, no samna).

``rockpool.utilities.backend_management`` imports ``samna`` when it is imported (``import
rockpool`` reaches it), and the index's samna is a stub that runs pip against a vendor index:
every rockpool import here runs under :func:`_samna_blocked`, which makes ``import samna``
fail for that moment, so rockpool records samna as unavailable and nothing imports it.

Rockpool's ``LIFTorch`` (``leak_mode="decays"``) steps, per neuron, batch-first [B, T, N]:
i = beta_syn (i + x); v = alpha v + i + bias; s = spike_generation_fn(v, threshold, window,
max_spikes_per_dt); v = v - s threshold (same step, not detached). ``LIFNeuronTorch`` has no
synaptic current: v = exp(-dt / tau_mem) v + x + bias, the same spike and reset. Its own spike
functions ``StepPWL`` and ``PeriodicExponential`` fire floor(v / threshold) spikes at v >= threshold
(capped at max_spikes_per_dt). ``StepPWL`` (the default) is the spec's ``step`` surrogate and
``PeriodicExponential`` its ``multi_peak_exponential``, each with a capped multi-spike count.
The neurons built here get the canonical spike function as ``spike_generation_fn``. Parameters
and state are cast to float32 and state recordings use torch's default dtype; the modules are
built here in float64 and run with the default dtype set to theirs, so float64 runs stay exact.

Models are read as rockpool users write them: a combinator ``Sequential`` of ``LinearTorch``
(y = x W + b, W stored [in, out]) and neuron modules, in any leak mode (the decays are read as
rockpool computes them), or an ``nn.Sequential`` of torch layers and neuron modules.
"""
from __future__ import annotations

import contextlib
import math
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from snn_interop.nir import graph as nir_graph
from snn_interop.plugin_api import (Capabilities, NotExpressible, batch_first, chain, equals, require, require_uniform, seeded_linear,
                                    show, whole_model)
from snn_interop.spec.neurons import (
    Compare, Decay, InputScale, Model, Neuron, ResetMode, ResetTiming, SpikeFn, SynapseOrder, Value, pack, uniform,
)
from snn_interop.spec.oracle import spike as oracle_spike
from snn_interop.spec.schema import SurrogateConfig
from snn_interop.spec.surrogates import from_native
from snn_interop_plugins._common import availability, dist_version

NAME = "rockpool"
EXTRA = "rockpool"
DT = 1.0  #: rockpool's dt for the modules built here; decays are given per step


def available() -> str | None:
    return availability("rockpool", "rockpool")


def framework_version() -> str:
    return dist_version("rockpool")


@contextlib.contextmanager
def _samna_blocked() -> Iterator[None]:
    """``import samna`` raises ImportError inside (``sys.modules["samna"] = None``), restored after."""
    absent = "samna" not in sys.modules
    if absent:
        sys.modules["samna"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if absent and "samna" in sys.modules and sys.modules["samna"] is None:
            del sys.modules["samna"]


def importing() -> contextlib.AbstractContextManager[None]:
    """The context a user's model file is imported in (``snn-convert --from rockpool``): its
    ``import rockpool`` finds samna blocked, as the plugin's own imports do."""
    return _samna_blocked()


def _rockpool() -> tuple[Any, Any]:
    """rockpool's ``lif_torch`` and ``lif_neuron_torch`` modules, imported with samna blocked."""
    with _samna_blocked():
        from rockpool.nn.modules.torch import lif_neuron_torch, lif_torch
    return lif_torch, lif_neuron_torch


def spike_function(native: str, kwargs: Mapping[str, float], threshold: float = 1.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """Rockpool's own spike generation (``StepPWL`` or ``PeriodicExponential`` in lif_torch) on
    v = x + threshold, with the window and cap (``max_spikes_per_dt``, rockpool's default 2^16)
    kwargs give. The count it returns is shown as one spike (forward min(count, 1), its gradient
    untouched): the surrogate tests compare single spikes, and PeriodicExponential's gradient
    depends on the cap."""
    lif_torch, _ = _rockpool()
    fn = getattr(lif_torch, native)
    window, cap = kwargs.get("window", 0.5), float(kwargs.get("max_spikes_per_dt", 2.0**16))

    def spikes(x: torch.Tensor) -> torch.Tensor:
        count = fn.apply(x + threshold, torch.tensor(threshold, dtype=x.dtype), torch.tensor(window, dtype=x.dtype), torch.tensor(cap)).to(x.dtype)
        return count - (count - count.clamp(max=1.0)).detach()

    return spikes


def _step_pwl() -> tuple[type, ...]:
    """``StepPWL`` of lif_torch and its copy in lif_neuron_torch (the modules' default spike functions)."""
    lif_torch, lif_neuron_torch = _rockpool()
    return (lif_torch.StepPWL, lif_neuron_torch.StepPWL)


@dataclass(frozen=True)
class CanonicalSpikeGeneration:
    """The canonical spike function of ``neuron`` (its surrogate, compare and spike count:
    single, multi or max) in rockpool's ``spike_generation_fn`` calling convention.

    Rockpool stores ``spike_generation_fn.apply`` and calls it as ``(v, threshold, window,
    max_spikes_per_dt)``; window and cap are ignored (the neuron's own count is used)."""

    neuron: Neuron

    def apply(self, v: torch.Tensor, threshold: torch.Tensor, window: Any = None, max_spikes: Any = None) -> torch.Tensor:
        return oracle_spike(self.neuron, v, threshold)


def _tau_for(beta: float) -> float:
    """A tau_mem with torch.exp(-DT / tau) == beta in float64, as LIFNeuronTorch computes its decay."""
    if beta == 1.0:
        return math.inf
    if beta == 0.0:
        return 0.0
    tau = -DT / math.log(beta)
    for _ in range(8):
        got = float(torch.exp(-DT / torch.tensor(tau, dtype=torch.float64)))
        if got == beta:
            return tau
        tau = float(np.nextafter(tau, math.inf if got < beta else 0.0))
    raise NotExpressible(NAME, f"decay {beta!r}", "no float64 tau_mem gives exp(-dt / tau_mem) == beta exactly")


def build_neuron(neuron: Neuron) -> torch.nn.Module:
    """``LIFNeuronTorch`` (IF, LIF) or ``LIFTorch(leak_mode="decays")`` (current-based LIF), in float64,
    with the canonical spike function injected. One neuron (shape (1,)); ``run`` and ``step`` put
    the neurons of a layer into the batch."""
    n = neuron
    require_uniform(NAME, n)
    require(NAME, [
        (n.model in (Model.IF, Model.LIF, Model.CUBA_LIF), f"model={n.model.value}",
         "LIFTorch / LIFNeuronTorch fire; the leaky integrator and the adaptive LIF are not wired"),
        (n.reset is ResetMode.SUBTRACT, f"reset={n.reset.value}", "rockpool subtracts the threshold"),
        (n.reset_timing is ResetTiming.SAME_STEP, f"reset_timing={n.reset_timing.value}", "rockpool resets with this step's spikes"),
        (not n.detach_reset, "detach_reset", "v - s threshold is not detached"),
        (n.v_min is None, f"v_min={n.v_min}", "no lower bound"),
        (n.v_leak == 0.0 and n.v_init == 0.0, "v_leak/v_init", "rockpool leaks to 0 from 0"),
        (equals(n.input_gain, 1.0), f"input gain {show(n.input_gain)}", "the membrane adds its drive unscaled"),
    ])
    lif_torch, lif_neuron_torch = _rockpool()
    spike = CanonicalSpikeGeneration(n)
    if n.model is Model.CUBA_LIF:
        require(NAME, [
            (n.syn_input_gain == n.syn_decay.beta, f"synaptic input gain {show(n.syn_input_gain)}",
             "the synaptic current is beta_syn (i + x): its input gain is its decay"),
            (n.synapse_order is SynapseOrder.CURRENT_FIRST, "synapse_order=membrane_first", "this step's current reaches the membrane"),
        ])
        with _samna_blocked():
            module = lif_torch.LIFTorch((1,), leak_mode="decays", alpha=float(n.decay.beta), beta=float(n.syn_decay.beta),
                                        threshold=float(n.threshold), spike_generation_fn=spike, dt=DT)
    else:
        with _samna_blocked():
            module = lif_neuron_torch.LIFNeuronTorch((1,), tau_mem=_tau_for(float(n.decay.beta)), threshold=float(n.threshold),
                                                     spike_generation_fn=spike, dt=DT)
    return _as_float64(module, n)


def _as_float64(module: torch.nn.Module, n: Neuron) -> torch.nn.Module:
    """The module in float64, its parameters set from the canonical values (rockpool cast them to float32)."""
    module = module.double()
    with torch.no_grad():
        module.threshold.copy_(torch.tensor(float(n.threshold), dtype=torch.float64))
        if n.model is Model.CUBA_LIF:
            module.alpha.copy_(torch.tensor(float(n.decay.beta), dtype=torch.float64))
            module.beta.copy_(torch.tensor(float(n.syn_decay.beta), dtype=torch.float64))
        else:
            module.tau_mem.copy_(torch.tensor(_tau_for(float(n.decay.beta)), dtype=torch.float64))
    return module


def parameters(module: torch.nn.Module) -> dict[str, tuple[torch.Tensor, float]]:
    """The tensors a module built by ``build_neuron`` computes with, each with d native /
    d canonical: LIFTorch's decays ``alpha`` (membrane) and ``beta`` (synaptic) are the canonical
    ones; LIFNeuronTorch's ``tau_mem`` gives beta = exp(-dt / tau), so dtau/dbeta =
    dt / (beta ln(beta)^2) (no decay for an IF, tau = inf); the threshold is the threshold."""
    out = {"threshold": (module.threshold, 1.0)} if hasattr(module, "threshold") else {}
    if hasattr(module, "alpha") and hasattr(module, "beta"):
        out["decay.beta"] = (module.alpha, 1.0)
        out["syn_decay.beta"] = (module.beta, 1.0)
    elif hasattr(module, "tau_mem") and math.isfinite(float(module.tau_mem.detach().flatten()[0])):
        beta = math.exp(-DT / float(module.tau_mem.detach().flatten()[0]))
        out["decay.beta"] = (module.tau_mem, DT / (beta * math.log(beta) ** 2))
    return out


def capabilities() -> Capabilities:
    return Capabilities(
        framework=NAME, version=framework_version(),
        neurons={"if": "LIFNeuronTorch(tau_mem=inf)", "lif": "LIFNeuronTorch", "cuba_lif": "LIFTorch(leak_mode='decays')"},
        conventions={"reset": "subtract, same step, not detached", "input gain": "1; synaptic: beta_syn (i = beta_syn (i + x))",
                     "compare": ">= and > through the injected spike function", "spike_fn": "single, multi and max (injected)",
                     "v_min": "none", "per-neuron": "not wired (one value per parameter)"},
        surrogates="every surrogate injected as spike_generation_fn; rockpool's own StepPWL and PeriodicExponential "
                   "read as the step and multi_peak_exponential surrogates",
        backends={"cpu": ("torch",), "cuda": ("torch",)},
    )


def _exp_syn() -> type:
    """Rockpool's ``ExpSynTorch``: i = beta (i + x), its output."""
    with _samna_blocked():
        from rockpool.nn.modules.torch.exp_syn_torch import ExpSynTorch
    return ExpSynTorch


def _neuron_types() -> tuple[type, ...]:
    lif_torch, lif_neuron_torch = _rockpool()
    return (lif_torch.LIFTorch, lif_neuron_torch.LIFNeuronTorch, _exp_syn())


def _dtype(module: torch.nn.Module) -> torch.dtype:
    return module.tau.dtype if isinstance(module, _exp_syn()) else module.threshold.dtype


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Rockpool allocates its spike and state recordings with torch's default dtype."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _forward(module: torch.nn.Module, xb: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Rockpool's own forward over batch-first ``xb`` [B, T, N] with recording: (spikes, records)."""
    with _default_dtype(_dtype(module)):
        module._record = True
        try:
            spikes = module.forward(xb.to(_dtype(module)))
            records = getattr(module, "_record_dict", {})  # ExpSynTorch records nothing
        finally:
            module._record, module._record_dict = False, {}
    return spikes, records


def _batch_first(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Time-major [T, B, ...] as rockpool's batch-first [B', T, size_in]: every neuron of a
    one-neuron module (uniform parameters) is a batch entry."""
    steps = x.shape[0]
    return x.reshape(steps, -1, module.size_in).transpose(0, 1)


def _time_major(y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return y.transpose(0, 1).reshape(y.shape[1], *like.shape[1:]).to(like.dtype)


def _state_names(module: torch.nn.Module) -> tuple[str, ...]:
    lif_torch, _ = _rockpool()
    return ("vmem", "isyn", "spikes") if isinstance(module, lif_torch.LIFTorch) else ("vmem",)


def run(module: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a rockpool neuron layer from rest on time-major ``x`` [T, B, ...]: (spikes, membrane after reset)."""
    module.reset_state()
    out, records = _forward(module, _batch_first(module, x))
    return _time_major(out, x), _time_major(records.get("vmem", out), x)  # ExpSynTorch: its output is its state


def step(module: torch.nn.Module, x_t: torch.Tensor, state: Any) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """One step: rockpool's forward over one time step from ``state`` (its state tensors for the
    whole batch; rockpool itself keeps only the first batch entry, detached)."""
    names = _state_names(module)
    if state is None:
        module.reset_state()
    else:
        for name, value in zip(names, state):
            # rockpool checks a state's shape on assignment; its forward broadcasts a batch-shaped one as it is
            module._buffers[name] = value
    spikes, records = _forward(module, _batch_first(module, x_t.unsqueeze(0)))
    state = tuple(records[name][:, 0] for name in names)
    return _time_major(spikes, x_t.unsqueeze(0))[0], _time_major(records["vmem"], x_t.unsqueeze(0))[0], state


def _firing(layer: torch.nn.Module, threshold: Value) -> tuple[SurrogateConfig, dict[str, Any]]:
    """The surrogate and firing conventions of a neuron module's ``spike_generation_fn``: the
    canonical one injected here, or rockpool's ``StepPWL`` (the spec's ``step`` surrogate) or
    ``PeriodicExponential`` (``multi_peak_exponential``), each with window ``learning_window``,
    scaled by 1 / threshold; floor(v / thr) spikes at v >= thr, at most ``max_spikes_per_dt``."""
    fn = getattr(layer.spike_generation_fn, "__self__", None)
    if isinstance(fn, CanonicalSpikeGeneration):
        n = fn.neuron
        return n.surrogate, dict(compare=n.compare, spike_fn=n.spike_fn, max_spikes=n.max_spikes)
    lif_torch, _ = _rockpool()
    native = "StepPWL" if fn in _step_pwl() else "PeriodicExponential" if fn is lif_torch.PeriodicExponential else None
    if native is None:
        raise NotExpressible(NAME, f"spike_generation_fn={getattr(fn, '__name__', layer.spike_generation_fn)!r}",
                             "only rockpool's StepPWL and PeriodicExponential and the canonical spike functions are declared")
    cap = float(layer.max_spikes_per_dt)
    require(NAME, [(cap >= 1 and cap == math.floor(cap), f"max_spikes_per_dt={cap:g}", "the cap must be a whole number >= 1"),
                   (uniform(threshold), f"per-neuron threshold with {native}",
                    f"{native} divides each neuron's gradient by its own threshold; a canonical surrogate has one scale")])
    surrogate = from_native(NAME, native, {"window": float(layer.learning_window), "max_spikes_per_dt": cap}, theta=threshold)
    return surrogate, dict(compare=Compare.GE, spike_fn=SpikeFn.SINGLE if cap == 1 else SpikeFn.MAX, max_spikes=int(cap))


def describe_neuron(layer: torch.nn.Module) -> Neuron | None:
    """The canonical neuron of a LIFTorch (any leak mode, one synapse per neuron) or
    LIFNeuronTorch, with rockpool's StepPWL or PeriodicExponential or an injected canonical
    spike function, or an ExpSynTorch (a leaky integrator); None for other layers. Decays are
    read as rockpool computes them in its forward (exp(-dt / tau) in the module's dtype for
    leak_mode="taus"), one value or per neuron, as is the threshold (one value with rockpool's
    spike functions, which divide the gradient by it)."""
    if type(layer) not in _neuron_types():
        return None
    num = lambda t: pack(t.detach().cpu().double().reshape(-1).numpy())  # noqa: E731 - one value, or per neuron
    if isinstance(layer, _exp_syn()):  # i = beta (i + x), the output: a leaky integrator whose input gain is its decay
        require(NAME, [(float(layer.noise_std) == 0.0, "noise_std", "synaptic noise is not deterministic")])
        return Neuron.li(Decay(num(torch.exp(-layer.dt / layer.tau.detach()))), input_scale=InputScale.BETA)
    threshold, bias = num(layer.threshold), layer.bias.detach().cpu().double()
    require(NAME, [(float(layer.noise_std) == 0.0, "noise_std", "membrane noise is not deterministic")])
    surrogate, firing = _firing(layer, threshold)
    common = dict(threshold=threshold, reset=ResetMode.SUBTRACT, reset_timing=ResetTiming.SAME_STEP, detach_reset=False, **firing)
    lif_torch, _ = _rockpool()
    if isinstance(layer, lif_torch.LIFTorch):
        require(NAME, [(layer.n_synapses == 1, f"n_synapses={layer.n_synapses}", "several synaptic currents per neuron are not canonical")])
        alpha = layer.alpha.detach().cpu().double()
        return Neuron.cuba_lif(surrogate, Decay(num(alpha)), Decay(num(layer.beta)), syn_input_scale=InputScale.BETA,
                               v_leak=_leak(bias, alpha), **common)
    beta = torch.exp(-layer.dt / layer.tau_mem.detach()).cpu().double()
    if num(beta) == 1.0 and num(bias) == 0.0:
        return Neuron.if_(surrogate, **common)
    return Neuron.lif(surrogate, Decay(num(beta)), v_leak=_leak(bias, beta), **common)


def _leak(bias: torch.Tensor, beta: torch.Tensor) -> Value:
    """Rockpool's bias b, added to the membrane each step (v = beta v + i + b), as the canonical
    leak potential: v_leak + beta (v - v_leak) adds (1 - beta) v_leak, so v_leak = b / (1 - beta)
    (the same function; the sums are associated differently, so float results may differ by
    rounding). A neuron without leak (beta = 1) has no such form."""
    bias, beta = torch.broadcast_tensors(bias.reshape(-1), beta.reshape(-1))
    require(NAME, [(not bool(((bias != 0) & (beta == 1)).any()), "bias without leak",
                    "a bias on a neuron whose membrane does not decay (tau_mem = inf) has no canonical form (v_leak needs a leak)")])
    return pack(torch.where(bias == 0, torch.zeros_like(bias), bias / (1 - beta)).numpy())


def describe_recurrent(layer: torch.nn.Module, shape: tuple[int, ...]) -> torch.nn.Module | None:
    """A ``LIFTorch(has_rec=True)``'s recurrence as the ``nn.Linear`` (weight ``w_rec^T``, no bias)
    whose output on this step's spikes joins the next step's input current (rockpool adds
    ``F.linear(spikes, w_rec.T)`` to ``isyn`` with the input, from zero spikes at the first step);
    None for any other layer."""
    lif_torch, _ = _rockpool()
    if not isinstance(layer, lif_torch.LIFTorch) or not layer._has_rec:
        return None
    w = layer.w_rec.detach()
    rec = torch.nn.Linear(w.shape[0], w.shape[1], bias=False, dtype=w.dtype, device=w.device)
    with torch.no_grad():
        rec.weight.copy_(w.T)
    return rec


def _wrappers() -> tuple[type, type]:
    """Rockpool's combinator ``Sequential`` (torch flavour) and ``LinearTorch``."""
    with _samna_blocked():
        from rockpool.nn.combinators.sequential import TorchSequential
        from rockpool.nn.modules.torch.linear_torch import LinearTorch
    return TorchSequential, LinearTorch


def describe_layer(layer: torch.nn.Module) -> torch.nn.Module | None:
    """A rockpool combinator ``Sequential`` as an ``nn.Sequential`` of its modules (names kept:
    "0_LinearTorch"), as is a network whose forward is its ``seq`` (``SynNet(output="spikes")``);
    a ``LinearTorch`` as the ``nn.Linear`` it computes (y = x W + b: weight W^T)."""
    sequential, linear = _wrappers()
    if isinstance(layer, sequential):
        return torch.nn.Sequential(OrderedDict(layer.named_children()))
    if isinstance(getattr(layer, "seq", None), sequential) and getattr(layer, "output", None) == "spikes":  # SynNet: forward is seq(x)
        return torch.nn.Sequential(OrderedDict(layer.seq.named_children()))
    if isinstance(layer, linear):
        w = layer.weight.detach()
        out = torch.nn.Linear(w.shape[0], w.shape[1], bias=layer.bias is not None, dtype=w.dtype, device=w.device)
        with torch.no_grad():
            out.weight.copy_(w.T)
            if layer.bias is not None:
                out.bias.copy_(layer.bias.detach())
        return out
    return None


def gradient_as_nir(layer: torch.nn.Module, field: str, grad: torch.Tensor) -> torch.Tensor:
    """The gradient of a layer's own parameter in the layout of the NIR node it is written as:
    LinearTorch stores its weight [in, out], NIR's Affine [out, in]."""
    _, linear = _wrappers()
    return grad.T if isinstance(layer, linear) and field == "weight" else grad


def from_nir(graph: Any, **options: Any) -> torch.nn.Module:
    """A runnable rockpool model of a NIR graph (see snn_interop.nir.graph.from_nir)."""
    return nir_graph.from_nir(graph, sys.modules[__name__], **options)


def to_nir(module: torch.nn.Module, sample_input: torch.Tensor) -> Any:
    """The NIR graph of a rockpool model (a combinator Sequential, an nn.Sequential or a from_nir
    module); sample: one step [B, ...]."""
    return nir_graph.to_nir(whole_model(module, sys.modules[__name__]), sys.modules[__name__], sample_input)


layout = batch_first  #: a class model's own forward takes a whole sequence batch first, [B, T, ...], as rockpool's modules do


def reset(model: torch.nn.Module) -> None:
    """Put rockpool's modules back at rest (their ``reset_state``): they keep their state between calls."""
    for m in model.modules():
        if hasattr(m, "reset_state"):
            m.reset_state()


def run_model(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A combinator Sequential or an ``nn.Sequential`` of torch layers, ``LinearTorch`` and
    rockpool neuron modules, run layer by layer over the whole sequence as rockpool does (its
    modules batch-first through their own forward, from rest) on time-major ``x``: the output and
    each neuron layer's membrane after reset keyed by its path."""
    _, linear = _wrappers()
    h, membranes = x, {}
    for name, layer in chain(whole_model(model, sys.modules[__name__]), describe_layer):
        if isinstance(layer, linear):  # rockpool's call: (output, state, record)
            h = layer(h.transpose(0, 1))[0].transpose(0, 1)
        elif describe_neuron(layer) is None:
            h = layer(h)
        else:
            spikes, v = run(layer, h)
            h, membranes[name] = spikes, v
    return h, membranes


def example_mlp(dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """A 12 -> 16 -> 5 network: Linear layers and current-based ``LIFTorch`` neurons (decays 0.9 and
    0.8, threshold 1) with the canonical fast-sigmoid spike function injected. Seeded weights."""
    from snn_interop.spec.surrogates import SURROGATES

    neuron = Neuron.cuba_lif(SURROGATES["fast_sigmoid"].configure(), Decay(0.9), Decay(0.8), syn_input_scale=InputScale.BETA)
    return torch.nn.Sequential(seeded_linear(12, 16, 12.0, 0, dtype), build_neuron(neuron),
                               seeded_linear(16, 5, 12.0, 1, dtype), build_neuron(neuron))
