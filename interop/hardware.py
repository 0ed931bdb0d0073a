"""Hand-off to neuromorphic hardware toolchains: the target contract, discovery and the check.

A hardware target (Xylo through Rockpool, Speck through Sinabs, Loihi through lava-dl's netx
format) is found like a framework plugin, through the entry-point group
``snn_interop.targets``; the core imports no vendor toolchain. A target module provides:

``NAME``, ``CHIP``, ``TOOLCHAIN``, ``EXTRA``
    its name for ``snn-convert --to``, the chip, the vendor toolchain, the pip extra.
``available() -> str | None``
    None when usable, else why not (what to install).
``check(graph) -> list[Violation]``
    the chip's design rules on a NIR graph, before any mapping: every violation, each naming
    the node, the rule, what was found and the limit.
``build(graph) -> Deployment``
    quantise and map a graph that passed ``check``.

Every neuron node a target sees carries our metadata (:func:`handoff` annotates the graph
first), so ``snn_interop.nir.neurons.neuron_from_node(node)`` gives its canonical neuron.

A :class:`Deployment` writes the toolchain's artifacts (``save``), runs the chip's behaviour
on an input (``simulate``: the vendor simulator where it runs, else the exact fixed-point
model the spec declares) and reports its quantisation figures.

:func:`handoff` checks, builds, saves, then runs the float model (the graph's reference
semantics: :func:`snn_interop.nir.graph.from_nir` with canonical neurons, float64) and the
deployment on one seeded spike input, and reports spike mismatches against the bound the
target states. The target sees the graph with each BatchNorm's per-channel affine folded into
the weight layer before it (:mod:`snn_interop.nir.fold`); the float model runs the graph as given.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import nir
import torch

from snn_interop import inputs, registry
from snn_interop.errors import ExitCode, InteropError, PluginUnavailable, UnknownFramework, check_output
from snn_interop.nir.fold import fold
from snn_interop.nir.graph import annotate, without_metadata
from snn_interop.nir.neurons import NirDefaults, defaults_note

GROUP = "snn_interop.targets"
REQUIRED = ("NAME", "CHIP", "TOOLCHAIN", "EXTRA", "available", "check", "build")
SPIKE_P = 0.2  #: default spike probability per step and input channel of the chip check's input


@dataclass(frozen=True)
class Violation:
    """One broken design rule: ``node`` (a NIR node name, or "graph"), the ``rule``, what was
    ``found`` and the chip's ``limit``."""

    node: str
    rule: str
    found: str
    limit: str

    def __str__(self) -> str:
        return f"node {self.node!r}: {self.rule}: {self.found} (limit: {self.limit})"


class ConstraintViolation(InteropError):
    """The graph breaks the target chip's design rules; the message lists every violation."""

    code = ExitCode.CONSTRAINT

    def __init__(self, target: str, chip: str, violations: list[Violation]) -> None:
        self.violations = violations
        lines = "\n".join(f"  - {v}" for v in violations)
        super().__init__(f"the graph does not fit {chip} (--to {target}): {len(violations)} design rule(s) broken, "
                         f"nothing was written:\n{lines}")


class Deployment(Protocol):
    """A graph quantised and mapped for one chip."""

    simulator: str  #: what ``simulate`` runs, with its version (e.g. "XyloSim (xylosim 0.1.3)")
    bound: dict[str, float]  #: the mismatch the docs promise against the float model, e.g. {"mismatch_fraction": 0.05}

    def save(self, out: Path) -> list[Path]:
        """Write the toolchain's artifacts into directory ``out``; the paths written."""

    def simulate(self, x: torch.Tensor) -> torch.Tensor:
        """Output spike counts ``[T, B, *output shape]`` for input spikes ``x`` ``[T, B, *input shape]``."""

    def figures(self) -> dict[str, Any]:
        """Quantisation figures (weight and threshold errors, bit widths, scale factors)."""

    # Optional: ``chip_weights(graph) -> nir.NIRGraph``, the built graph with the weights the chip
    # applies, in the graph's units; ``handoff`` then runs it in float and reports the mismatch the
    # quantised weights cause alone (``forward["weights_alone"]``).
    # Optional: ``layer_spikes(x) -> {neuron node: spikes [T, B, ...]}``, each neuron layer's spikes
    # on the chip; ``handoff`` then compares each with the float model's (``forward["layers"]``),
    # which shows the layer where the spikes first part ways.


def names() -> list[str]:
    """Registered hardware targets, without importing any."""
    return sorted(registry._entry_points(GROUP))


def is_target(name: str | None) -> bool:
    return name in registry._entry_points(GROUP)


@cache
def load(name: str) -> ModuleType:
    """Import target ``name`` and check it against the contract."""
    eps = registry._entry_points(GROUP)
    if name not in eps:
        raise UnknownFramework(f"no hardware target named {name!r}; installed targets: {', '.join(sorted(eps)) or 'none'}")
    target = eps[name].load()
    missing = [attr for attr in REQUIRED if not hasattr(target, attr)]
    if missing or target.NAME != name:
        raise PluginUnavailable(f"hardware target {name!r} ({eps[name].value}) does not satisfy the contract: "
                                + (f"lacks {', '.join(missing)}" if missing else f"calls itself {target.NAME!r}"))
    return target


