"""Reference traces embedded in a .nir file: verification that travels with the model.

``snn-convert ... --embed-reference`` runs the source model on a seeded input and stores in
the graph's metadata, under ``metadata["snn_interop.reference"]`` (one JSON string, schema
``snn_interop.reference``, version 1), what a receiver needs to check that their framework
behaves the same: the input (packed bits, and the recipe that recreates it), the output
(packed bits when it is spikes), the last neuron layer's membrane in the model's dtype, an
input-gradient fingerprint, the source framework and its version, the dtype, and a SHA-256 of
the graph's parameters. docs/reference.md describes every field.

    graph, info = embed_reference(graph, run_source, source="spikingjelly", ...)
    check_reference(graph, "snntorch")            # rebuild in a framework, run, compare
    check_callable(read_reference(graph), run)    # any callable: a quantised or simulated model

One JSON string (not HDF5 groups) for the same reason as the neuron metadata: every ``nir``
release reads it back as plain data, and readers that do not know the key ignore it.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import tempfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import h5py
import nir
import numpy as np
import torch

from snn_interop import __version__, inputs, registry
from snn_interop.errors import InvalidGraph, NoReference, PluginUnavailable, ReferenceTooLarge, UnknownFramework
from snn_interop.nir import files as nir_files
from snn_interop_conformance.tolerances import CONVERT_FP32, CONVERT_FP64, Tolerance

KEY = "snn_interop.reference"  #: the graph-level metadata key
SCHEMA = "snn_interop.reference"
VERSION = 1

PROJECTION = 64  #: length of the gradient fingerprint when the full input gradient does not fit the budget
MIB = 1 << 20

#: Named in conformance/tolerances.py: a framework's run against the source's, as snn-convert --verify.
TOLERANCES = {"float64": CONVERT_FP64, "float32": CONVERT_FP32}

#: One run of a model on time-major input: its output [T, B, ...] and neuron membranes by NIR node name.
Run = Callable[[torch.Tensor], "tuple[torch.Tensor, dict[str, torch.Tensor]]"]


# -- the size budget --------------------------------------------------------------------------
@dataclass(frozen=True)
class Budget:
    """How many bytes the reference may add to the file: ``nbytes`` when given, else
    ``fraction`` of the file without it or ``minimum``, whichever is larger."""

    nbytes: int | None = None
    fraction: float = 0.10
    minimum: int = MIB

    def limit(self, file_bytes: int) -> int:
        return self.nbytes if self.nbytes is not None else max(int(self.fraction * file_bytes), self.minimum)

    def describe(self) -> str:
        return _size(self.nbytes) if self.nbytes is not None else f"max({self.fraction:.0%} of the file, {_size(self.minimum)})"

    @classmethod
    def parse(cls, text: str) -> "Budget":
        """'2MiB', '500KiB', '100000' (bytes) or '25%' (of the file without the reference)."""
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(%|B|KiB|MiB|GiB|kB|MB)?\s*", text)
        if not m:
            raise ValueError(f"cannot read the size {text!r}: give bytes (100000), 512KiB, 2MiB, or a percentage of the file (25%)")
        value, unit = float(m.group(1)), m.group(2) or "B"
        if unit == "%":
            return cls(fraction=value / 100, minimum=0)
        scale = {"B": 1, "KiB": 1 << 10, "MiB": MIB, "GiB": 1 << 30, "kB": 1000, "MB": 1000_000}[unit]
        return cls(nbytes=int(value * scale))


def _size(n: int) -> str:
    return f"{n} B" if n < 1 << 10 else f"{n / (1 << 10):.1f} KiB" if n < MIB else f"{n / MIB:.2f} MiB"


# -- arrays in JSON ---------------------------------------------------------------------------
def _b64(raw: bytes) -> str:
    return base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


def _unb64(text: str) -> bytes:
    return zlib.decompress(base64.b64decode(text))


def pack(arr: np.ndarray, dtype: str) -> dict[str, Any]:
    """An array as JSON: 0/1 arrays as bits (``np.packbits``, C order), others in ``dtype``
    little-endian; both zlib-compressed and base64-encoded."""
    arr = np.asarray(arr)
    if np.isin(arr, (0, 1)).all():
        return {"encoding": "bits", "shape": list(arr.shape), "data": _b64(np.packbits(arr.astype(bool).ravel()).tobytes())}
    return {"encoding": "raw", "dtype": np.dtype(dtype).newbyteorder("<").str, "shape": list(arr.shape),
            "data": _b64(arr.astype(np.dtype(dtype).newbyteorder("<")).tobytes())}


def unpack(data: dict[str, Any]) -> np.ndarray:
    shape = tuple(data["shape"])
    raw = _unb64(data["data"])
    if data["encoding"] == "bits":
        return np.unpackbits(np.frombuffer(raw, np.uint8), count=int(np.prod(shape))).reshape(shape)
    return np.frombuffer(raw, np.dtype(data["dtype"])).reshape(shape).copy()


# -- the parameter hash -----------------------------------------------------------------------
def _feed(h: Any, value: Any) -> None:
    """Canonical bytes of an HDF5 value: floats as float64, integers and booleans as int64, text as UTF-8."""
    if isinstance(value, (bytes, str)):
        text = value.decode("utf8") if isinstance(value, bytes) else value
        h.update(b"s%d:" % len(text.encode()) + text.encode())
        return
    arr = np.asarray(value)
    if arr.dtype.kind in "SUO":
        h.update(b"l%d:" % arr.size)
        for item in arr.ravel():
            _feed(h, item)
        return
    arr = arr.astype("<f8" if arr.dtype.kind in "fc" else "<i8")
    h.update(f"a{arr.dtype.str}{list(arr.shape)}:".encode() + np.ascontiguousarray(arr).tobytes())


def _hash_group(h: Any, group: h5py.Group, top: bool) -> None:
    for key in sorted(group):
        if top and key == "metadata":  # graph-level metadata (the reference itself, other tools' notes) is not a parameter
            continue
        item = group[key]
        _feed(h, key)
        if isinstance(item, h5py.Group):
            h.update(b"{")
            _hash_group(h, item, False)
            h.update(b"}")
        else:
            _feed(h, item[()])


def params_hash(source: str | Path | bytes | nir.NIRGraph) -> str:
    """SHA-256 of a graph's parameters: every node's arrays, types and node metadata, and the
    edges, exactly as stored in the file (keys sorted, floats as float64, integers as int64).
    Graph-level metadata is left out. ``source`` is a .nir path, a file's bytes, or a graph
    (written with the installed nir first, so it hashes as its file would)."""
    if isinstance(source, nir.NIRGraph):
        source = _write_bytes(_without_reference(source))
    h = hashlib.sha256()
    with h5py.File(io.BytesIO(source) if isinstance(source, bytes) else source, "r") as f:
        _hash_group(h, f["node"], True)
    return h.hexdigest()


def _write_bytes(graph: nir.NIRGraph) -> bytes:
    buf = io.BytesIO()
    nir_files.write(buf, graph)
    return buf.getvalue()


def _file_size(graph: nir.NIRGraph) -> int:
    """Bytes of ``graph`` written to a file by the installed nir (h5py lays out a file on disk
    differently from one in memory, so the budget is measured on disk)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.nir"
        nir_files.write(path, graph)
        return path.stat().st_size


