"""SpikingJelly 2.0.0 (``spikingjelly.activation_based``) plugin.

Surrogates are ``nn.Module`` classes in ``activation_based.surrogate`` called on
x = v - v_threshold; ``spiking=True`` gives the Heaviside forward.
"""
from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from snn_interop.nir import graph as nir_graph
from snn_interop.plugin_api import BackendNotRun, CanonicalSpike, Capabilities, NotExpressible, chain, equals, linear_of, native_alias, require, seeded_linear, show, spike_function as canonical_spike_function, require_uniform
from snn_interop.spec.neurons import (
    Compare, Decay, Discretisation, InputScale, Model, Neuron, ResetMode, ResetTiming, SpikeFn, SynapseOrder,
)
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


def _surrogate_function(neuron: Neuron) -> object:
    found = native_alias(neuron, NAME)
    if found is None:
        return canonical_spike_function(neuron.surrogate, neuron.compare)  # BaseNode calls it on H - v_threshold
    from spikingjelly.activation_based import surrogate

    cls = getattr(surrogate, found[0].removeprefix("surrogate."))
    # most take spiking=True (Heaviside forward); FakeNumericalGradient always spikes and has no such argument
    spiking = {"spiking": True} if "spiking" in inspect.signature(cls.__init__).parameters else {}
    return cls(**found[1], **spiking)


def build_neuron(neuron: Neuron) -> torch.nn.Module:
    """SpikingJelly's IFNode, LIFNode, CUBALIFNode or NonSpikingLIFNode for a canonical neuron.

    SpikingJelly resets in the same step only and leaks towards v_reset (hard reset) or 0 (soft
    reset). Its own surrogate module is used when the spec has an exact alias with H(0) = 1;
    otherwise the canonical spike function is injected (any callable works as surrogate_function).
    """
    require_uniform(NAME, neuron)
    from spikingjelly.activation_based import neuron as sj

    n = neuron
    if n.model is Model.LI:
        require(NAME, [
            (n.input_scale is InputScale.ONE_MINUS_BETA and n.r == 1.0, f"input gain {show(n.input_gain)}", "NonSpikingLIFNode scales the input by 1/tau = 1 - beta"),
            (n.v_leak == 0.0 and n.v_init == 0.0, "v_leak/v_init", "NonSpikingLIFNode leaks to 0 from 0"),
            (0.0 < n.decay.beta < 1.0, f"beta={n.decay.beta}", "tau = 1 / (1 - beta) must exceed 1"),
            (not n.synaptic_current, "li with a synaptic current", "NonSpikingLIFNode has no synaptic current"),
        ])
        return sj.NonSpikingLIFNode(tau=1.0 / (1.0 - n.decay.beta))
    hard = n.reset is ResetMode.TO_VALUE
    require(NAME, [
        (n.model in (Model.IF, Model.LIF, Model.CUBA_LIF), f"model={n.model.value}", "no adaptive-threshold LIF in 2.0.0"),
        (n.reset is not ResetMode.NONE, "reset=none", "every node resets (v_reset=None subtracts)"),
        (n.reset_timing is ResetTiming.SAME_STEP, f"reset_timing={n.reset_timing.value}", "nodes reset with this step's spike"),
        (n.spike_fn is SpikeFn.SINGLE, f"spike_fn={n.spike_fn.value}", "one spike per step"),
        (n.v_min is None, f"v_min={n.v_min}", "no membrane lower bound"),
        (n.v_init == (n.v_reset if hard else 0.0), f"v_init={n.v_init}", "the membrane starts at v_reset (hard) or 0 (soft)"),
        (n.model is Model.IF or n.v_leak == (n.v_reset if hard else 0.0), f"v_leak={n.v_leak}", "LIF leaks towards v_reset (hard reset) or 0"),
    ])
    common = dict(v_threshold=float(n.threshold), v_reset=float(n.v_reset) if hard else None,
                  surrogate_function=_surrogate_function(n))
    if n.model is Model.CUBA_LIF:
        require(NAME, [(equals(n.input_gain, 1.0) and equals(n.syn_input_gain, 1.0), "input gains", "CUBALIFNode adds the input unscaled"),
                       (n.synapse_order is SynapseOrder.CURRENT_FIRST, "synapse_order=membrane_first", "CUBALIFNode feeds this step's current")])
        module = sj.CUBALIFNode(c_decay=n.syn_decay.beta, v_decay=n.decay.beta, **common)
        module.detach_reset = n.detach_reset
    elif n.model is Model.IF:
        require(NAME, [(equals(n.input_gain, 1.0), f"input gain {show(n.input_gain)}", "IFNode adds the input unscaled")])
        module = sj.IFNode(detach_reset=n.detach_reset, **common)
    else:
        decay_input = n.input_scale is InputScale.ONE_MINUS_BETA and n.r == 1.0
        require(NAME, [(decay_input or equals(n.input_gain, 1.0), f"input gain {show(n.input_gain)}", "LIFNode scales the input by 1/tau = 1 - beta or not at all"),
                       (0.0 < n.decay.beta < 1.0, f"beta={n.decay.beta}", "tau = 1 / (1 - beta) must exceed 1")])
        module = sj.LIFNode(tau=1.0 / (1.0 - n.decay.beta), decay_input=decay_input, detach_reset=n.detach_reset, **common)
    module.step_mode = "m"
    module.store_v_seq = True
    return module