def get(name: str) -> ModuleType:
    """Target ``name`` whose toolchain is usable, else an error naming the extra to install."""
    target = load(name)
    reason = target.available()
    if reason is not None:
        raise PluginUnavailable(f"the {name} target ({target.CHIP} through {target.TOOLCHAIN}) is not usable: {reason}; "
                                f"install it with: pip install 'snn-interop[{target.EXTRA}]'")
    return target


def spike_input(graph: nir.NIRGraph, steps: int, seed: int, rate: float = SPIKE_P, batch: int = 1) -> torch.Tensor:
    """Seeded Bernoulli spikes ``[steps, batch, *input shape]`` at ``rate`` per step and channel."""
    from snn_interop.nir.graph import _io_names

    node = graph.nodes[_io_names(graph)[0]]
    shape = tuple(int(s) for s in node.input_type["input"])
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, batch, *shape, generator=gen, dtype=torch.float64) < rate).to(torch.float64)


def float_model(graph: nir.NIRGraph) -> Callable[..., Any]:
    """The graph's reference semantics in float64 (canonical neurons): ``run(x)`` the output, and
    ``run(x, record=True)`` also every node's outputs by NIR node name (``{"out": [T, B, ...]}``)."""
    from snn_interop.nir.graph import from_nir

    module = from_nir(graph, None, dtype=torch.float64)

    def run(x: torch.Tensor, record: bool = False) -> Any:
        with torch.no_grad():
            return module(x.to(torch.float64), record=record)
    return run


@dataclass
class HandoffReport:
    """What :func:`handoff` measured; ``to_dict()`` is the JSON it writes."""

    target: str
    chip: str
    toolchain: str
    simulator: str
    steps: int
    seed: int
    input_rate: float | None  #: None: the check ran on the given input
    files: list[str]
    forward: dict[str, Any]
    figures: dict[str, Any]
    bound: dict[str, float]
    within_bound: bool
    source: str = ""
    checks: list[str] = field(default_factory=list)  #: the design rules checked, as the target names them
    #: per-channel affines (BatchNorms) folded into the weight layer before them for the chip: {"node", "into", "note"}
    folded: list[dict[str, str]] = field(default_factory=list)
    #: a NIR file from elsewhere: its neuron nodes without snn-interop metadata and how they were read (NirDefaults.read)
    nir_defaults: dict[str, Any] | None = None

    @property
    def notes(self) -> list[str]:
        """What the check's input left untested: a float model that fired no output spike."""
        if self.forward["spikes_float"]:
            return []
        notes = ["the float model fired no output spike on this input, so the bound tests nothing; "
                 + inputs.more_spikes(given=self.input_rate is None)]
        return notes + ([defaults_note(self.nir_defaults)] if self.nir_defaults else [])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        f = self.forward
        first = f["first_mismatch"]
        rows = [
            ("simulator", self.simulator),
            ("output spike mismatches", f"{f['spike_mismatches']} of {f['outputs']} ({f['mismatch_fraction']:.3g}); "
                                        f"spikes: float {f['spikes_float']}, {self.target} {f['spikes_target']}"),
            ("first mismatch", "none" if first is None else f"step {first['step']}, output {first['index']}"),
            ("spike counts", f"{f['count_differences']} spikes apart over the run, summed over outputs (at most "
                             f"{f['count_difference_max']} for one output): what a readout counting spikes sees"),
            *((("per layer", ", ".join(f"{node} {c['spike_mismatches']} of {c['outputs']}" for node, c in layers.items())
                + ": each neuron layer's spikes against the float model's"),) if (layers := f.get("layers")) else ()),
            *((("weights alone", f"{a['spike_mismatches']} of {f['outputs']} ({a['mismatch_fraction']:.3g}): the float model "
                "with the weights the chip applies (what its 8-bit weights alone change)"),) if (a := f.get("weights_alone")) else ()),
            *(("folded", n["note"]) for n in self.folded),
            *((k, _show(v)) for k, v in self.figures.items()),
            ("bound", ", ".join(f"{k} <= {v:g}" for k, v in self.bound.items()) + (" (met)" if self.within_bound else " (EXCEEDED)")),
            ("files", ", ".join(self.files)),
        ]
        width = max(len(k) for k, _ in rows)
        drawn = f"seed {self.seed}, input rate {self.input_rate:g}" if self.input_rate is not None else "the given input"
        head = f"{self.source or 'graph'} -> {self.target} ({self.chip} via {self.toolchain}): {self.steps} steps, {drawn}"
        return "\n".join([head, *(f"  {k:<{width}}  {v}" for k, v in rows), *(f"  note: {n}" for n in self.notes)])