def _with_metadata(graph: nir.NIRGraph, metadata: dict[str, Any]) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=graph.nodes, edges=list(graph.edges), metadata=metadata)


def _without_reference(graph: nir.NIRGraph) -> nir.NIRGraph:
    return _with_metadata(graph, {k: v for k, v in (graph.metadata or {}).items() if k != KEY})


# -- taking a reference -----------------------------------------------------------------------
PROJECTION_RECIPE = "P = 2 * numpy.random.RandomState(seed).randint(0, 2, size=output.shape) - 1 (frozen stream, NEP 19)"
FINGERPRINT_RECIPE = ("R = 2 * numpy.random.RandomState(seed).randint(0, 2, size=(input.size, k)) - 1; "
                      "fingerprint = input_gradient.ravel() @ R")


def _signs(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return (2 * np.random.RandomState(seed).randint(0, 2, size=shape) - 1).astype(np.int8)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _last_neuron(graph: nir.NIRGraph, membranes: dict[str, Any]) -> str | None:
    """The neuron node nearest the output (in the graph's topological order) whose membrane the run exposes."""
    from snn_interop.nir import graph as nir_graph

    module = nir_graph.from_nir(graph, None)
    return next((n for n in reversed(module.order) if n in module.neuron_info and n in membranes), None)


def _output_layer(graph: nir.NIRGraph) -> str:
    out = next(k for k, n in graph.nodes.items() if isinstance(n, nir.Output))
    return next((a for a, b in graph.edges if b == out), out)


def _run_with_gradient(run: Run, x: torch.Tensor, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor | None]:
    """Output, membranes and the input gradient of sum(output * P), P seeded random signs."""
    xi = x.clone().requires_grad_(True)
    y, membranes = run(xi)
    if not y.requires_grad:
        return y.detach(), membranes, None
    proj = torch.from_numpy(_signs(seed, tuple(y.shape))).to(y.dtype)
    (gx,) = torch.autograd.grad((y * proj).sum(), [xi], allow_unused=True)
    return y.detach(), membranes, (torch.zeros_like(x) if gx is None else gx)


def _fingerprint(gx: np.ndarray, seed: int, k: int) -> np.ndarray:
    return gx.astype(np.float64).ravel() @ _signs(seed, (gx.size, k)).astype(np.float64)


def embed_reference(graph: nir.NIRGraph, run_source: Run, *, source: str, source_version: str | None, dtype: torch.dtype,
                    shape: tuple[int, ...], steps: int = 50, seed: int = 0, input_rate: float = inputs.SPIKE_P,
                    x: torch.Tensor | None = None, budget: Budget = Budget()) -> tuple[nir.NIRGraph, dict[str, Any]]:
    """``graph`` with a reference taken from ``run_source`` (the source model, run on
    :func:`snn_interop.inputs.bernoulli_input` at ``input_rate``, or the given input ``x``) in its metadata, and what was stored: sizes in bytes (the file
    without and with the reference, the budget) and the gradient fingerprint's form.
    Raises ReferenceTooLarge when even the compact fingerprint does not fit ``budget``."""
    base = _without_reference(graph)
    base_bytes = _write_bytes(base)
    base_size = _file_size(base)
    drawn = x is None
    x = inputs.bernoulli_input(steps, shape, seed, dtype, p=input_rate) if drawn else x
    y, membranes, gx = _run_with_gradient(run_source, x, seed + 1)
    name = _dtype_name(dtype)
    layer = _last_neuron(graph, membranes)
    payload: dict[str, Any] = {
        "schema": SCHEMA, "version": VERSION,
        "source": {"framework": source, "framework_version": source_version, "snn_interop": __version__,
                   "nir": nir.version, "torch": torch.__version__},
        "dtype": name,
        "params_sha256": params_hash(base_bytes),
        "input": {"recipe": inputs.RECIPE if drawn else "given", "steps": int(x.shape[0]), "batch": int(x.shape[1]),
                  "step_shape": list(shape), "seed": seed, "p": input_rate if drawn else None,
                  **pack(x.numpy(), name)},
        "output": {"layer": _output_layer(graph), **pack(y.numpy(), name)},
        "membrane": None if layer is None else {"layer": layer, **pack(membranes[layer].detach().numpy(), name)},
        "gradient": None,
        "tolerance": {"name": "CONVERT_FP64" if name == "float64" else "CONVERT_FP32", **asdict(TOLERANCES.get(name, CONVERT_FP32))},
    }
    limit = budget.limit(base_size)
    forms = ["full", "projection"] if gx is not None else [None]
    for form in forms:
        if form == "full":
            payload["gradient"] = {"form": "full", "projection": PROJECTION_RECIPE, "seed": seed + 1, **pack(gx.numpy(), name)}
        elif form == "projection":
            fp = _fingerprint(gx.numpy(), seed + 2, PROJECTION)
            payload["gradient"] = {"form": "projection", "projection": PROJECTION_RECIPE, "seed": seed + 1,
                                   "fingerprint": FINGERPRINT_RECIPE, "fingerprint_seed": seed + 2, "k": PROJECTION,
                                   **pack(fp, name)}
        text = json.dumps(payload, sort_keys=True)
        with_ref = _with_metadata(base, {**base.metadata, KEY: text})
        added = _file_size(with_ref) - base_size
        if added <= limit:
            info = {"key": KEY, "bytes": added, "json_bytes": len(text), "file_bytes_without": base_size,
                    "file_bytes": base_size + added, "budget_bytes": limit, "budget": budget.describe(),
                    "gradient": form, "membrane_layer": layer, "output_layer": payload["output"]["layer"],
                    "params_sha256": payload["params_sha256"]}
            return with_ref, info
    rule = "" if budget.nbytes is not None else f" ({budget.describe()})"
    raise ReferenceTooLarge(f"the reference needs {_size(added)} but the budget is {_size(limit)}{rule}; "
                            "give fewer --steps, or a larger --reference-budget (e.g. --reference-budget 8MiB), "
                            "or --no-embed-reference")


# -- reading and checking ---------------------------------------------------------------------
@dataclass
class Reference:
    """A decoded reference: the JSON payload and its arrays."""

    data: dict[str, Any]

    @property
    def dtype(self) -> torch.dtype:
        return getattr(torch, self.data["dtype"])

    @property
    def tolerance(self) -> Tolerance:
        return TOLERANCES.get(self.data["dtype"], CONVERT_FP32)

    def input(self) -> torch.Tensor:
        return torch.from_numpy(unpack(self.data["input"]).astype(np.float64)).to(self.dtype)

    def output(self) -> torch.Tensor:
        return torch.from_numpy(unpack(self.data["output"]).astype(np.float64)).to(self.dtype)

    def membrane(self) -> tuple[str, torch.Tensor] | None:
        m = self.data.get("membrane")
        return None if m is None else (m["layer"], torch.from_numpy(unpack(m).astype(np.float64)).to(self.dtype))

    def summary(self) -> str:
        s, i = self.data["source"], self.data["input"]
        version = f" {s['framework_version']}" if s.get("framework_version") else ""
        return (f"reference from {s['framework']}{version}, {self.data['dtype']}, {i['steps']} steps x {i['batch']} "
                f"(input {tuple(i['step_shape'])} per step, " + (f"Bernoulli {i['p']:g}, seed {i['seed']})" if i.get("p") is not None
                                                                  else "given by the sender)"))


def read_reference(graph: nir.NIRGraph) -> Reference | None:
    """The reference in ``graph``'s metadata, or None; a different schema or version raises InvalidGraph."""
    raw = (graph.metadata or {}).get(KEY)
    if raw is None:
        return None
    text = raw.decode("utf8") if isinstance(raw, bytes) else str(raw)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidGraph(f"metadata[{KEY!r}] is not JSON ({exc})") from exc
    if data.get("schema") != SCHEMA or data.get("version") != VERSION:
        raise InvalidGraph(f"metadata[{KEY!r}] has schema {data.get('schema')!r} version {data.get('version')}; "
                           f"this snn-interop reads {SCHEMA!r} version {VERSION}")
    return Reference(data)


@dataclass
class Check:
    """One run compared with the reference. ``reproduces``: output identical (spikes) or within
    atol + rtol |value| (non-spiking output), membrane within atol + rtol |membrane|, gradient
    fingerprint within rtol."""

    framework: str
    params_match: bool | None = None
    reproduces: bool = False
    outputs: int = 0
    mismatches: int | None = None
    first_mismatch: dict[str, Any] | None = None
    max_membrane_abs_err: float | None = None
    gradient_rel_err: float | None = None
    tolerance: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  #: why the model could not be built or run

    @property
    def ok(self) -> bool:
        return self.reproduces and self.params_match is not False

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    scale = float(np.abs(b).max()) if b.size else 0.0
    err = float(np.abs(a - b).max()) if b.size else 0.0
    return err / scale if scale > 0 else err


def check_callable(ref: Reference, run: Run, *, framework: str = "callable", params_match: bool | None = None,
                   require_gradient: bool = True, require_membrane: bool = True) -> Check:
    """Run ``run`` (input [T, B, ...] -> output and membranes by node name) on the reference's
    input and compare. Reusable for any model: a framework's, a quantised or a simulated one
    (``require_gradient=False`` where the run has no gradient, ``require_membrane=False`` where
    it exposes no membrane of the stored layer)."""
    tol = ref.tolerance
    check = Check(framework, params_match, tolerance={"atol": tol.atol, "rtol": tol.rtol})
    expected = ref.output()
    try:
        y, membranes, gx = _run_with_gradient(run, ref.input(), ref.data["gradient"]["seed"] if ref.data.get("gradient") else 0)
    except (RuntimeError, ValueError, TypeError) as exc:
        check.error = f"the model does not run on the reference input ({type(exc).__name__}: {exc})"
        return check
    check.outputs = expected.numel()
    if tuple(y.shape) != tuple(expected.shape):
        check.error = f"output shape {tuple(y.shape)} differs from the reference's {tuple(expected.shape)}"
        return check
    y = y.to(expected.dtype)
    diff = (y != expected) if ref.data["output"]["encoding"] == "bits" else tol.exceeded((y - expected).abs(), expected)
    check.mismatches = int(diff.sum())
    if check.mismatches:
        step, sample, *neuron = diff.nonzero()[0].tolist()
        check.first_mismatch = {"step": step, "sample": sample, "layer": ref.data["output"]["layer"], "neuron": neuron,
                                "expected": float(expected[(step, sample, *neuron)]), "got": float(y[(step, sample, *neuron)])}
    stored, membrane_within = ref.membrane(), False
    if stored is not None and stored[0] in membranes:
        v = membranes[stored[0]].detach().to(stored[1].dtype)
        check.max_membrane_abs_err = float((v - stored[1]).abs().max()) if v.shape == stored[1].shape else float("inf")
        membrane_within = v.shape == stored[1].shape and not bool(tol.exceeded((v - stored[1]).abs(), stored[1]).any())
    grad = ref.data.get("gradient")
    if grad is not None and gx is not None:
        g = gx.detach().numpy()
        if grad["form"] == "full":
            check.gradient_rel_err = _rel(g, unpack(grad))
        else:
            check.gradient_rel_err = _rel(_fingerprint(g, grad["fingerprint_seed"], grad["k"]), unpack(grad))
    membrane_ok = (stored is None or (check.max_membrane_abs_err is not None and membrane_within)
                   or (check.max_membrane_abs_err is None and not require_membrane))
    gradient_ok = (grad is None or check.gradient_rel_err is not None and check.gradient_rel_err <= tol.rtol
                   or (check.gradient_rel_err is None and not require_gradient))
    check.reproduces = check.mismatches == 0 and membrane_ok and gradient_ok
    return check


def graph_run(module: torch.nn.Module) -> Run:
    """A GraphModule as a :data:`Run`: output and each neuron node's membrane."""
    def run(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        y, rec = module(x, record=True)
        return y, {n: r["v"] for n, r in rec.items() if "v" in r}

    return run


def check_reference(graph: nir.NIRGraph, framework: str | None, *, params_sha256: str | None = None) -> Check:
    """Rebuild ``graph`` in ``framework`` (an installed plugin; None for snn-interop's reference
    semantics), run the embedded input and compare. ``params_sha256``: the hash of the file the
    graph was read from (else computed from the graph). Raises NoReference without a reference."""
    from snn_interop.nir import graph as nir_graph

    ref = read_reference(graph)
    if ref is None:
        raise NoReference(f"the graph carries no embedded reference (no metadata[{KEY!r}])")
    digest = params_sha256 if params_sha256 is not None else params_hash(graph)
    params_match = digest == ref.data["params_sha256"]
    plugin = None
    if framework is not None:
        if framework not in registry.names():
            raise UnknownFramework(f"unknown framework {framework!r}: installed plugins are {', '.join(registry.names()) or 'none'}")
        try:
            plugin = registry.get(framework)
        except registry.PluginError as exc:
            raise PluginUnavailable(str(exc)) from exc
    name = framework or "reference"
    try:
        module = nir_graph.from_nir(graph, plugin, dtype=ref.dtype)
    except Exception as exc:  # noqa: BLE001 - any failure to build is "does not reproduce", named
        return Check(name, params_match, error=f"cannot build the graph in {name} ({type(exc).__name__}: {exc})")
    return check_callable(ref, graph_run(module), framework=name, params_match=params_match)


def installed_frameworks() -> list[str]:
    """Every registered plugin whose framework is importable."""
    return [n for n in registry.names() if registry.info(n).unavailable is None]