def capabilities() -> Capabilities:
    return Capabilities(
        framework=NAME, version=framework_version(),
        neurons={"if": "IFNode", "lif": "LIFNode", "cuba_lif": "CUBALIFNode", "li": "NonSpikingLIFNode"},
        conventions={"reset": "subtract (v_reset=None) or to v_reset, same step, detach_reset either way",
                     "input gain": "1, or 1 - beta (LIF decay_input)", "v_leak": "v_reset (hard reset) or 0",
                     "compare": ">= natively, > through an injected spike function", "spike_fn": "single", "v_min": "none"},
        surrogates="its own aliases natively (H(0) = 1); every other surrogate, and >, by injecting the canonical spike function",
        # spikingjelly 2.0 picks its CUDA kernel once per process from SJ_<NEURON>_CUDA_IMPLEMENTATION
        # (auto: its native build, which the PyPI wheel lacks, then triton, then torch); a case whose
        # surrogate is not one of its built-ins, or float64, runs its torch reference whatever is set.
        # The first is what auto runs: its native build where one is installed (native_cuda_built)
        backends={"cpu": ("torch",), "cuda": ("cuda", "triton", "torch") if native_cuda_built() else ("triton", "torch", "cuda")},
    )


#: The neurons whose CUDA kernel spikingjelly picks per process (IFNode, LIFNode; CUBALIFNode and
#: NonSpikingLIFNode are plain torch), read once when spikingjelly._ops.<neuron> is imported.
NATIVE_OPERATORS = ("if_", "lif")  #: spikingjelly._ops.<name>: IFNode's and LIFNode's kernels
CUDA_SELECTION = tuple(f"SJ_{name.rstrip('_').upper()}_CUDA_IMPLEMENTATION" for name in NATIVE_OPERATORS)


def backend_environment(device: str, backend: str) -> dict[str, str] | None:
    """The environment a fresh process needs so that spikingjelly runs ``backend`` on ``device``
    (spikingjelly 2.0 reads SJ_<NEURON>_CUDA_IMPLEMENTATION once, at import); None when the
    backend is not there (its native "cuda" build is absent from the PyPI wheel)."""
    if device != "cuda" or backend not in ("triton", "torch", "cuda"):
        return None
    if backend == "cuda" and not native_cuda_built():
        return None
    return dict.fromkeys(CUDA_SELECTION, backend)


def native_cuda_built(package: Path | None = None) -> bool:
    """Whether spikingjelly's native CUDA operators of IFNode and LIFNode are installed (an
    extension ``_ops/<name>/_C*.so`` each, which its sdist builds with SJ_BUILD_NATIVE_CUDA=1:
    scripts/build_sj_native.sh); looked up in ``package`` (default: the installed spikingjelly's
    directory) without importing spikingjelly."""
    if package is None:
        import importlib.util

        spec = importlib.util.find_spec("spikingjelly")
        if spec is None or not spec.submodule_search_locations:
            return False
        package = Path(next(iter(spec.submodule_search_locations)))
    return all(any((package / "_ops" / name).glob("_C*.so")) for name in NATIVE_OPERATORS)


