"""Run conformance cases through implementations and judge each against the oracle.

An :class:`Implementation` is anything that builds a native layer from a canonical neuron and
runs it time-major: a plugin on a device (and backend), or the fused reference kernel. Each
case's oracle trace is computed once and shared by every implementation. Cases run in
parallel across processes with :mod:`concurrent.futures` (workers rebuild implementations by
name, so only picklable names cross process boundaries).
"""
from __future__ import annotations

import multiprocessing
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from snn_interop import registry
from snn_interop.plugin_api import BackendNotRun, NotExpressible
from snn_interop.spec import oracle
from snn_interop.spec.neurons import Neuron
from snn_interop_conformance import deviations as deviations_mod
from snn_interop_conformance.cases import HALF, SHAPES, Case, memory
from snn_interop_conformance.metrics import Metrics, divergence, keep, loss, loss_weights, measure, param_rel
from snn_interop_conformance.tolerances import TOLERANCES, Tolerance, half_tolerance

Run = Callable[[torch.nn.Module, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Implementation:
    """A native implementation under test: ``build(neuron)`` and ``run(module, x)`` (either may raise NotExpressible: run for a dtype its kernels do not take)."""

    name: str  #: e.g. "snntorch" or "kernel"
    framework: str
    backend: str
    device: str
    build: Callable[[Neuron], torch.nn.Module]
    run: Run
    version: str = ""
    max_steps: int | None = None  #: longer cases are reported "not_run" (the kernel in Triton's CPU interpreter)
    #: the plugin's ``parameters(module)``: canonical name -> (the tensor the layer computes with, d native / d canonical)
    parameters: Callable[[torch.nn.Module], dict[str, tuple[torch.Tensor, float]]] | None = None
    #: environment variables its worker process starts with: a backend the framework chooses once per process
    env: tuple[tuple[str, str], ...] = ()


def plugin_implementations(frameworks: Iterable[str], device: str = "cpu", all_backends: bool = False) -> list[Implementation]:
    """Each plugin's default backend on ``device`` (the layer ``build_neuron`` builds); with
    ``all_backends``, also each further backend the plugin selects per process through
    ``backend_environment(device, backend)`` (named ``framework[backend]``)."""
    out = []
    for fw in frameworks:
        plugin = registry.get(fw)
        declared = plugin.capabilities().backends.get(device, ("torch",))
        common = dict(framework=fw, device=device, build=plugin.build_neuron, run=plugin.run, version=plugin.framework_version(),
                      parameters=getattr(plugin, "parameters", None))
        out.append(Implementation(name=fw, backend=declared[0], **common))
        select = getattr(plugin, "backend_environment", None)
        for backend in declared[1:] if all_backends and select else ():
            env = select(device, backend)
            if env:
                out.append(Implementation(name=f"{fw}[{backend}]", backend=backend, env=tuple(sorted(env.items())), **common))
    return out


def backends_not_run(frameworks: Sequence[str], device: str, all_backends: bool = False) -> list[str]:
    """The backends a plugin declares on ``device`` that the suite does not run (listed in reports)."""
    out = []
    for fw in frameworks:
        plugin = registry.get(fw)
        select = getattr(plugin, "backend_environment", None)
        for backend in plugin.capabilities().backends.get(device, ())[1:]:
            if not select:
                out.append(f"{fw}/{backend}: the plugin cannot select it in a worker process (no backend_environment)")
            elif not select(device, backend):
                out.append(f"{fw}/{backend}: not available here (its plugin's backend_environment gives none)")
            elif not all_backends:
                out.append(f"{fw}/{backend}: not run (--backends default)")
    return out


@dataclass
class Result:
    """One case through one implementation."""

    case: str
    implementation: str
    framework: str
    backend: str
    device: str
    dtype: str
    shape: str
    steps: int
    neuron: dict[str, Any]
    status: str  #: pass | fail | deviation | not_expressible | not_run | error
    metrics: dict[str, Any] | None = None
    failures: list[str] = field(default_factory=list)
    reason: str = ""  #: why not expressible / the deviation's reason / the error
    worst: float | None = None  #: largest error over its tolerance (> 1 fails; inf for spike mismatches)
    seconds: float = 0.0
    env: dict[str, str] = field(default_factory=dict)  #: the implementation's environment variables, as its process saw them

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tolerance(case: Case, quantity: str) -> Tolerance:
    """The case's tolerance for "membrane" or "gradient" (tolerances.py)."""
    if case.dtype in HALF:
        return half_tolerance(case.dtype, quantity, memory(case.neuron, case.steps))
    return TOLERANCES[(case.dtype, quantity)]


def worst_ratio(case: Case, m: Metrics) -> float:
    """The largest error as a multiple of its tolerance: > 1 fails; inf when spikes differ."""
    if m.spike_mismatches:
        return float("inf")
    tol_v, tol_g = tolerance(case, "membrane"), tolerance(case, "gradient")
    return max(m.v_max_abs / (tol_v.atol + tol_v.rtol * m.v_scale), m.grad_max_rel / tol_g.rtol,
               (m.param_grad_max_rel or 0.0) / tol_g.rtol)


def _canonical(neuron: Neuron, name: str) -> float:
    """A canonical parameter by its dotted name ("threshold", "decay.beta", "syn_decay.beta")."""
    value: Any = neuron
    for part in name.split("."):
        value = getattr(value, part)
    return float(value)


def classify(margin: float | None, noise: float | None) -> str:
    """What a first spike mismatch is, from the oracle's v - theta there: exactly at threshold
    (the compare convention decides), within ``noise`` of it (rounding), or a semantic difference."""
    if margin == 0:
        return "exactly at threshold: the threshold compare (> vs >=) decides"
    if margin is not None and noise is not None and abs(margin) <= noise:
        return f"oracle v - theta = {margin:+.3g}: float noise at threshold"
    return f"oracle v - theta = {margin:+.3g}: a semantic difference, not rounding"


def judge(case: Case, m: Metrics) -> list[str]:
    """The failed checks of one run, each a one-line message in SNN units; empty when it conforms."""
    failures = []
    tol_v, tol_g = tolerance(case, "membrane"), tolerance(case, "gradient")
    if m.spike_mismatches:
        failures.append(f"spike_mismatches: {m.spike_mismatches} / {case.steps * _neurons(case)} differ "
                        f"({m.spikes_total} oracle spikes); first at step {m.first_step}, neuron {m.first_neuron} "
                        f"({classify(m.margin, m.margin_noise)})")
    if m.v_max_abs > tol_v.atol + tol_v.rtol * m.v_scale:
        failures.append(f"v_max_abs: membrane differs by {m.v_max_abs:.3g} (relative {m.v_max_rel:.3g}); tolerance atol {tol_v.atol:g}, rtol {tol_v.rtol:g}")
    if m.grad_max_rel > tol_g.rtol:
        failures.append(f"grad_max_rel: input gradient differs by {m.grad_max_rel:.3g} of its largest entry; tolerance {tol_g.rtol:g}")
    for name, (native, reference) in m.param_grads.items():  # one failure per parameter, named param_grad.<name>
        scale = m.param_grad_scales.get(name)
        rel = param_rel(native, reference, scale)
        if rel > tol_g.rtol:
            of = f"of the oracle's sum of |dL/d{name}| over neurons, {scale:.6g}" if scale else "relative"
            failures.append(f"param_grad.{name}: dL/d{name} is {native:.6g}, the oracle's {reference:.6g} "
                            f"(error {rel:.3g} {of}); tolerance {tol_g.rtol:g}")
    return failures


def _neurons(case: Case) -> int:
    b, n = SHAPES[case.shape]
    return b * n


def _neuron_dict(n: Neuron) -> dict[str, Any]:
    d = {"model": n.model.value, "input_scale": n.input_scale.value}
    if n.spikes:
        d |= {"reset": n.reset.value, "reset_timing": n.reset_timing.value, "detach_reset": n.detach_reset,
              "compare": n.compare.value, "surrogate": repr(n.surrogate)}
    return d


def _oracle_grads(case: Case, x: torch.Tensor, w: torch.Tensor) -> tuple[oracle.Trace, torch.Tensor, dict[str, float], dict[str, float]]:
    """The oracle's trace, input gradient and parameter gradients under the loss weighted by ``w``;
    and each parameter's sum over neurons of |dL/dp_n| (the parameters given one per neuron)."""
    x_o = x.to(torch.float64, copy=True).requires_grad_(True)  # never the same tensor as the native input
    p_o = {name: torch.full(x.shape[1:], float(_canonical(case.neuron, name)), dtype=torch.float64, requires_grad=True)
           for name in oracle.differentiable(case.neuron)}
    trace = oracle.simulate(case.neuron, x_o, params=p_o)
    loss(trace.spikes, trace.v, w).backward()
    grads = {name: t.grad if t.grad is not None else torch.zeros_like(t) for name, t in p_o.items()}
    return (oracle.Trace(*(t.detach() for t in trace)), _input_grad(x_o), {k: float(g.sum()) for k, g in grads.items()},
            {k: float(g.abs().sum()) for k, g in grads.items()})


def _native_grads(impl: Implementation, module: torch.nn.Module, x: torch.Tensor, w: torch.Tensor,
                  names: Iterable[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, float]]:
    """One native run: spikes, membrane, input gradient and the canonical parameters' gradients
    (through the plugin's ``parameters`` and its slopes) under the loss weighted by ``w``."""
    native = {k: p for k, p in (impl.parameters(module) if impl.parameters else {}).items() if k in names}
    for tensor, _ in native.values():
        tensor.grad = None
        tensor.requires_grad_(True)
    x_n = x.to(impl.device, copy=True).requires_grad_(True)
    spikes, v = impl.run(module, x_n)
    loss(spikes.cpu(), v.cpu(), w).backward()
    grads = {k: (float(t.grad.sum()) if t.grad is not None else 0.0) * factor for k, (t, factor) in native.items()}
    return spikes.detach().cpu(), v.detach().cpu(), _input_grad(x_n).cpu(), grads


def _input_grad(x: torch.Tensor) -> torch.Tensor:
    """dL/dx; zeros where the input never reaches the loss (e.g. one step of a neuron whose
    membrane sees its synaptic current a step late: autograd then leaves ``x.grad`` unset)."""
    return x.grad if x.grad is not None else torch.zeros_like(x)


def run_case(case: Case, impls: Iterable[Implementation], devs: Sequence[deviations_mod.Deviation] = ()) -> list[Result]:
    """Run one case through the oracle once and through each implementation.

    Half-precision cases compare each neuron up to a rounding-level flip of its spikes
    (:func:`snn_interop_conformance.metrics.divergence`), their gradients under the loss
    re-weighted to the neurons that did not diverge (oracle and native run again with it)."""
    x = case.inputs()
    w = loss_weights(x.shape, case.seed)
    trace, oracle_grad, oracle_param_grads, scales = _oracle_grads(case, x, w)
    half = case.dtype in HALF
    near = tolerance(case, "flip" if half else "membrane")  # how close to the threshold a flip is rounding
    noise = (near.atol, near.rtol)
    results = []
    for impl in impls:
        base = dict(case=case.id, implementation=impl.name, framework=impl.framework, backend=impl.backend, device=impl.device,
                    dtype=case.dtype, shape=case.shape, steps=case.steps, neuron=_neuron_dict(case.neuron),
                    env={k: os.environ.get(k, "") for k, _ in impl.env})
        if impl.max_steps is not None and case.steps > impl.max_steps:
            results.append(Result(**base, status="not_run", reason=f"more than {impl.max_steps} steps: {NOT_RUN_REASON}"))
            continue
        start = time.perf_counter()
        try:
            module = impl.build(case.neuron).to(impl.device)
        except NotExpressible as exc:
            results.append(Result(**base, status="not_expressible", reason=f"{exc.semantic}: {exc.reason}"))
            continue
        try:
            spikes, v, grad, native_pg = _native_grads(impl, module, x, w, oracle_param_grads)
            valid = divergence(spikes, trace, noise if half else None)
            o_grad, o_pg, o_scales = oracle_grad, oracle_param_grads, scales
            if not bool(valid.all()):  # gradients of the neurons that stayed on the oracle's trajectory
                w_kept = w * keep(valid, x.shape)
                _, o_grad, o_pg, o_scales = _oracle_grads(case, x, w_kept)
                _, _, grad, native_pg = _native_grads(impl, module, x, w_kept, o_pg)
            m = measure(spikes, v, grad, trace, o_grad, {k: (g, o_pg[k]) for k, g in native_pg.items()}, valid,
                        {k: o_scales[k] for k in native_pg}, noise)
        except NotExpressible as exc:  # refused when it ran: a dtype its kernels do not take (sinabs-exodus)
            results.append(Result(**base, status="not_expressible", reason=f"{exc.semantic}: {exc.reason}"))
            continue
        except BackendNotRun as exc:  # the forced backend runs this case as the default one does (spikingjelly[torch])
            results.append(Result(**base, status="not_run", reason=exc.reason))
            continue
        except Exception as exc:  # noqa: BLE001 - a crash of the implementation is a reported result
            results.append(Result(**base, status="error", reason=f"{type(exc).__name__}: {exc}",
                                  failures=traceback.format_exc().splitlines()[-3:], seconds=time.perf_counter() - start))
            continue
        failures = judge(case, m)
        status, reason = ("fail" if failures else "pass"), ""
        failed = {f.split(":")[0] for f in failures}
        for dev in devs:
            if failures and dev.covers(impl.framework, case.id, failed):
                status, reason = "deviation", dev.reason
                break
        results.append(Result(**base, status=status, metrics=asdict(m), failures=failures, reason=reason,
                              worst=worst_ratio(case, m), seconds=time.perf_counter() - start))
    return results


# --- parallel execution -----------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(frameworks: tuple[str, ...], device: str, deviation_file: str | None, all_backends: bool,
                 env: tuple[tuple[str, str], ...]) -> None:
    """Set ``env`` (before any framework is imported here), then build the implementations that run with it."""
    os.environ.update(dict(env))
    torch.set_num_threads(1)
    _WORKER["impls"] = [i for i in implementations(frameworks, device, all_backends) if i.env == env]
    _WORKER["devs"] = deviations_mod.load(deviation_file) if deviation_file else deviations_mod.load()


def _run_chunk(chunk: list[Case]) -> list[dict[str, Any]]:
    return [r.to_dict() for case in chunk for r in run_case(case, _WORKER["impls"], _WORKER["devs"])]


KERNEL = "kernel"  #: the name that selects the fused reference kernel among the frameworks
#: Triton's CPU interpreter runs a 256-step case in about 2 s (a 48-step one in 0.15 s): the full
#: suite's long cases would add ~30 min on 2 cores, so there the kernel runs cases up to this long.
INTERPRETER_MAX_STEPS = 64
NOT_RUN_REASON = "the Triton CPU interpreter takes ~2 s per 256-step case; run on a GPU for the long cases"


def implementations(frameworks: Sequence[str], device: str = "cpu", all_backends: bool = False) -> list[Implementation]:
    """The named plugins' implementations (:func:`plugin_implementations`), and the fused reference
    kernel when ``"kernel"`` is named."""
    impls = plugin_implementations([fw for fw in frameworks if fw != KERNEL], device, all_backends)
    return impls + (kernel_implementations(device) if KERNEL in frameworks else [])


def kernel_implementations(device: str) -> list[Implementation]:
    """The fused reference kernel (snn_interop.kernel) as an implementation, when Triton imports.

    On a machine without a GPU it runs in Triton's CPU interpreter (backend "interpreter"):
    the same kernel source, checked for correctness only."""
    try:
        from snn_interop.kernel import FusedNeuron, runtime

        triton = runtime.triton()
        backend = "interpreter" if runtime.interpreting(device) else "compiled"
    except (ImportError, RuntimeError):
        return []

    def build(neuron: Neuron) -> torch.nn.Module:
        try:
            return FusedNeuron(neuron)
        except NotImplementedError as exc:  # NotFusable, or a derivative the kernel cannot carry
            raise NotExpressible("kernel", str(exc).split(":")[0], str(exc)) from exc

    return [Implementation("kernel", "kernel", f"triton-{backend}", device, build, lambda m, x: m(x), f"triton {triton.__version__}",
                           INTERPRETER_MAX_STEPS if backend == "interpreter" else None)]


def run_cases(cases: Sequence[Case], frameworks: Sequence[str], device: str = "cpu", jobs: int = 1,
              deviation_file: str | None = None, chunk: int = 8, all_backends: bool = False) -> Iterator[dict[str, Any]]:
    """Yield result dicts as cases finish; ``jobs`` > 1 runs chunks of cases in that many processes.

    Implementations that need their own environment (a backend chosen once per process) run
    after the others, in fresh processes started with it, one pool per environment."""
    chunks = [list(cases[i:i + chunk]) for i in range(0, len(cases), chunk)]
    groups = sorted({i.env for i in implementations(frameworks, device, all_backends)})
    for env in groups:
        init = (tuple(frameworks), device, deviation_file, all_backends, env)
        if jobs <= 1 and not env:
            _init_worker(*init)
            for c in chunks:
                yield from _run_chunk(c)
            continue
        # CUDA cannot be used in a forked child of a process that has touched it, and a forked child
        # keeps the frameworks the parent imported (with the parent's choice of backend): spawn there
        context = multiprocessing.get_context("spawn") if device == "cuda" or env else None
        with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=init, mp_context=context) as pool:
            for rows in pool.map(_run_chunk, chunks):
                yield from rows