def _show(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def compare_spikes(reference: torch.Tensor, target: torch.Tensor) -> dict[str, Any]:
    """Spike mismatches of ``target`` against ``reference`` (both ``[T, B, n]`` counts), per output and
    step; and the spike counts over the run: sum over batch and outputs of |count_float - count_target|
    (``count_differences``) and its largest term (``count_difference_max``), what a readout that
    counts spikes over the run sees."""
    if reference.shape != target.shape:
        raise ValueError(f"the target's output has shape {tuple(target.shape)}, the float model's {tuple(reference.shape)}")
    ref, tgt = reference.to(torch.float64).flatten(2), target.to(torch.float64).flatten(2)
    diff = ref != tgt
    first = None
    if diff.any():
        step, batch, index = (int(i) for i in diff.nonzero()[0])
        first = {"step": step, "batch": batch, "index": index}
    counts = (ref.sum(0) - tgt.sum(0)).abs()  # per batch and output, over the run
    return {"spike_mismatches": int(diff.sum()), "outputs": int(diff.numel()), "mismatch_fraction": float(diff.float().mean()),
            "first_mismatch": first, "spikes_float": int(ref.sum()), "spikes_target": int(tgt.sum()),
            "count_differences": int(counts.sum()), "count_difference_max": int(counts.max()) if counts.numel() else 0}


def _for_chip(graph: nir.NIRGraph, defaults: NirDefaults) -> tuple[nir.NIRGraph, nir.NIRGraph, list[dict[str, str]], dict[str, Any] | None]:
    """The graph with every neuron node annotated (``defaults`` for those without our metadata),
    the same with each BatchNorm's affine folded into the weights before it (what a target
    checks and builds), what was folded, and how plain neuron nodes were read."""
    read = defaults.read(without_metadata(graph))
    graph = annotate(graph, defaults)
    chip_graph, folded = fold(graph)
    return graph, chip_graph, folded, read


def fits(graph: nir.NIRGraph, target: str, defaults: NirDefaults | None = None) -> list[Violation]:
    """Every design rule of ``target`` that ``graph`` breaks, as :func:`handoff` checks them; nothing is built."""
    t = get(target)
    return t.check(_for_chip(graph, defaults or NirDefaults())[1])


def handoff(graph: nir.NIRGraph, target: str, out: str | Path, *, steps: int = 100, seed: int = 0, rate: float = SPIKE_P,
            x: torch.Tensor | None = None, force: bool = False, source: str = "", defaults: NirDefaults | None = None,
            progress: Callable[[str], None] = lambda message: None) -> HandoffReport:
    """Check ``graph`` against ``target``'s design rules, quantise and map it, write the
    artifacts and ``report.json`` into directory ``out``, and compare the chip's run with the
    float model on ``x`` (default: seeded spikes at ``rate``, ``steps`` long). Neuron nodes
    without our metadata (a NIR file from elsewhere) are read with ``defaults`` (dt,
    discretisation, reset: :class:`~snn_interop.nir.neurons.NirDefaults`)."""
    t = get(target)
    graph, chip_graph, folded, read = _for_chip(graph, defaults or NirDefaults())  # the float model runs the unfolded graph
    out = Path(out)
    check_output(out, "directory", force, empty_ok=True)
    progress(f"checking {t.CHIP}'s design rules")
    violations = t.check(chip_graph)
    if violations:
        raise ConstraintViolation(target, t.CHIP, violations)
    progress(f"quantising and mapping for {t.CHIP}")
    deployment = t.build(chip_graph)
    out.mkdir(parents=True, exist_ok=True)
    files = [str(p) for p in deployment.save(out)]
    rate_used = rate if x is None else None
    x = spike_input(graph, steps, seed, rate) if x is None else x
    progress(f"running the float model and {deployment.simulator} on {x.shape[0]} steps")
    reference, recorded = float_model(graph)(x, record=True)
    simulated = deployment.simulate(x)
    forward = compare_spikes(reference, simulated)
    layer_spikes = getattr(deployment, "layer_spikes", None)
    if layer_spikes is not None:
        forward["layers"] = {node: {k: c[k] for k in ("spike_mismatches", "outputs", "mismatch_fraction")}
                             for node, chip in layer_spikes(x).items() if (c := compare_spikes(recorded[node]["out"], chip))}
    chip_weights = getattr(deployment, "chip_weights", None)
    if chip_weights is not None:  # the float model with the chip's weights: the part of the mismatch they cause alone
        alone = compare_spikes(reference, float_model(chip_weights(chip_graph))(x))
        forward["weights_alone"] = {k: alone[k] for k in ("spike_mismatches", "mismatch_fraction", "spikes_target")}
    within = all(forward.get(k, deployment.figures().get(k, 0.0)) <= v for k, v in deployment.bound.items())
    report = HandoffReport(target, t.CHIP, t.TOOLCHAIN, deployment.simulator, int(x.shape[0]), seed, rate_used, files, forward,
                           deployment.figures(), dict(deployment.bound), within, source, list(getattr(t, "CHECKS", ())), folded, read)
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    report.files.append(str(out / "report.json"))
    return report