def run(module: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a SpikingJelly node on time-major ``x`` [T, B, ...] in multi-step mode: (spikes, membrane after reset)."""
    from spikingjelly.activation_based import functional, neuron as sj

    functional.reset_net(module)
    if isinstance(module, sj.NonSpikingLIFNode):
        v = torch.stack(list(module(x)))
        return torch.zeros_like(v), v
    module.step_mode = "m"
    try:
        spikes = module(x)
    except RuntimeError as exc:
        # spikingjelly 2.0.0 runs its torch reference for a profile its CUDA kernels lack (a surrogate
        # that is not one of its built-ins, float64, a state not in float32) whatever is selected, but
        # refuses it (_ops/selection.py: _require_automatic_torch) unless the selection is "auto"
        if "cannot run this execution profile" not in str(exc):
            raise
        raise BackendNotRun(NAME, f"{exc} Under the default selection spikingjelly runs this case on its torch "
                            "reference, which the spikingjelly column reports") from exc
    return spikes, module.v_seq


def step(module: torch.nn.Module, x_t: torch.Tensor, state: Any) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """One step in single-step mode; the node keeps its own state (``state`` marks the start)."""
    from spikingjelly.activation_based import functional, neuron as sj

    if isinstance(module, sj.NonSpikingLIFNode):
        module.v = torch.zeros_like(x_t) if state is None else state
        module.neuronal_charge(x_t)
        return torch.zeros_like(x_t), module.v, module.v
    if state is None:
        functional.reset_net(module)
        module.step_mode = "s"
    spikes = module(x_t)
    return spikes, module.v, True


def describe_neuron(layer: torch.nn.Module) -> Neuron | None:
    """The canonical neuron of an IFNode, LIFNode, ParametricLIFNode, CUBALIFNode or
    NonSpikingLIFNode, or of a LinearRecurrentContainer around one (its linear connection is
    :func:`describe_input` and :func:`describe_recurrent`); None otherwise.

    ParametricLIFNode charges as LIFNode with 1 / tau = sigmoid(w) (w learnable): it is described
    with the decay its w gives now, beta = 1 - sigmoid(w), computed in w's dtype as it computes."""
    from spikingjelly.activation_based import layer as sl
    from spikingjelly.activation_based import neuron as sj

    if isinstance(layer, sl.LinearRecurrentContainer):
        return describe_neuron(layer.sub_module)
    if isinstance(layer, sj.NonSpikingLIFNode):
        if layer.decode is not None:
            raise NotExpressible(NAME, f"NonSpikingLIFNode(decode={layer.decode!r})",
                                 "it reduces the membrane sequence over time to one value per neuron: a canonical neuron "
                                 "outputs every step; decode=None (the sequence) converts, the reduction can follow it")
        return Neuron.li(Decay(1.0 - 1.0 / layer.tau), input_scale=InputScale.ONE_MINUS_BETA)
    kinds = (sj.IFNode, sj.LIFNode, sj.ParametricLIFNode, sj.CUBALIFNode)
    if type(layer) not in kinds:
        return None
    fn = layer.surrogate_function
    if isinstance(fn, CanonicalSpike):
        surrogate, compare = fn.surrogate, fn.compare
    else:
        if not getattr(fn, "spiking", True):
            raise NotExpressible(NAME, f"{type(fn).__name__}(spiking=False)",
                                 "the layer outputs the surrogate's primitive, a graded value, instead of spikes")
        surrogate = from_native(NAME, "surrogate." + type(fn).__name__, {k: getattr(fn, k) for k in fn._sg_param_names}, theta=layer.v_threshold)
        compare = Compare.GE
    hard = layer.v_reset is not None
    common = dict(threshold=float(layer.v_threshold), compare=compare, reset=ResetMode.TO_VALUE if hard else ResetMode.SUBTRACT,
                  v_reset=float(layer.v_reset) if hard else 0.0, v_init=float(layer.v_reset) if hard else 0.0,
                  reset_timing=ResetTiming.SAME_STEP, detach_reset=bool(layer.detach_reset))
    if isinstance(layer, sj.CUBALIFNode):
        return Neuron.cuba_lif(surrogate, Decay(float(layer.v_decay)), Decay(float(layer.c_decay)), v_leak=common["v_reset"], **common)
    if isinstance(layer, sj.IFNode):
        return Neuron.if_(surrogate, **common)
    beta = 1.0 - (float(layer.w.detach().sigmoid()) if isinstance(layer, sj.ParametricLIFNode) else 1.0 / layer.tau)
    scale = InputScale.ONE_MINUS_BETA if layer.decay_input else InputScale.NONE
    return Neuron.lif(surrogate, Decay(beta), input_scale=scale, v_leak=common["v_reset"], **common)


def _container(layer: torch.nn.Module) -> Any:
    """``layer`` if it is a LinearRecurrentContainer around a neuron snn-interop describes, else None."""
    from spikingjelly.activation_based import layer as sl

    return layer if isinstance(layer, sl.LinearRecurrentContainer) and describe_neuron(layer.sub_module) is not None else None


def describe_input(layer: torch.nn.Module) -> torch.nn.Module | None:
    """A LinearRecurrentContainer's connection from its input: its neuron gets
    rc([x[t], y[t-1]]) = W_x x[t] + W_y y[t-1] + b; this is W_x x + b (the bias here: y[-1] = 0
    feeds back nothing at the first step)."""
    c = _container(layer)
    return None if c is None else linear_of(c.rc.weight[:, :c.rc.out_features], c.rc.bias)


def describe_recurrent(layer: torch.nn.Module, shape: tuple[int, ...]) -> torch.nn.Module | None:
    """A LinearRecurrentContainer's feedback W_y y[t-1], without bias (see :func:`describe_input`)."""
    c = _container(layer)
    return None if c is None else linear_of(c.rc.weight[:, c.rc.out_features:])


def describe_layer(layer: torch.nn.Module) -> torch.nn.Module | None:
    """SpikingJelly's own ``layer.Dropout`` / ``Dropout2d`` (one mask for a whole sequence) as the
    torch Dropout it equals at inference, in the same training mode (so a training one is
    refused); its ``SeqToANNContainer`` and ``MultiStepContainer`` (the layers applied to every
    step) as the plain ``nn.Sequential`` they equal step by step."""
    from spikingjelly.activation_based.layer import container, dropout

    if isinstance(layer, dropout.Dropout):
        return (torch.nn.Dropout2d if isinstance(layer, dropout.Dropout2d) else torch.nn.Dropout)(layer.p).train(layer.training)
    if type(layer) in (container.SeqToANNContainer, container.MultiStepContainer):
        return torch.nn.Sequential(*layer)
    return None


@contextmanager
def _step_mode(model: torch.nn.Module, mode: str) -> Iterator[None]:
    """``model`` in step mode ``mode`` (``functional.set_step_mode``), every module's own mode restored after."""
    from spikingjelly.activation_based import base, functional

    before = [(m, m.step_mode) for m in model.modules() if isinstance(m, base.StepModule) and hasattr(m, "step_mode")]
    functional.set_step_mode(model, mode)
    try:
        yield
    finally:
        for m, step_mode in before:
            m.step_mode = step_mode


def from_nir(graph: Any, **options: Any) -> torch.nn.Module:
    """A runnable SpikingJelly model of a NIR graph (see snn_interop.nir.graph.from_nir)."""
    return nir_graph.from_nir(graph, sys.modules[__name__], **options)


def to_nir(module: torch.nn.Module, sample_input: torch.Tensor) -> Any:
    """The NIR graph of a SpikingJelly model (nn.Sequential or a from_nir module); sample: one step [B, ...].
    The layers see the sample in single-step mode, whatever mode the model is in."""
    with _step_mode(module, "s"):
        return nir_graph.to_nir(module, sys.modules[__name__], sample_input)


def reset(model: torch.nn.Module) -> None:
    """Clear the state spikingjelly's neurons keep between calls (``functional.reset_net``)."""
    from spikingjelly.activation_based import functional

    functional.reset_net(model)


def run_model(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A SpikingJelly network on time-major ``x`` in multi-step mode (the model's own modes
    restored after): its output, and each neuron layer's membrane after reset (``v_seq``) keyed
    by its index in the Sequential."""
    reset(model)
    with _step_mode(model, "m"):
        return _run_multi_step(model, x)


def _run_multi_step(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    layers = chain(model, describe_layer)
    neurons = {name: m for name, m in layers if describe_neuron(m) is not None and hasattr(m, "store_v_seq")}
    for m in neurons.values():
        m.store_v_seq = True
    # a LinearRecurrentContainer steps its neuron in single-step mode: its membrane is read after each step
    containers = {name: m for name, m in layers if _container(m) is not None}
    stepped: dict[str, list[torch.Tensor]] = {name: [] for name in containers}
    hooks = [m.sub_module.register_forward_hook(lambda mod, inp, out, steps=stepped[name]: steps.append(mod.v))
             for name, m in containers.items()]
    try:
        y = model(x)
    finally:
        for h in hooks:
            h.remove()
    if isinstance(y, list):  # a NonSpikingLIFNode last (decode=None) returns its membranes as a list, one per step
        y = torch.stack(y)
    return y, {name: m.v_seq for name, m in neurons.items()} | {name: torch.stack(steps) for name, steps in stepped.items()}


def example_mlp(dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """A 12 -> 16 -> 5 network as SpikingJelly users write it: layer.Linear and LIFNode(tau=8)
    with ATan(alpha=3). Seeded weights; used by tests and the NIR matrix."""
    from spikingjelly.activation_based import layer, neuron, surrogate

    first, second = layer.Linear(12, 16), layer.Linear(16, 5)
    first.load_state_dict(seeded_linear(12, 16, 12.0, 0, dtype).state_dict())
    second.load_state_dict(seeded_linear(16, 5, 12.0, 1, dtype).state_dict())
    return torch.nn.Sequential(first.to(dtype), neuron.LIFNode(tau=8.0, surrogate_function=surrogate.ATan(alpha=3.0)),
                               second.to(dtype), neuron.LIFNode(tau=8.0, surrogate_function=surrogate.ATan(alpha=3.0)))
