"""Where two models part ways: record every node per step, then find the first divergence.

    a = compare.record(model_a, x)                 # a GraphModule, or a framework model with its plugin
    b = compare.record(model_b, x)
    result = compare.localise(a, b)                # node by node in topological order, step by step
    print(result.text()); result.exit_code

A :class:`Recording` holds, per NIR node name, the node's output per step (``out``: spikes of a
spiking neuron, values of a layer), and for neuron nodes the end-of-step membrane ``v`` and,
for current-based neurons, the synaptic current ``i``; all time-major ``[T, B, ...]``, with the
graph's structure (topological order, predecessors, recurrent edges) and each neuron node's
canonical :class:`~snn_interop.spec.neurons.Neuron`.

The first divergence is the earliest step at which some node differs beyond tolerance, and at
that step the first such node in topological order: everything it reads agreed up to then, so
the cause lies in that node (its parameters or semantics) or it is rounding at a threshold.
Tolerances are data (``compare_tolerances.toml``): a default per dtype and declared overrides.
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from snn_interop import inputs, trace
from snn_interop.errors import BadSource, ExitCode, InvalidGraph
from snn_interop.graph import GraphModule, topological_order
from snn_interop.nir import files as nir_files, metadata
from snn_interop.nir.graph import annotate, flatten
from snn_interop.nir.neurons import NirDefaults
from snn_interop.plugin_api import chain, whole_model
from snn_interop.spec import oracle
from snn_interop.spec.neurons import Neuron, values

TOLERANCES_FILE = Path(__file__).with_name("compare_tolerances.toml")
RECORDING_SCHEMA, RECORDING_VERSION = "snn_interop.recording", 1
QUANTITIES = ("out", "v", "i")  #: a node's output, membrane, synaptic current
NAMES = {"out": "output", "v": "membrane", "i": "synaptic current"}


# -- recording -------------------------------------------------------------------------------
@dataclass
class Recording:
    """Every node's per-step values of one run, keyed by NIR node name, time-major."""

    source: str  #: what ran: a file, module:callable, or a saved recording
    framework: str  #: the plugin that ran it, or "reference" (snn-interop's canonical semantics)
    x: torch.Tensor  #: the input [T, B, ...]
    nodes: dict[str, dict[str, torch.Tensor]]  #: node -> {"out", "v", "i"} -> [T, B, ...]
    order: list[str]  #: topological order (input first)
    preds: dict[str, list[str]]
    recurrent: set[tuple[str, str]]
    neurons: dict[str, Neuron]  #: neuron nodes' canonical semantics
    input_name: str = "input"
    output_name: str = "output"
    graph: nir.NIRGraph | None = None  #: the NIR graph that ran, when known (for --export-repro)

    @property
    def dtype(self) -> torch.dtype:
        return next((r["out"].dtype for r in self.nodes.values() if "out" in r), self.x.dtype)

    def node_input(self, name: str) -> torch.Tensor:
        """What node ``name`` received each step: its predecessors' outputs summed (a recurrent
        edge delivers the previous step's, nothing at the first)."""
        parts = []
        for a in self.preds[name]:
            out = self.x if a == self.input_name else self.nodes[a]["out"]
            if (a, name) in self.recurrent:
                out = torch.cat([torch.zeros_like(out[:1]), out[:-1]])
            parts.append(out)
        return parts[0] if len(parts) == 1 else torch.stack(parts).sum(0)

    def save(self, path: str | Path) -> None:
        """A file ``torch.load(..., weights_only=True)`` reads back: tensors, text and numbers only."""
        torch.save({"schema": RECORDING_SCHEMA, "version": RECORDING_VERSION, "source": self.source, "framework": self.framework,
                    "x": self.x, "nodes": self.nodes, "order": self.order, "preds": self.preds,
                    "recurrent": sorted([a, b] for a, b in self.recurrent), "input_name": self.input_name,
                    "output_name": self.output_name,
                    "neurons": {k: json.dumps(metadata.neuron_to_dict(n)) for k, n in self.neurons.items()}}, path)

    @classmethod
    def load(cls, path: str | Path) -> Recording:
        try:
            data = torch.load(path, weights_only=True, map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - any unreadable file
            raise InvalidGraph(f"{path} is not a recording written by snn-interop compare --save-outputs "
                               f"({type(exc).__name__}: {exc}).") from exc
        if not isinstance(data, dict) or data.get("schema") != RECORDING_SCHEMA or data.get("version") != RECORDING_VERSION:
            raise InvalidGraph(f"{path} is not a {RECORDING_SCHEMA} v{RECORDING_VERSION} file (write one with --save-outputs).")
        return cls(f"{path} (saved from {data['source']})", data["framework"], data["x"], data["nodes"], data["order"], data["preds"],
                   {(a, b) for a, b in data["recurrent"]},
                   {k: metadata.neuron_from_dict(json.loads(v)) for k, v in data["neurons"].items()},
                   data["input_name"], data["output_name"])


def record(model: nn.Module, x: torch.Tensor, plugin: ModuleType | None = None, source: str = "model",
           graph: nir.NIRGraph | None = None) -> Recording:
    """Run ``model`` on ``x`` [T, B, ...] with every node recorded. A :class:`GraphModule`
    (any plugin's ``from_nir``) records each NIR node; a framework model written in its own
    idiom (an ``nn.Sequential``, run by ``plugin.run_model``) records each layer by its path
    in the model (:func:`~snn_interop.plugin_api.chain`), the NIR node name snn-interop gives
    it; a model written as a class, each layer of the chain its forward calls. Recording only
    reads: the spikes are the same."""
    with torch.no_grad():
        if isinstance(model, GraphModule):
            _, rec = model(x, record=True)
            framework = next((i.framework for i in model.neuron_info.values()), plugin.NAME if plugin else "reference")
            return Recording(source, framework, x, rec, list(model.order), dict(model.preds), set(model.recurrent),
                             {k: i.neuron for k, i in model.neuron_info.items()}, model.input_name, model.output_name, graph)
        if plugin is None:
            raise InvalidGraph(f"{source}: a framework model needs its framework (--from FW) to be run")
        model = whole_model(model, plugin)
        if not isinstance(model, nn.Sequential):
            return _record_class(model, plugin, x, source, graph)
        return _record_native(model, plugin, x, source, graph)


def _record_class(model: nn.Module, plugin: ModuleType, x: torch.Tensor, source: str, graph: nir.NIRGraph | None) -> Recording:
    """A model written as a class, run by its own forward (:mod:`snn_interop.trace`), each layer of
    its chain recorded by its output (a class shows no membranes); a forward that is not a chain,
    as the graph of layers it is (:func:`_record_graph`)."""
    trace.reset_states(model, plugin)
    try:
        traced = trace.trace(model, plugin, x)
    except BadSource as not_a_chain:
        return _record_graph(model, plugin, x, source, graph, not_a_chain)
    names = list(traced.outputs)
    nodes = {name: {"out": out.to(x.dtype)} for name, out in traced.outputs.items()} | {"output": {"out": traced.output.to(x.dtype)}}
    order = ["input", *names, "output"]
    neurons = {name: n for name, m in traced.chain.named_children() if (n := plugin.describe_neuron(m)) is not None}
    return Recording(source, plugin.NAME, x, nodes, order, {b: [a] for a, b in zip(order, order[1:])} | {"input": []}, set(),
                     neurons, "input", "output", graph)


def _record_graph(model: nn.Module, plugin: ModuleType, x: torch.Tensor, source: str, graph: nir.NIRGraph | None,
                  not_a_chain: BadSource) -> Recording:
    """A class whose forward is a graph of layers (skip connections; :mod:`snn_interop.trace`), run
    by its own forward, each layer's output recorded under its NIR node's name (a max pool of
    spikes under its ``_max`` node), in the order and with the edges of the graph written for it."""
    try:
        written = flatten(plugin.to_nir(trace.read_graph(model, plugin, x), torch.zeros(1, *x.shape[2:], dtype=x.dtype)))
    except trace.NotAGraph as exc:
        raise trace.neither(not_a_chain, exc) from exc
    node_of = {name: f"{name}_max" if f"{name}_max" in written.nodes else name for name, _ in model.named_modules()}
    layers = [(node_of[name], m) for name, m in model.named_modules() if node_of[name] in written.nodes]
    trace.reset_states(model, plugin)
    y, calls = _hooked(layers, lambda: trace.output_of(model, plugin, x))
    back = trace.back_of(model, plugin, x)
    nodes = {name: _time_major(calls[name], x, back) for name, _ in layers} | {"output": {"out": y.detach().to(x.dtype)}}
    order, recurrent = topological_order(list(written.nodes), list(written.edges), "input")
    preds = {n: [a for a, b in written.edges if b == n] for n in written.nodes}
    neurons = {name: n for name, m in layers if (n := plugin.describe_neuron(m)) is not None}
    return Recording(source, plugin.NAME, x, nodes, order, preds, recurrent, neurons, "input", "output", graph)


def _hooked(layers: list[tuple[str, nn.Module]], run: Any) -> tuple[Any, dict[str, list[torch.Tensor]]]:
    """``run()``'s result, and each layer's outputs in the order they came, caught by forward hooks."""
    calls: dict[str, list[torch.Tensor]] = {name: [] for name, _ in layers}

    def hook(name: str):
        return lambda mod, inp, out: calls[name].append((out[0] if isinstance(out, tuple) else out).detach().clone())

    handles = [m.register_forward_hook(hook(name)) for name, m in layers]
    try:
        return run(), calls
    finally:
        for h in handles:
            h.remove()


def _time_major(got: list[torch.Tensor], x: torch.Tensor, back: trace.Layout) -> dict[str, torch.Tensor]:
    """A layer's outputs as ``{"out": [T, B, ...]}``: one call per step, stacked, or one call on the
    whole sequence put back time-major by ``back`` (:func:`snn_interop.trace.own_layout`); ``{}`` for anything else."""
    steps, batch = x.shape[:2]
    out = None
    if len(got) == steps and all(torch.is_tensor(g) for g in got):
        out = torch.stack(got)
    elif len(got) == 1 and torch.is_tensor(got[0]):
        try:
            seq = back(got[0])
        except RuntimeError:  # not a whole-sequence value of the model's layout
            seq = got[0]
        out = seq if tuple(seq.shape[:2]) == (steps, batch) else None
    return {} if out is None else {"out": out.to(x.dtype)}


def _record_native(model: nn.Module, plugin: ModuleType, x: torch.Tensor, source: str, graph: nir.NIRGraph | None) -> Recording:
    """A Sequential run by its plugin's run_model, each layer's outputs caught by a forward hook
    (per step for step-wise idioms, once for whole-sequence ones) and put time-major."""
    children = chain(model, getattr(plugin, "describe_layer", None)) if isinstance(model, nn.Sequential) else []
    (y, membranes), calls = _hooked(children, lambda: plugin.run_model(model, x))
    back = trace.back_of(model, plugin, x)
    nodes: dict[str, dict[str, torch.Tensor]] = {}
    for name, _ in children:
        nodes[name] = _time_major(calls[name], x, back)
        if name in membranes:
            nodes[name]["v"] = membranes[name].detach()
    order = ["input", *(name for name, _ in children), "output"]
    nodes["output"] = {"out": y.detach().to(x.dtype)}
    neurons = {name: n for name, m in children if (n := plugin.describe_neuron(m)) is not None}
    return Recording(source, plugin.NAME, x, nodes, order, {b: [a] for a, b in zip(order, order[1:])} | {"input": []}, set(),
                     neurons, "input", "output", graph)


def _pick(values_: list[str] | None, index: int) -> str | None:
    """One value for both sides, or two: A's, then B's."""
    if not values_:
        return None
    return values_[min(index, len(values_) - 1)]


@dataclass
class Operand:
    """One side of ``snn-interop compare``: a NIR graph, a framework model or a saved recording."""

    spec: str
    graph: nir.NIRGraph | None = None
    model: nn.Module | None = None
    plugin: ModuleType | None = None
    recording: Recording | None = None
    dtype: torch.dtype = torch.float64

    @classmethod
    def open(cls, spec: str, index: int, frameworks: list[str] | None, sources: list[str] | None, weights: list[str] | None,
             dtype: torch.dtype, defaults: NirDefaults | None = None) -> Operand:
        """``spec`` as an operand; a .nir file's neuron nodes without snn-interop metadata are read
        with ``defaults`` (else :class:`NirDefaults`' own)."""
        from snn_interop import conversion as conv

        path = Path(spec)
        if spec.endswith(".nir") or (path.is_file() and path.suffix not in (".pt", ".pth")):
            graph = flatten(conv.read_nir(spec))  # nested subgraphs' nodes are named "sub.node"
            graph = graph if defaults is None else annotate(graph, defaults)
            return cls(spec, graph=graph, plugin=conv.resolve(_pick(frameworks, index) or conv.NIR), dtype=dtype)
        if path.is_file():
            return cls(spec, recording=Recording.load(spec))
        fw = _pick(sources, index)
        if fw is None:
            raise BadSource(f"{spec!r} is neither a .nir file nor a saved recording; for a module:callable give its framework with --from FW")
        plugin = conv.resolve(fw)
        if plugin is None:
            raise BadSource("--from nir needs a .nir file")
        model = whole_model(conv.load_callable(spec, _pick(weights, index), plugin), plugin)
        return cls(spec, model=model, plugin=plugin, dtype=conv._dtype(model))

    def input_shape(self, given: tuple[int, ...] | None) -> tuple[int, ...]:
        from snn_interop import conversion as conv

        return conv.input_shape(self.graph if self.graph is not None else self.model, given, self.plugin)

    def run(self, x: torch.Tensor) -> Recording:
        """This side's recording of ``x`` (a saved recording must be of the same input)."""
        from snn_interop import conversion as conv

        if self.recording is not None:
            return self.recording
        x = x.to(self.dtype)
        name = "reference" if self.plugin is None else self.plugin.NAME
        if self.graph is not None:
            module = conv._import(self.graph, self.plugin, self.dtype)
            try:
                return record(module, x, self.plugin, source=f"{self.spec} ({name})", graph=self.graph)
            except (RuntimeError, ValueError) as exc:
                raise InvalidGraph(f"{self.spec} does not run on input of shape {tuple(x.shape)} ({exc}); check --input-shape") from exc
        try:
            graph = self.plugin.to_nir(self.model, x[0])
        except Exception:  # noqa: BLE001 - the graph is only needed by --export-repro
            graph = None
        return record(self.model, x, self.plugin, source=f"{self.spec} ({name})", graph=graph)


# -- tolerances as data ----------------------------------------------------------------------
@dataclass(frozen=True)
class Tol:
    atol: float
    rtol: float
    spike_shift: int
    reason: str
    declared: bool = False  #: an override (a declared deviation), not the default


@dataclass
class Tolerances:
    """The default per dtype and the declared overrides, read from a TOML file."""

    defaults: dict[str, Tol]
    overrides: list[dict[str, Any]] = field(default_factory=list)
    path: str = ""

    @classmethod
    def load(cls, path: str | Path = TOLERANCES_FILE) -> Tolerances:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvalidGraph(f"tolerance file {path}: {exc}") from exc
        if data.get("schema") != "snn_interop.compare_tolerances":
            raise InvalidGraph(f"tolerance file {path} lacks schema = \"snn_interop.compare_tolerances\"")
        try:
            defaults = {k: Tol(float(v["atol"]), float(v["rtol"]), int(v.get("spike_shift", 0)), v["reason"])
                        for k, v in data["default"].items()}
        except KeyError as exc:
            raise InvalidGraph(f"tolerance file {path}: a default lacks {exc} (each needs atol, rtol and reason)") from exc
        overrides = data.get("override", [])
        for o in overrides:
            if not o.get("reason"):
                raise InvalidGraph(f"tolerance file {path}: override {o} has no reason; every declared deviation needs one")
        return cls(defaults, overrides, "built-in compare_tolerances.toml" if Path(path) == TOLERANCES_FILE else str(path))

    def default(self, dtype: torch.dtype) -> Tol:
        return self.defaults["float32" if dtype in (torch.float32, torch.float16, torch.bfloat16) else "float64"]

    def get(self, node: str, quantity: str, dtype: torch.dtype) -> Tol:
        """The tolerance of one node's quantity: the default, then each matching override in turn."""
        tol = self.default(dtype)
        for o in self.overrides:
            if o.get("node", node) == node and o.get("quantity", quantity) == quantity:
                tol = Tol(float(o.get("atol", tol.atol)), float(o.get("rtol", tol.rtol)), int(o.get("spike_shift", tol.spike_shift)),
                          o["reason"], True)
        return tol


# -- measuring -------------------------------------------------------------------------------
def spike_shift(a: torch.Tensor, b: torch.Tensor) -> int | None:
    """The smallest k such that each spike train of ``a`` matches ``b`` with every spike moved
    by at most k steps: cumulative counts c, for every step t < T - k, c_a(t) <= c_b(t + k) and
    c_b(t) <= c_a(t + k) (a spike shifted past the last step is not held against it). k = 0 is
    identity; None when no k < T passes. ``a``, ``b``: [T, ...] spike counts."""
    ca, cb = a.cumsum(0), b.cumsum(0)
    steps = a.shape[0]
    for k in range(steps):
        head = steps - k
        if bool((ca[:head] <= cb[k:]).all() and (cb[:head] <= ca[k:]).all()):
            return k
    return None


@dataclass
class NodeResult:
    """One quantity of one node, compared."""

    node: str
    quantity: str
    spikes: bool  #: compared exactly (the output of a spiking neuron)
    mismatches: int
    total: int
    first: dict[str, Any] | None  #: {"step", "batch", "neuron", "a", "b"} of the first value beyond tolerance
    max_abs: float
    max_rel: float
    shift: int | None  #: spikes only: the smallest spike-time shift that passes (None: counts differ)
    status: str  #: "match", "declared" (beyond the default, within an override), "mismatch"
    tolerance: dict[str, Any]
    note: str = ""
    spikes_a: int | None = None  #: spikes only: how many A fired (0 with no mismatch: both silent, nothing tested)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _compare_quantity(name: str, q: str, a: torch.Tensor, b: torch.Tensor, spikes: bool, tols: Tolerances,
                      dtype: torch.dtype) -> NodeResult:
    default, tol = tols.default(dtype), tols.get(name, q, dtype)
    if a.shape != b.shape:
        return NodeResult(name, q, spikes, max(a.numel(), b.numel()), max(a.numel(), b.numel()), {"step": 0, "batch": 0, "neuron": [],
                          "a": None, "b": None}, float("inf"), float("inf"), None, "mismatch", vars(tol),
                          f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    a64, b64 = a.detach().to(torch.float64), b.detach().to(torch.float64)
    diff = (a64 - b64).abs()
    max_abs = float(diff.max()) if diff.numel() else 0.0
    rel = torch.where(diff == 0, torch.zeros_like(diff), diff / b64.abs())
    max_rel = float(rel.max()) if rel.numel() else 0.0

    def beyond(t: Tol) -> torch.Tensor:
        return a64 != b64 if spikes else diff > t.atol + t.rtol * b64.abs()

    mask = beyond(default)
    shift = spike_shift(a64, b64) if spikes else None

    def passes(t: Tol) -> bool:
        if spikes:
            return shift is not None and shift <= t.spike_shift
        return not bool(beyond(t).any())

    status = "match" if passes(default) else "declared" if tol.declared and passes(tol) else "mismatch"
    first = None
    if mask.any():
        idx = mask.nonzero()[0].tolist()
        first = {"step": idx[0], "batch": idx[1], "neuron": idx[2:], "a": float(a64[tuple(idx)]), "b": float(b64[tuple(idx)])}
    return NodeResult(name, q, spikes, int(mask.sum()), mask.numel(), first, max_abs, max_rel, shift, status,
                      vars(tol) if status == "declared" else vars(default), spikes_a=int(a64.abs().sum().item()) if spikes else None)


def _at(value: Any, neuron: list[int]) -> float:
    arr = values(value)
    return float(arr[tuple(neuron)] if arr.ndim else arr)


def _neuron_diff(na: Neuron | None, nb: Neuron | None, neuron: list[int]) -> list[str]:
    """The canonical fields in which two neuron nodes differ, 'field a vs b', per-neuron values
    shown at ``neuron`` (the divergent one) when they differ there."""
    if na is None or nb is None or na == nb:
        return []
    da, db = metadata.neuron_to_dict(na), metadata.neuron_to_dict(nb)
    out = []
    for k in sorted(set(da) | set(db)):
        if da.get(k) == db.get(k):
            continue
        va, vb = _show(da.get(k), neuron), _show(db.get(k), neuron)
        where = f" (neuron {','.join(map(str, neuron))})" if _per_neuron(da.get(k)) or _per_neuron(db.get(k)) else ""
        out.append(f"{k} {va} vs {vb}{where}")
    return out


def _per_neuron(v: Any) -> bool:
    v = v.get("beta") if isinstance(v, dict) else v
    return isinstance(v, (list, tuple))


def _show(v: Any, neuron: list[int]) -> str:
    if isinstance(v, dict):
        v = v.get("beta", v.get("name", v))
    if isinstance(v, (list, tuple)):
        try:
            v = _at(v, neuron)
        except (IndexError, ValueError):
            pass
    s = f"{v:g}" if isinstance(v, float) else json.dumps(v) if not isinstance(v, str) else v
    return s if len(s) <= 40 else s[:37] + "..."


def _v_pre(rec: Recording, node: str, upto: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The membrane compared with the threshold, and the threshold, at steps 0..upto: the
    canonical update of the node's neuron replayed on what the node received."""
    neuron = rec.neurons.get(node)
    if neuron is None or not neuron.spikes or node not in rec.preds:
        return None
    try:
        x = rec.node_input(node)[: upto + 1].detach()
        state, v_pre, theta = oracle.initial_state(neuron, x[0]), [], []
        for x_t in x:  # in the side's own dtype: a float32 run rounds as float32 does
            state, v, th = oracle.step(neuron, x_t, state)
            v_pre.append(v)
            theta.append(th)
    except (RuntimeError, KeyError, ValueError):
        return None
    return torch.stack(v_pre), torch.stack(theta)


@dataclass
class Divergence:
    """The first value beyond tolerance: where, both sides' values around it, and why."""

    step: int
    node: str
    quantity: str
    batch: int
    neuron: list[int]
    a: float | None
    b: float | None
    v: dict[str, Any] = field(default_factory=dict)  #: membranes at the step and the step before, thresholds, distances
    kind: str = ""  #: "float noise at threshold" or "semantic difference"
    cause: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def where(self) -> str:
        neuron = ",".join(map(str, self.neuron)) or "-"
        return f"step {self.step}, node {self.node}, neuron {neuron}, batch {self.batch}"


@dataclass
class Comparison:
    """The localisation: per node and quantity, the first divergence, and the smallest passing tolerances."""

    a: str
    b: str
    steps: int
    batch: int
    dtype: str
    results: list[NodeResult]
    first: Divergence | None  #: the first value beyond tolerance, earliest step then topological order
    first_spike: Divergence | None  #: the first differing spike, with membranes and the threshold
    smallest: dict[str, Any]  #: tolerances that would have passed
    only_in: dict[str, list[str]]  #: nodes one side has and the other lacks
    tolerances: str
    messages: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        statuses = {r.status for r in self.results}
        return "mismatch" if "mismatch" in statuses else "declared" if "declared" in statuses else "match"

    @property
    def silent(self) -> list[str]:
        """Spiking nodes where neither side fired: their equal spikes test nothing."""
        return [r.node for r in self.results if r.spikes and r.spikes_a == 0 and r.mismatches == 0]

    @property
    def exit_code(self) -> ExitCode:
        return {"match": ExitCode.OK, "declared": ExitCode.DECLARED_DEVIATIONS, "mismatch": ExitCode.FAILED}[self.status]

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "steps": self.steps, "batch": self.batch, "dtype": self.dtype, "status": self.status,
                "exit": int(self.exit_code), "messages": self.messages,
                "first_divergence": None if self.first is None else self.first.to_dict(),
                "first_spike_divergence": None if self.first_spike is None else self.first_spike.to_dict(),
                "smallest_passing": self.smallest, "only_in": self.only_in, "silent": self.silent, "tolerances": self.tolerances,
                "nodes": [r.to_dict() for r in self.results]}

    def text(self) -> str:
        """The report ``snn-interop compare`` prints."""
        lines = [f"A: {self.a}", f"B: {self.b}", f"{self.steps} steps, batch {self.batch}, {self.dtype}; tolerances {self.tolerances}"]
        w = max([12, *(len(r.node) + 2 for r in self.results)])
        lines.append(f"  {'node':<{w}}{'quantity':<18}{'mismatches':<22}{'max abs diff':<14}{'first (step, batch, neuron)':<29}status")
        for r in self.results:
            first = "-" if r.first is None else f"{r.first['step']}, {r.first['batch']}, {','.join(map(str, r.first['neuron'])) or '-'}"
            pct = f"{r.mismatches} / {r.total}"
            label = NAMES[r.quantity] + (" (spikes)" if r.spikes else "")
            lines.append(f"  {r.node:<{w}}{label:<18}{pct:<22}{r.max_abs:<14.3g}{first:<29}{r.status}" + (f" ({r.note})" if r.note else ""))
        for side, names in self.only_in.items():
            if names:
                lines.append(f"  only in {side}: {', '.join(names)}")
        if self.silent:
            lines.append(f"  note: no spike in {', '.join(self.silent)} on either side: equal spikes there test nothing; "
                         + inputs.more_spikes())
        lines.extend(self.messages)
        s = self.smallest
        shift = "none passes (spike counts differ)" if s["spike_shift"] is None else f"{s['spike_shift']} steps"
        lines.append(f"Smallest passing tolerances: membrane atol {s['membrane_atol']:.3g} (rtol 0) or rtol {s['membrane_rtol']:.3g} "
                     f"(atol 0); spike-time shift {shift}")
        lines.append(f"Verdict: {self.status.upper()} (exit {int(self.exit_code)}: {self.exit_code.name})")
        return "\n".join(lines)


def localise(a: Recording, b: Recording, tolerances: Tolerances | None = None, fail_fast: bool = False) -> Comparison:
    """Compare two recordings of the same input, node by node in ``a``'s topological order."""
    tols = tolerances or Tolerances.load()
    dtype = torch.float32 if torch.float32 in (a.dtype, b.dtype) else torch.float64
    if a.x.shape != b.x.shape or not torch.equal(a.x.to(torch.float64), b.x.to(torch.float64)):
        raise InvalidGraph(f"the two runs had different inputs ({tuple(a.x.shape)} vs {tuple(b.x.shape)}); "
                           "give both the same input (--load-inputs) or compare against a recording of this input")
    order = [n for n in a.order if n in b.nodes and n in a.nodes]
    results: list[NodeResult] = []
    for name in order:
        spiking = name in a.neurons and a.neurons[name].spikes or name in b.neurons and b.neurons[name].spikes
        for q in QUANTITIES:
            if q in a.nodes[name] and q in b.nodes[name]:
                results.append(_compare_quantity(name, q, a.nodes[name][q], b.nodes[name][q], spiking and q == "out", tols, dtype))
    rank = {n: i for i, n in enumerate(order)}
    failing = [r for r in results if r.status != "match" and r.first is not None]
    firsts = sorted(failing, key=lambda r: (r.first["step"], rank[r.node], QUANTITIES.index(r.quantity)))
    first = _divergence(a, b, firsts[0], tols, dtype) if firsts else None
    spike_firsts = [r for r in firsts if r.spikes]
    first_spike = _divergence(a, b, spike_firsts[0], tols, dtype) if spike_firsts else None
    if fail_fast and first is not None:  # keep the nodes up to the first divergent one
        results = [r for r in results if rank[r.node] <= rank[first.node]]
    vs = [r for r in results if r.quantity == "v"]
    shifts = [r.shift for r in results if r.spikes]
    smallest = {"membrane_atol": max((r.max_abs for r in vs), default=0.0), "membrane_rtol": max((r.max_rel for r in vs), default=0.0),
                "spike_shift": None if None in shifts else max(shifts, default=0),
                "per_node": {r.node + "." + r.quantity: ({"spike_shift": r.shift} if r.spikes else {"atol": r.max_abs, "rtol": r.max_rel})
                             for r in results}}
    only = {"A": [n for n in a.order if n not in b.nodes and n in a.nodes], "B": [n for n in b.order if n not in a.nodes and n in b.nodes]}
    steps, batch = a.x.shape[:2]
    result = Comparison(a.source, b.source, steps, batch, str(dtype).removeprefix("torch."), results, first, first_spike, smallest,
                        only, tols.path)
    result.messages = messages(result)
    return result


def _divergence(a: Recording, b: Recording, r: NodeResult, tols: Tolerances, dtype: torch.dtype) -> Divergence:
    t, bi, nidx = r.first["step"], r.first["batch"], r.first["neuron"]
    d = Divergence(t, r.node, r.quantity, bi, nidx, r.first["a"], r.first["b"])
    if r.note:
        d.kind, d.cause = "semantic difference", r.note
        return d
    tol = tols.default(dtype)
    at = (bi, *nidx)
    v: dict[str, Any] = {}
    for side, rec in (("a", a), ("b", b)):
        node = rec.nodes.get(r.node, {})
        if "v" in node:
            v[f"{side}_v"] = float(node["v"][t][at])
            v[f"{side}_v_before"] = None if t == 0 else float(node["v"][t - 1][at])
        pre = _v_pre(rec, r.node, t)
        if pre is not None:
            v[f"{side}_v_compared"], v[f"{side}_threshold"] = float(pre[0][t][at]), float(pre[1][t][at])
            v[f"{side}_distance"] = v[f"{side}_v_compared"] - v[f"{side}_threshold"]
        elif r.node in rec.neurons:
            v[f"{side}_threshold"] = _at(rec.neurons[r.node].threshold, list(nidx))
    d.v = v
    params = _neuron_diff(a.neurons.get(r.node), b.neurons.get(r.node), list(nidx))
    upstream_same = True
    if r.node in a.preds and r.node in b.preds and a.preds[r.node] and b.preds[r.node]:
        try:
            ia, ib = a.node_input(r.node)[: t + 1], b.node_input(r.node)[: t + 1]
            upstream_same = ia.shape == ib.shape and bool(((ia.double() - ib.double()).abs() <= tol.atol + tol.rtol * ib.double().abs()).all())
        except KeyError:  # a side did not record a predecessor (a native layer without a per-step output)
            pass
    before_same = True
    if t > 0 and "v" in a.nodes.get(r.node, {}) and "v" in b.nodes.get(r.node, {}):
        va, vb = a.nodes[r.node]["v"][:t].double(), b.nodes[r.node]["v"][:t].double()
        before_same = bool(((va - vb).abs() <= tol.atol + tol.rtol * vb.abs()).all())
    near = [abs(v[k]) for k in ("a_distance", "b_distance") if k in v]
    if params:
        d.kind, d.cause = "semantic difference", "node parameters differ: " + "; ".join(params)
    elif not upstream_same:
        d.kind, d.cause = "semantic difference", "its input differs from an earlier node's output (recording incomplete upstream)"
    elif r.spikes and before_same and near and min(near) <= max(tol.atol, 8 * torch.finfo(dtype).eps):
        d.kind, d.cause = "float noise at threshold", "same input and membrane until this step; the membrane lands on the threshold within rounding"
    else:
        d.kind = "semantic difference"
        d.cause = ("same parameters and input, different dynamics: the frameworks' layers disagree" if before_same
                   else "the membrane drifted from earlier steps")
    return d


def _fmt(x: float | None, *others: float) -> str:
    """8 significant digits, or all 17 when 8 would show a different value (the other side's,
    the threshold) alike."""
    if x is None:
        return "n/a"
    return f"{x:.17g}" if any(x != o and f"{x:.8g}" == f"{o:.8g}" for o in others) else f"{x:.8g}"


def messages(c: Comparison) -> list[str]:
    """assert_close-style sentences, in SNN units: spike trains, then membranes and currents."""
    out: list[str] = []
    spikes = [r for r in c.results if r.spikes]
    bad = [r for r in spikes if r.status != "match"]
    if bad:
        n, total = sum(r.mismatches for r in spikes), sum(r.total for r in spikes)
        d = c.first_spike
        msg = f"Spike trains differ: {n} / {total} ({100 * n / max(total, 1):.2f} %)"
        if d is not None:
            msg += f"; first at {d.where()}"
            if "a_v_compared" in d.v and "b_v_compared" in d.v:
                ta, tb = d.v["a_threshold"], d.v["b_threshold"]
                theta = f"threshold {ta:g}" if ta == tb else f"thresholds {ta:g} vs {tb:g}"
                va, vb = d.v["a_v_compared"], d.v["b_v_compared"]
                msg += f"; v {_fmt(va, vb, ta, tb)} vs {_fmt(vb, va, ta, tb)} at {theta}"
            msg += f" ({d.kind}: {d.cause})"
        out.append(msg + ".")
    for q in ("v", "i", "out"):
        rs = [r for r in c.results if r.quantity == q and not r.spikes]
        bad = [r for r in rs if r.status != "match"]
        if not bad:
            continue
        n, total = sum(r.mismatches for r in rs), sum(r.total for r in rs)
        r0 = min(bad, key=lambda r: (r.first["step"] if r.first else 0, c.results.index(r)))
        tol = r0.tolerance
        msg = (f"{NAMES[q].capitalize()}s are not close: {n} / {total} ({100 * n / max(total, 1):.2f} %) beyond atol {tol['atol']:g}, "
               f"rtol {tol['rtol']:g}")
        if r0.first is not None and r0.first["a"] is not None:
            f = r0.first
            neuron = ",".join(map(str, f["neuron"])) or "-"
            msg += (f"; first at step {f['step']}, node {r0.node}, neuron {neuron}, batch {f['batch']}: {_fmt(f['a'])} vs {_fmt(f['b'])} "
                    f"(abs diff {abs(f['a'] - f['b']):.3g})")
        elif r0.note:
            msg += f"; node {r0.node}: {r0.note}"
        worst = max(bad, key=lambda r: r.max_abs)
        msg += f"; greatest abs diff {worst.max_abs:.3g} (node {worst.node}), greatest rel diff {max(r.max_rel for r in bad):.3g}"
        if c.first is not None and c.first.node == r0.node and c.first.quantity == q:
            msg += f" ({c.first.kind}: {c.first.cause})"
        out.append(msg + ".")
    if c.first is not None:
        out.append(f"First divergence: {c.first.where()} ({NAMES[c.first.quantity]}).")
    declared = [r for r in c.results if r.status == "declared"]
    for r in declared:
        out.append(f"Declared deviation: node {r.node} {NAMES[r.quantity]} within atol {r.tolerance['atol']:g}, rtol {r.tolerance['rtol']:g}, "
                   f"spike shift {r.tolerance['spike_shift']} ({r.tolerance['reason']}).")
    if c.status == "match":
        out.append("Every node matches within tolerance at every step.")
    return out


# -- reproduction ----------------------------------------------------------------------------
REPLAY = '''"""Replays the divergence snn-interop compare found: {where}.

The subgraph from the first divergent node on (a.nir, b.nir) runs on the input that node
received (repro.pt: "x", steps 0..T-1), each side in the framework it ran in; then the same
localisation is printed. repro.pt also holds each side's state of every neuron node at the
step before the divergence ("state_before": v, i, spikes). Run: python replay.py
"""
from pathlib import Path

import torch

from snn_interop import compare, registry
from snn_interop.nir.files import read
from snn_interop.nir.graph import from_nir

HERE = Path(__file__).resolve().parent
data = torch.load(HERE / "repro.pt", weights_only=True)
runs = []
for side in ("a", "b"):
    framework = data["frameworks"][side]
    plugin = None if framework == "reference" else registry.get(framework)
    graph = read(HERE / f"{{side}}.nir")
    module = from_nir(graph, plugin, dtype=data["x"].dtype)
    runs.append(compare.record(module, data["x"], plugin, source=f"{{side}}.nir ({{framework}})"))
result = compare.localise(*runs)
print(result.text())
print("state at the step before", data["step"], "(none when it is step 0):", {{k: {{q: t.tolist() for q, t in v.items()}} for k, v in data["state_before"].items()}})
raise SystemExit(int(result.exit_code))
'''


def _subgraph(graph: nir.NIRGraph, start: str, rec: Recording) -> tuple[nir.NIRGraph, list[str]]:
    """The nodes reachable from ``start`` fed by one new Input at ``start``; when another node
    of them reads from outside, only ``start`` itself (with an Output after it)."""
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
    keep, todo = {start}, [start]
    while todo:
        for m in succ.get(todo.pop(), []):
            if m not in keep and not isinstance(graph.nodes[m], nir.Input):
                keep.add(m)
                todo.append(m)
    outside = [(a, b) for a, b in graph.edges if b in keep and b != start and a not in keep]
    if outside or rec.output_name not in keep:
        keep = {start}
    shape = tuple(rec.node_input(start).shape[2:])
    nodes = {k: graph.nodes[k] for k in keep if k != rec.output_name}
    nodes["repro_input"] = nir.Input(input_type={"input": np.array(shape)})
    edges = [("repro_input", start)] + [(a, b) for a, b in graph.edges if a in keep and b in keep and b != rec.output_name]
    out_shape = tuple(rec.nodes[start]["out"].shape[2:]) if keep == {start} else tuple(rec.nodes[rec.output_name]["out"].shape[2:])
    nodes["repro_output"] = nir.Output(output_type={"output": np.array(out_shape)})
    last = start if keep == {start} else next(a for a, b in graph.edges if b == rec.output_name)
    edges.append((last, "repro_output"))
    return nir.NIRGraph(nodes=nodes, edges=edges), sorted(keep)


def export_repro(result: Comparison, a: Recording, b: Recording, out: str | Path) -> Path:
    """``out``/a.nir, b.nir (the subgraph from the first divergent node on), repro.pt (its input
    over every step, and each side's state at the step before) and replay.py."""
    if result.first is None:
        raise InvalidGraph("nothing to reproduce: the two runs match")
    if a.graph is None or b.graph is None:
        raise InvalidGraph("--export-repro needs both sides' NIR graphs (a .nir file, or a framework model snn-interop can export); "
                           "a saved recording has none")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = result.first.node
    kept = []
    for side, rec in (("a", a), ("b", b)):
        sub, kept = _subgraph(rec.graph, start, rec)
        nir_files.write(out / f"{side}.nir", sub)
    t = result.first.step
    state = {}
    for side, rec in (("a", a), ("b", b)):
        for node in kept:
            if node in rec.neurons and t > 0:
                state[f"{side}.{node}"] = {q: rec.nodes[node][q][t - 1].clone() for q in ("v", "i", "out") if q in rec.nodes[node]}
    torch.save({"x": a.node_input(start).detach().clone(), "step": t, "node": start, "state_before": state,
                "frameworks": {"a": a.framework, "b": b.framework}}, out / "repro.pt")
    (out / "replay.py").write_text(REPLAY.format(where=result.first.where()))
    return out