def environment(frameworks: Sequence[str], device: str) -> dict[str, Any]:
    """Versions and machine, for the report header."""
    versions = {impl.framework: impl.version for impl in implementations(frameworks, device)}
    dev = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or platform.machine()
    return {"python": sys.version.split()[0], "torch": torch.__version__, "frameworks": versions, "device": device,
            "device_name": dev, "cpus": os.cpu_count(), "platform": platform.platform()}


def trace(case: Case, impl: Implementation, neuron: int | None = None) -> dict[str, Any]:
    """One neuron's spikes and membrane, implementation vs oracle, for the report's plots:
    the given flat neuron index, else the first spike mismatch, else the largest membrane error."""
    x = case.inputs()
    with torch.no_grad():
        spikes, v = impl.run(impl.build(case.neuron).to(impl.device), x.to(impl.device))
        t = oracle.simulate(case.neuron, x)
    flat = lambda a: a.detach().cpu().to(torch.float64).reshape(a.shape[0], -1)  # noqa: E731
    s, vv, so, vo = flat(spikes), flat(v), flat(t.spikes), flat(t.v)
    differ = (s != so).nonzero()
    if neuron is None:
        neuron = int(differ[0, 1]) if len(differ) else int((vv - vo).abs().amax(0).argmax())
    first = int(differ[0, 0]) if len(differ) else None
    return {"case": case.id, "implementation": impl.name, "neuron": neuron, "first_step": first,
            "threshold": float(flat(t.theta)[0, neuron]), "v": vv[:, neuron].tolist(), "v_oracle": vo[:, neuron].tolist(),
            "spikes": s[:, neuron].tolist(), "spikes_oracle": so[:, neuron].tolist(),
            "summary": (f"spikes first differ at step {first}" if first is not None else "spikes identical")
                       + f"; membrane max |error| on this neuron {float((vv - vo)[:, neuron].abs().max()):.3g}"}
