"""Speck / DYNAP-CNN through sinabs 3.1.3: design rules, discretisation, layer -> core mapping.

``import sinabs.backend.dynapcnn`` imports ``samna`` (its ``__init__`` pulls in
``dynapcnn_network.py`` and ``chips/``), and the PyPI ``samna`` runs pip when imported. This
target never imports that package: :func:`_dynapcnn` loads the samna-free files of its
directory (:data:`_SAMNA_FREE`: ``discretize.py``, ``dynapcnn_layer.py``, ``mapping.py``,
``nir_graph_extractor.py`` and what they import) under a private package name, so their code
runs unchanged. The chip's memory table (``chips/dynapcnn.py``,
``DynapcnnConfigBuilder.get_constraints``) sits in a module that imports samna; it is copied
into :data:`CORES` below.

Rules checked (each limit's source, files under ``sinabs/backend/dynapcnn/``):

* graph: layers, each a weight layer (Conv2d, Linear/Affine) and its IF neuron (``IAFSqueeze``);
  Flatten between (``exceptions.py`` ``default_invalid_structure_string``; ``dynapcnn_layer.py``
  ``DynapcnnLayer``: IAFSqueeze only). A layer's spikes go to at most 2 other layers (the config's
  two ``destinations``, ``chips/dynapcnn.py``), each way through at most one SumPool2d; a weight
  layer sums the spikes of at most 2 layers of one shape (sinabs ``Merge``, two arguments), not
  the input's; feed-forward; one layer, sending nowhere else, feeds the output
  (``sinabs_edges_handler.py`` ``set_exit_destinations``).
* neuron: IF only; the cores integrate without leak (``chips/dynapcnn.py``
  ``get_dynapcnn_layer_config_dict`` writes no decay). One threshold per layer
  (``threshold_high = int(spike_threshold)``), one input gain (folded into the weights),
  reset by subtracting ``threshold_high`` or to 0 (``return_to_zero``, MembraneSubtract /
  MembraneReset only), this step; v_leak = v_init = 0; single or multiple spikes per step.
  Firing is v >= threshold_high: a ``v > theta`` neuron is exact on integers as
  ``threshold_high = round(theta s) + 1``, but only with reset to 0 (subtracting would remove one
  unit too many).
* bias: zero. The chip adds biases on its slow clock (``leak_enable``), not once per step.
* conv: square kernel (``dynapcnn_layer.py``), dilation 1 and groups 1 (the config holds a
  dense ``[f, c, k, k]`` kernel, stride and padding only), numeric padding.
* pooling: the chip sums, square, stride = kernel, no padding (``dynapcnn_layer_utils.py``
  ``extract_pooling_from_module``), one per destination (one pooling value per destination,
  ``chips/dynapcnn.py``). An AvgPool2d is the sum with its 1 / (k k) in the weights of the layer
  after it, as sinabs' ``rescale_weights`` does: exact before discretisation; refused where it
  feeds the output, or a layer whose inputs would need different factors (sinabs'
  ``consolidate_layer_scaling``).
* memory: each layer fits a core, K = c 2^(ceil log2(k_y k_x) + ceil log2 f) kernel words,
  N = f 2^(ceil log2 h + ceil log2 w) neurons, bias <= 1024 (``DynapcnnLayer.memory_summary``,
  :data:`CORES`), and all layers fit distinct cores at once (``mapping.py``
  ``get_valid_mapping``, 9 cores).
* input: (channels, height, width) with 1 or 2 channels on at most 128 x 128
  (``dvs_layer.py``: 1 or 2 channels; ``dynapcnn_visualizer.py``: the 128 x 128 sensor). A
  SumPool2d right after it is the DVS layer's pooling (``DVSLayer``, one ``pool_layer``): all the
  input through it, to at most 2 layers.

Not checked (samna's ``validate_configuration``, ``config_builder.py``, holds them): the ranges
of kernel size, stride, padding and feature counts, and 16-bit saturation of v_mem while running.

Discretisation (``discretize.py``, 8-bit weights, 16-bit thresholds and state): per layer one
scale s = min(s_w, s_b, s_theta) with ``determine_discretization_scale`` (s = 127 / max x, or
128 / -min x when the negative side binds), weights round(w g s) (g the neuron's input gain),
threshold round(theta s). Sinabs reads ``min_v_mem=None`` as a float bound of -2^15, which caps
s at 1 (weights below 0.5 round to 0); here the state range is (min(v_min, -theta), theta) for
the scale, and without v_min the floor is the chip's -2^15 in integer units, what
``chips/dynapcnn.py`` writes as ``threshold_low`` for ``min_v_mem=None``.
"""
from __future__ import annotations

import copy
import graphlib
import importlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from snn_interop.errors import PluginUnavailable
from snn_interop.hardware import ConstraintViolation, Violation
from snn_interop.nir.graph import _io_names, check_graph, flatten, with_weights
from snn_interop.nir.neurons import NEURON_NODES, neuron_from_node
from snn_interop.spec.neurons import Compare, Model, Neuron, ResetMode, ResetTiming, SpikeFn, uniform, values
from snn_interop.spec.schema import SpecError
from snn_interop_plugins._common import availability, dist_version

NAME = "speck"
CHIP = "Speck / DYNAP-CNN"
TOOLCHAIN = "sinabs"
EXTRA = "sinabs"
CHECKS = ("graph: weight -> IF layers, <= 2 destinations each, [SumPool2d] per destination, <= 2 layers summed, feed-forward", "neuron: IF (no leak)", "threshold: one per layer",
          "input gain: one per layer", "reset: subtract or to 0, same step", "compare: > needs reset to 0",
          "bias: zero", "conv: square kernel, dilation 1, groups 1",
          "pooling: sum (an average's 1 / (k k) into the next weights), square, stride = kernel, no padding",
          "memory: kernel, neuron and bias words per core", "cores: 9, one layer each", "input: 1-2 channels, <= 128 x 128",
          "input: pooling in the DVS layer, all of it, to <= 2 layers")

#: (kernel, neuron, bias) memory words of cores 0..8: sinabs 3.1.3 chips/dynapcnn.py
#: DynapcnnConfigBuilder.get_constraints (that module imports samna, so the table is copied)
CORES: tuple[tuple[int, int, int], ...] = tuple((k * 1024, n * 1024, 1024) for k, n in zip((16, 16, 16, 32, 32, 64, 64, 16, 16),
                                                                                          (64, 64, 64, 32, 32, 16, 16, 16, 16)))
STATE_MIN = -(2**15)  #: chip's threshold_low for min_v_mem=None (chips/dynapcnn.py)
SENSOR = 128  #: Speck's DVS array is 128 x 128 (sinabs dynapcnn_visualizer.py dvs_shape default)
BOUND = 0.1  #: output spike mismatch fraction against the float model: empirical, measured in docs/hardware-speck.md
_ALIAS = "snn_interop_plugins._sinabs_dynapcnn"
#: the files of sinabs/backend/dynapcnn/ this target loads (with what they import), none importing samna in sinabs 3.1.3
_SAMNA_FREE = ("discretize", "dynapcnn_layer", "mapping", "dvs_layer", "crop2d", "flipdims", "exceptions", "nir_graph_extractor",
               "dynapcnnnetwork_module", "dynapcnn_layer_utils", "sinabs_edges_handler", "connectivity_specs", "utils")


def available() -> str | None:
    return availability("sinabs", "sinabs")


def _dynapcnn(module: str) -> ModuleType:
    """``sinabs.backend.dynapcnn.<module>`` loaded without the package's ``__init__`` (which imports samna).

    The files this target loads are read first: a sinabs whose copies import samna is refused."""
    if _ALIAS not in sys.modules:
        import sinabs

        folder = Path(sinabs.__file__).parent / "backend" / "dynapcnn"
        importing = [f for f in _SAMNA_FREE if re.search(r"^\s*(import|from)\s+samna", (folder / f"{f}.py").read_text(), re.M)]
        if importing:
            raise PluginUnavailable(f"sinabs {dist_version('sinabs')}: {', '.join(importing)} import samna, which this target never imports")
        package = ModuleType(_ALIAS)
        package.__path__ = [str(folder)]
        sys.modules[_ALIAS] = package
    return importlib.import_module(f"{_ALIAS}.{module}")


WEIGHTS = (nir.Conv2d, nir.Linear, nir.Affine)
POOLS = (nir.SumPool2d, nir.AvgPool2d)
STRUCTURE = "weight (Conv2d, Linear) -> IF -> [SumPool2d] per layer, Flatten between"
MERGE = 2  #: inputs a weight layer may sum: sinabs' ``Merge.forward(data1, data2)`` (layers/merge.py, dynapcnnnetwork_module.py)
DESTINATIONS = 2  #: other cores a core sends to: chips/dynapcnn.py's two ``destinations``; exceptions.py ``MaxDestinationsReached``


@dataclass
class _Layer:
    """One DYNAP-CNN layer: a weight node, its IF node, the SumPool2d nodes on its way out."""

    weight: str
    in_shape: tuple[int, int, int]  #: (c, h, w) seen by the weight layer (a Linear's input as (n, 1, 1) or its flattened source)
    neuron: str | None = None
    pools: list[str] = field(default_factory=list)

    @property
    def nodes(self) -> list[str]:
        return [self.weight, *([self.neuron] if self.neuron else []), *self.pools]


def _shape(node: Any, key: str) -> tuple[int, ...] | None:
    types = getattr(node, f"{key}_type", None) or {}
    value = next(iter(types.values()), None) if types else None
    return None if value is None else tuple(int(s) for s in np.asarray(value).ravel())


@dataclass
class _Topology:
    """The graph's nodes in topological order and its edges both ways, Flatten nodes seen through
    (``pred``/``succ``: the nearest non-Flatten nodes; a Flatten only reshapes)."""

    order: list[str]
    edges_in: dict[str, list[str]]
    pred: dict[str, list[str]]
    succ: dict[str, list[str]]


def _topology(graph: nir.NIRGraph) -> tuple[_Topology | None, list[Violation]]:
    """The topology, or violations when the graph has a cycle or nodes off every Input -> Output path."""
    first, last = _io_names(graph)
    edges_in: dict[str, list[str]] = {n: [] for n in graph.nodes}
    edges_out: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for a, b in graph.edges:
        edges_out[a].append(b)
        edges_in[b].append(a)
    try:
        order = list(graphlib.TopologicalSorter(edges_in).static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        return None, [Violation(cycle[0], "graph: feed-forward", "a cycle " + " -> ".join(cycle),
                                "no recurrent edges (sinabs' DynapcnnNetwork orders its layers topologically)")]
    on_path = _reach(first, edges_out) & _reach(last, edges_in)
    bad = [Violation(n, "graph: connected", "off every Input -> Output path", "every node between Input and Output")
           for n in graph.nodes if n not in on_path]

    def through(links: dict[str, list[str]], name: str) -> list[str]:
        return [m for n in links[name] for m in (through(links, n) if isinstance(graph.nodes[n], nir.Flatten) else [n])]
    return _Topology(order, edges_in, {n: through(edges_in, n) for n in graph.nodes}, {n: through(edges_out, n) for n in graph.nodes}), bad


def _reach(start: str, links: dict[str, list[str]]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        if (n := todo.pop()) not in seen:
            seen.add(n)
            todo += links[n]
    return seen


def _node_rules(name: str, node: Any) -> list[Violation]:
    """The rules one node breaks whatever it is fed: bias, conv kernel, dilation, groups and padding, pooling type and shape."""
    bad = []
    bias = getattr(node, "bias", None) if isinstance(node, WEIGHTS) else None
    if bias is not None and np.any(np.asarray(bias) != 0):
        bad.append(Violation(name, "bias", f"max |bias| {np.abs(bias).max():.3g}", "0: the chip adds biases on its slow clock, not per step"))
    if isinstance(node, nir.Conv2d):
        kh, kw = np.asarray(node.weight).shape[2:]
        dh, dw = _ints2(node.dilation)
        for ok, rule, found, limit in [(kh == kw, "conv: square kernel", f"kernel {kh} x {kw}", "k x k (dynapcnn_layer.py)"),
                                       ((dh, dw) == (1, 1), "conv: dilation", f"dilation {(dh, dw)}", "1 (not in the chip's config)"),
                                       (int(node.groups) == 1, "conv: groups", f"groups {int(node.groups)}", "1 (the chip's kernel is dense)"),
                                       (not isinstance(node.padding, str), "conv: padding", f"padding {node.padding!r}",
                                        "numbers (the config holds padding x, y)")]:
            if not ok:
                bad.append(Violation(name, rule, found, limit))
    if isinstance(node, POOLS):
        k, st, p = _ints2(node.kernel_size), _ints2(node.stride), _ints2(node.padding)
        if k[0] != k[1] or st != k or p != (0, 0):
            bad.append(Violation(name, "pooling: shape", f"kernel {k}, stride {st}, padding {p}",
                                 "square kernel, stride = kernel, no padding (dynapcnn_layer_utils.py)"))
    return bad


def _shapes(graph: nir.NIRGraph, top: _Topology) -> tuple[dict[str, tuple[int, ...] | None], dict[str, tuple[int, int, int]], list[Violation]]:
    """Each node's output shape (None where unknown), each weight node's (c, h, w) input, and the
    violations of the rules on what a node is fed: the input's shape, equal shapes summed, a conv's
    or pooling's (c, h, w), a Linear's size, a Flatten's dims."""
    first, _ = _io_names(graph)
    shape: dict[str, tuple[int, ...] | None] = {first: _shape(graph.nodes[first], "input")}
    unflat: dict[str, tuple[int, ...] | None] = {}  # a Flatten's input: a Linear's kernel spans it, as in sinabs
    in_shapes: dict[str, tuple[int, int, int]] = {}
    bad: list[Violation] = []
    s0 = shape[first]
    if s0 is None or len(s0) != 3:
        return shape, in_shapes, [Violation(first, "input", f"shape {s0}", "(channels, height, width)")]
    if not 1 <= s0[0] <= 2 or max(s0[1:]) > SENSOR:
        bad.append(Violation(first, "input", f"shape {s0}", f"1 or 2 channels on at most {SENSOR} x {SENSOR}"))
    for name in top.order:
        node, ins = graph.nodes[name], top.edges_in[name]
        if name == first or isinstance(node, nir.Output):
            continue
        known = {shape.get(p) for p in ins}
        if len(known) > 1 and None not in known:
            bad.append(Violation(name, "graph: merge", f"inputs of shapes {', '.join(map(str, sorted(known)))}",
                                 "equal shapes (the inputs' spikes are summed)"))
        s = known.pop() if len(known) == 1 else None
        shape[name] = None
        if s is None:
            continue
        if isinstance(node, nir.Flatten):
            if (int(node.start_dim), int(node.end_dim)) not in ((0, -1), (0, len(s) - 1)):
                bad.append(Violation(name, "flatten", f"start_dim {int(node.start_dim)}, end_dim {int(node.end_dim)}",
                                     "the whole (c, h, w) into one vector, as before a Linear"))
            unflat[name] = next((unflat[p] for p in ins if p in unflat), s)
            shape[name] = (int(np.prod(s)),)
        elif isinstance(node, WEIGHTS):
            source = next((unflat[p] for p in ins if p in unflat), s)
            in_shapes[name] = tuple(source) if len(source) == 3 else (s[0], 1, 1) if len(s) == 1 else tuple(s)
            w = np.asarray(node.weight)
            if isinstance(node, nir.Conv2d) and len(s) != 3:
                bad.append(Violation(name, "conv: input", f"input shape {s}", "(channels, height, width)"))
            elif isinstance(node, nir.Conv2d):
                if not isinstance(node.padding, str):
                    (sh, sw), (ph, pw) = _ints2(node.stride), _ints2(node.padding)
                    shape[name] = (w.shape[0], _conv_out(s[1], w.shape[2], sh, ph), _conv_out(s[2], w.shape[3], sw, pw))
            elif w.shape[1] != int(np.prod(s)):
                bad.append(Violation(name, "linear: input", f"{w.shape[1]} inputs for shape {s}", "the preceding layer's size"))
            else:
                shape[name] = (w.shape[0],)
        elif isinstance(node, NEURON_NODES):
            shape[name] = s
        elif isinstance(node, POOLS):
            k = _ints2(node.kernel_size)
            if len(s) != 3:
                bad.append(Violation(name, "pooling: input", f"input shape {s}", "(channels, height, width)"))
            else:
                shape[name] = (s[0], s[1] // k[0], s[2] // k[1])
    return shape, in_shapes, bad


def _conv_out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


def _ints2(value: Any) -> tuple[int, int]:
    a, b = np.broadcast_to(np.asarray(value), (2,))
    return int(a), int(b)


def _layers(graph: nir.NIRGraph) -> tuple[list[_Layer], list[Violation]]:
    """Group the graph into DYNAP-CNN layers (topological order), checking its structure, layer
    types, shapes, conv and pooling rules.

    A layer is weight -> IF; its spikes go, each path through at most one SumPool2d (and Flatten),
    to at most 2 other layers' weights or to the Output. A weight layer sums at most 2 inputs of one
    shape (sinabs' ``Merge``); one layer, sending nowhere else, feeds the Output."""
    top, bad = _topology(graph)
    if top is None:
        return [], bad
    first, last = _io_names(graph)
    shape, in_shapes, shape_bad = _shapes(graph, top)
    bad += shape_bad
    if shape[first] is None or len(shape[first]) != 3:
        return [], bad
    kind = {n: "weight" if isinstance(node, WEIGHTS) else "neuron" if isinstance(node, NEURON_NODES) else "pool" if isinstance(node, POOLS)
            else "io" if n in (first, last) else "flatten" if isinstance(node, nir.Flatten) else "other" for n, node in graph.nodes.items()}
    layers: dict[str, _Layer] = {}  # by neuron node
    for name in top.order:
        node, pred, succ = graph.nodes[name], top.pred[name], top.succ[name]
        bad += _node_rules(name, node)
        if kind[name] == "other":
            bad.append(Violation(name, "layer type", type(node).__name__,
                                 "Conv2d, Linear, Affine, IF, SumPool2d, Flatten (the layers a DYNAP-CNN core runs)"))
        elif kind[name] == "weight":
            fed = [p for p in pred if kind[p] not in ("neuron", "pool") and p != first]
            if fed:
                bad.append(Violation(name, "graph: structure", f"{type(node).__name__} fed by {', '.join(map(repr, fed))}, not by spikes", STRUCTURE))
            if len(pred) > 1 and any(p == first or top.pred[p] == [first] for p in pred):
                bad.append(Violation(name, "graph: merge", "the input summed with a layer's spikes",
                                     "two layers' spikes (sinabs' GraphExtractor takes a Merge's arguments from layers: "
                                     "nir_graph_extractor.py _find_merge_arguments)"))
            if len({_rescale(graph, p) for p in pred}) > 1:
                bad.append(Violation(name, "pooling: average", "inputs averaged over different windows, or averaged and not: "
                                     + ", ".join(f"{p!r} x {_rescale(graph, p):g}" for p in pred),
                                     "one factor for all the inputs of a layer: an average pooling is a sum whose 1 / (k k) "
                                     "goes into the weights after it (dynapcnn_layer_utils.py consolidate_layer_scaling)"))
            if len(pred) > MERGE:
                bad.append(Violation(name, "graph: merge", f"{len(pred)} inputs summed ({', '.join(map(repr, pred))})",
                                     f"at most {MERGE} (sinabs' Merge sums two: layers/merge.py, dynapcnnnetwork_module.py)"))
            if [kind[n] for n in succ] != ["neuron"]:
                bad.append(Violation(name, "graph: structure", f"{type(node).__name__} followed by {', '.join(map(repr, succ)) or 'nothing'}",
                                     f"exactly one IF neuron of its own: {STRUCTURE}"))
        elif kind[name] == "neuron":
            if len(pred) > 1:
                bad.append(Violation(name, "graph: merge", f"{len(pred)} inputs summed into a neuron ({', '.join(map(repr, pred))})",
                                     "inputs summed into a weight layer only: a core adds other cores' spikes before its kernel"))
            elif [kind[p] for p in pred] != ["weight"]:
                bad.append(Violation(name, "graph: structure", "a neuron without its own weight layer before it", STRUCTURE))
            else:
                layers[name] = _Layer(pred[0], in_shapes.get(pred[0], (0, 0, 0)), name)
        elif kind[name] == "pool" and pred == [first]:
            bad += _input_pooling(graph, top, name)
        elif kind[name] == "pool":
            if [kind[p] for p in pred] != ["neuron"]:
                bad.append(Violation(name, "graph: structure", "pooling not right after an IF neuron or the input", STRUCTURE))
            elif pred[0] in layers:
                layers[pred[0]].pools.append(name)
            if any(kind[n] not in ("weight", "io") for n in succ):
                bad.append(Violation(name, "graph: structure", f"pooling followed by {', '.join(map(repr, succ))}",
                                     f"one SumPool2d per destination: {STRUCTURE}"))
            if isinstance(node, nir.AvgPool2d) and last in succ:
                bad.append(Violation(name, "pooling: average", "an average pooling feeds the output",
                                     "a sum pooling, or an average into a weight layer (the chip sums; the 1 / (k k) goes into "
                                     "the next layer's weights, as sinabs' rescale_weights)"))
    bad += _destinations(graph, top, kind, layers)
    return list(layers.values()), bad


def _rescale(graph: nir.NIRGraph, node: str) -> float:
    """What a weight layer fed by ``node`` multiplies its weights by: 1 / (k_h k_w) after an average
    pooling (the chip sums), else 1."""
    pool = graph.nodes[node]
    return 1.0 / float(np.prod(_ints2(pool.kernel_size))) if isinstance(pool, nir.AvgPool2d) else 1.0


def _input_pooling(graph: nir.NIRGraph, top: _Topology, pool: str) -> list[Violation]:
    """The rules on pooling the input, which the DVS layer does (sinabs ``DVSLayer``, one
    ``pool_layer``): all the input through this one pooling, to at most 2 layers, none of it the output."""
    first, last = _io_names(graph)
    bad = []
    if top.succ[first] != [pool]:
        bad.append(Violation(pool, "input: pooling", f"the input also goes to {', '.join(repr(n) for n in top.succ[first] if n != pool)}",
                             "all the input through one pooling: the DVS layer's (dvs_layer.py, one pool_layer)"))
    if last in top.succ[pool] or any(not isinstance(graph.nodes[n], WEIGHTS) for n in top.succ[pool] if n != last):
        bad.append(Violation(pool, "graph: structure", f"the pooled input goes to {', '.join(map(repr, top.succ[pool]))}",
                             f"weight layers: {STRUCTURE}"))
    if len(top.succ[pool]) > DESTINATIONS:
        bad.append(Violation(pool, "graph: destinations", f"the pooled input sent to {len(top.succ[pool])} layers "
                             f"({', '.join(map(repr, top.succ[pool]))})", f"at most {DESTINATIONS} (the DVS layer's destinations)"))
    return bad


def _dvs_pool(graph: nir.NIRGraph, top: _Topology) -> str | None:
    """The pooling node right after the input, which sinabs puts in its DVS layer, if any."""
    first, _ = _io_names(graph)
    return next((n for n in top.succ[first] if isinstance(graph.nodes[n], POOLS)), None)


def _destinations(graph: nir.NIRGraph, top: _Topology, kind: dict[str, str], layers: dict[str, _Layer]) -> list[Violation]:
    """The rules on where spikes go: at most 2 destinations per layer; one layer feeds the Output and no other layer."""
    _, last = _io_names(graph)
    bad = []
    exits = [n for p in top.pred[last] for n in ([p] if kind[p] == "neuron" else top.pred[p] if kind[p] == "pool" else [])
             if kind[n] == "neuron"]
    for p in top.pred[last]:
        if kind[p] not in ("neuron", "pool"):
            bad.append(Violation(p, "graph: structure", f"{type(graph.nodes[p]).__name__} feeds the output", "an IF layer's spikes (after its pooling)"))
    if len(exits) > 1:
        bad.append(Violation(last, "graph: output", f"fed by {len(exits)} paths ({', '.join(map(repr, top.pred[last]))})",
                             "one layer's spikes: the chip's output is one layer's events, not a sum"))
    for neuron in layers:
        dests = [d for s in top.succ[neuron] for d in (top.succ[s] if kind[s] == "pool" else [s]) if d != last]
        if len(dests) > DESTINATIONS:
            bad.append(Violation(neuron, "graph: destinations", f"spikes sent to {len(dests)} layers ({', '.join(map(repr, dests))})",
                                 f"at most {DESTINATIONS} per core (chips/dynapcnn.py: two destinations; exceptions.py MaxDestinationsReached)"))
        if neuron in exits and dests:
            bad.append(Violation(neuron, "graph: output", f"the output layer also sends to {', '.join(map(repr, dests))}",
                                 "the output layer sends to no other layer (sinabs reads the layers with no destination: "
                                 "sinabs_edges_handler.py set_exit_destinations)"))
    return bad


def _neuron_rules(name: str, n: Neuron) -> list[Violation]:
    rules = [
        (n.model is Model.IF, "neuron: IF", f"{n.model.value} neuron", "IF: the cores integrate without leak (no decay in the config)"),
        (uniform(n.threshold), "threshold: one per layer", "per-neuron thresholds", "one threshold_high per core"),
        (uniform(n.input_gain), "input gain: one per layer", "per-neuron input gains", "one value, folded into the weights"),
        (not [p for p in n.per_neuron if p not in ("threshold", "r")], "parameters: one per layer",
         f"per-neuron {', '.join(n.per_neuron)}", "one value per core"),
        (n.reset in (ResetMode.SUBTRACT, ResetMode.TO_VALUE) and (n.reset is not ResetMode.TO_VALUE or n.v_reset == 0.0),
         "reset: subtract or to 0", f"reset {n.reset.value}" + (f" to {n.v_reset}" if n.reset is ResetMode.TO_VALUE else ""),
         "subtract threshold_high, or return_to_zero"),
        (n.reset_timing is ResetTiming.SAME_STEP, "reset: same step", f"reset {n.reset_timing.value}", "the spike resets at once"),
        (n.compare is Compare.GE or n.reset is not ResetMode.SUBTRACT, "compare: > needs reset to 0", "v > threshold with reset by subtraction",
         "v >= threshold_high; v > theta is threshold_high = theta + 1 only with reset to 0"),
        (n.spike_fn in (SpikeFn.SINGLE, SpikeFn.MULTI), "spike function", f"{n.spike_fn.value}", "single or multiple spikes per step"),
        (n.v_leak == 0.0 and n.v_init == 0.0, "v_leak, v_init", f"v_leak {n.v_leak}, v_init {n.v_init}", "0"),
    ]
    return [Violation(name, rule, found, limit) for ok, rule, found, limit in rules if not ok]


def _memory(conv: nn.Conv2d, in_shape: tuple[int, int, int]) -> dict[str, int]:
    """sinabs' ``DynapcnnLayer.memory_summary`` of one layer (kernel, neuron, bias words)."""
    layer = _dynapcnn("dynapcnn_layer").DynapcnnLayer(conv, _iaf(1.0, STATE_MIN, ResetMode.SUBTRACT, SpikeFn.MULTI), in_shape, [[1, 1]],
                                                      discretize=False)
    return {k: int(v) for k, v in layer.memory_summary().items()}


def _iaf(threshold: float, v_min: float, reset: ResetMode, spike_fn: SpikeFn) -> nn.Module:
    import sinabs.layers as sl
    from sinabs import activation

    return sl.IAFSqueeze(spike_threshold=torch.tensor(float(threshold)), min_v_mem=torch.tensor(float(v_min)), batch_size=1,
                         spike_fn=activation.SingleSpike if spike_fn is SpikeFn.SINGLE else activation.MultiSpike,
                         reset_fn=activation.MembraneSubtract() if reset is ResetMode.SUBTRACT else activation.MembraneReset(0.0))


def _as_conv(node: Any, in_shape: tuple[int, int, int], weight: torch.Tensor) -> nn.Conv2d:
    """The layer's Conv2d as the chip holds it (a Linear becomes a kernel over its whole input, as sinabs' convert_linear_to_conv)."""
    if isinstance(node, nir.Conv2d):
        conv = nn.Conv2d(in_shape[0], weight.shape[0], tuple(weight.shape[2:]), stride=_ints2(node.stride), padding=_ints2(node.padding), bias=False)
    else:
        conv = nn.Conv2d(in_shape[0], weight.shape[0], in_shape[1:], bias=False)
        weight = weight.reshape(weight.shape[0], *in_shape)
    with torch.no_grad():
        conv.weight.copy_(weight)
    return conv


def _mapping(layers: dict[int, Any]) -> dict[int, int] | None:
    """Layer index -> core for sinabs ``DynapcnnLayer`` s by sinabs' own bipartite matching (mapping.py), or None when none exists."""
    mapping = _dynapcnn("mapping")
    try:
        return {int(k): int(v) for k, v in mapping.get_valid_mapping(layers, [mapping.LayerConstraints(*c) for c in CORES]).items()}
    except ValueError:
        return None


def check(graph: nir.NIRGraph) -> list[Violation]:
    """Every DYNAP-CNN design rule ``graph`` breaks (see the module docstring for each limit's source)."""
    check_graph(graph)
    graph = flatten(graph)
    layers, bad = _layers(graph)
    for layer in layers:
        if layer.neuron is not None:
            try:
                bad += _neuron_rules(layer.neuron, neuron_from_node(graph.nodes[layer.neuron]))
            except SpecError as exc:
                bad.append(Violation(layer.neuron, "neuron", str(exc), "a NIR neuron node"))
    if bad:
        return bad
    if len(layers) > len(CORES):
        return [Violation("graph", "cores", f"{len(layers)} layers", f"{len(CORES)} cores, one layer each")]
    convs = []
    for layer in layers:
        node = graph.nodes[layer.weight]
        conv = _as_conv(node, layer.in_shape, torch.as_tensor(np.asarray(node.weight, dtype=np.float32)))
        used = _memory(conv, layer.in_shape)
        fits = [i for i, c in enumerate(CORES) if all(u <= m for u, m in zip(used.values(), c))]
        if not fits:
            bad.append(Violation(layer.weight, "memory", f"kernel {used['kernel']}, neuron {used['neuron']}, bias {used['bias']} words",
                                 f"a core's (kernel, neuron, bias) words: {sorted(set(CORES))}"))
        convs.append((conv, layer.in_shape))
    layer_mod = _dynapcnn("dynapcnn_layer")
    if not bad and _mapping({i: layer_mod.DynapcnnLayer(conv, _iaf(1.0, STATE_MIN, ResetMode.SUBTRACT, SpikeFn.MULTI), shape, [[1, 1]],
                                                        discretize=False) for i, (conv, shape) in enumerate(convs)}) is None:
        bad.append(Violation("graph", "cores", f"{len(layers)} layers have no assignment to distinct cores",
                             "each layer on its own core with enough memory (mapping.py get_valid_mapping)"))
    return bad


@dataclass
class SpeckDeployment:
    """The discretised sinabs model (integer-valued parameters) and its per-layer figures."""

    model: nn.Module  #: nn.Sequential for a chain, else a torch.fx GraphModule with a sinabs Merge where two inputs meet
    input_shape: tuple[int, int, int]
    layers: list[dict[str, Any]]  #: in the order of sinabs' DynapcnnNetwork layer indices
    cores: dict[int, int]
    #: per weight node, the weights the chip applies in the graph's units: W / (s g)
    applied: dict[str, np.ndarray] = field(default_factory=dict)
    #: the DVS layer, where the input is pooled: {"node": the NIR pooling node, "pooling", "destinations"}
    dvs: dict[str, Any] | None = None
    #: module name in ``model`` -> the NIR node it computes
    modules: dict[str, str] = field(default_factory=dict)
    simulator: str = field(default_factory=lambda: f"sinabs {dist_version('sinabs')} time-stepped forward of the discretised model (float64)")
    bound: dict[str, float] = field(default_factory=lambda: {"mismatch_fraction": BOUND})

    def save(self, out: Path) -> list[Path]:
        """``speck_model.pt`` (``torch.save`` of the model: Conv2d / Flatten / Linear, IAFSqueeze,
        SumPool2d, Merge, integer-valued) and ``speck_layers.json`` (scales, thresholds, destinations, cores)."""
        model_path, meta_path = out / "speck_model.pt", out / "speck_layers.json"
        torch.save(self.model, model_path)
        meta = {"chip": CHIP, "sinabs": dist_version("sinabs"), "input_shape": list(self.input_shape), "dvs_input": self.dvs is not None,
                "layer_to_core": {str(k): v for k, v in self.cores.items()}, "layers": self.layers, "dvs": self.dvs}
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
        return [model_path, meta_path]

    def simulate(self, x: torch.Tensor) -> torch.Tensor:
        """Output spikes ``[T, B, ...]`` of the discretised model on ``x`` ``[T, B, c, h, w]``."""
        return run(self.model, x)

    def layer_spikes(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each IF layer's spikes ``[T, B, ...]`` in the discretised model on ``x``, by NIR neuron node."""
        import sinabs.layers as sl

        neurons = {name: node for name, node in self.modules.items() if isinstance(self.model.get_submodule(name), sl.IAFSqueeze)}
        return _run(self.model, x, neurons)[1]

    def chip_weights(self, graph: nir.NIRGraph) -> nir.NIRGraph:
        """``graph`` (the one built) with each layer's weights replaced by the chip's, W / (s g)."""
        return with_weights(graph, self.applied)

    def figures(self) -> dict[str, Any]:
        """Bit widths, the largest errors, and per layer: scale s, max |W / s - w'|, |threshold_high / s - theta|."""
        per_layer = {key: [layer[key] for layer in self.layers] for key in ("scale", "max_weight_error", "threshold_error")}
        return {"weight_bits": 8, "state_bits": 16, "max_weight_error": max(per_layer["max_weight_error"]),
                "max_threshold_error": max(per_layer["threshold_error"]), "scales": per_layer["scale"],
                "weight_errors": per_layer["max_weight_error"], "threshold_errors": per_layer["threshold_error"],
                "layer_to_core": dict(self.cores)}


class _Float64(torch.fx.Interpreter):
    """Runs a GraphModule casting every module's output to float64 (sinabs' spike functions return float32)."""

    def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
        return super().call_module(target, args, kwargs).to(torch.float64)


def run(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A chip-form sinabs model (IAFSqueeze layers; nn.Sequential or GraphModule) on time-major ``x`` ``[T, B, ...]`` in float64."""
    return _run(model, x, {})[0]


def _run(model: nn.Module, x: torch.Tensor, watch: dict[str, str]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """:func:`run`, and the outputs of the modules ``watch`` names (module name -> key), time-major."""
    import sinabs.layers as sl

    steps, batch = x.shape[:2]
    model = copy.deepcopy(model).double()
    for m in model.modules():
        if isinstance(m, sl.IAFSqueeze):
            m.batch_size, m.num_timesteps = batch, -1
            m.reset_states()

    def time_major(v: torch.Tensor) -> torch.Tensor:
        return v.to(torch.float64).reshape(batch, steps, *v.shape[1:]).transpose(0, 1)
    seen: dict[str, torch.Tensor] = {}
    hooks = [model.get_submodule(name).register_forward_hook(lambda m, i, out, key=key: seen.__setitem__(key, time_major(out)))
             for name, key in watch.items()]
    y = x.to(torch.float64).transpose(0, 1).reshape(batch * steps, *x.shape[2:])
    try:
        with torch.no_grad():
            if isinstance(model, torch.fx.GraphModule):
                y = _Float64(model).run(y)
            else:
                for m in model:
                    y = m(y).to(torch.float64)  # sinabs' spike functions return float32 (exact integers)
    finally:
        for h in hooks:
            h.remove()
    return time_major(y), seen


def _attribute(name: str, taken: dict[str, Any]) -> str:
    """A module attribute name for NIR node ``name``, free in ``taken`` (also with ``_merge`` appended)."""
    base = re.sub(r"\W", "_", name)
    base = base if base[:1].isalpha() else f"n_{base}"
    while base in taken or f"{base}_merge" in taken:
        base += "_"
    return base


def _torch_model(graph: nir.NIRGraph, top: _Topology, modules: dict[str, nn.Module]) -> tuple[nn.Module, dict[str, str]]:
    """The chip-form model from one module per node, and module name -> NIR node: an nn.Sequential for
    a chain, else a torch.fx GraphModule calling a sinabs ``Merge`` on the two inputs of a node fed twice
    (what sinabs' DynapcnnNetwork takes for a graph: it traces module calls, Merge among them).

    A neuron with a pooled and an unpooled destination gets a ``SumPool2d(1)`` (pooling 1 on the chip,
    the identity) on the unpooled one: sinabs 3.1.3's ``set_pooling_layer_destination``
    (sinabs_edges_handler.py) raises IndexError on a layer whose unpooled destination comes first."""
    import sinabs.layers as sl

    first, last = _io_names(graph)
    order = [n for n in top.order if n not in (first, last)]
    if all(len(top.edges_in[n]) == 1 for n in [*order, last]):
        return nn.Sequential(*(modules[n] for n in order)), {str(i): n for i, n in enumerate(order)}
    fx = torch.fx.Graph()
    root: dict[str, nn.Module] = {}
    names: dict[str, str] = {}
    value = {first: fx.placeholder("x")}
    pooled = {p for n in order if isinstance(graph.nodes[n], POOLS) for p in top.edges_in[n]}
    unpooled: dict[str, torch.fx.Node] = {}  # a SumPool2d(1) for the unpooled way out of a neuron that also pools

    def arg(source: str, reader: str) -> torch.fx.Node:
        if source not in pooled or isinstance(graph.nodes[reader], POOLS):
            return value[source]
        if source not in unpooled:
            attr = _attribute(f"{source}_pool1", root)
            root[attr] = sl.SumPool2d(1)
            unpooled[source] = fx.call_module(attr, (value[source],))
        return unpooled[source]
    for n in order:
        attr = _attribute(n, root)
        args = tuple(arg(p, n) for p in top.edges_in[n])
        if len(args) > 1:
            root[f"{attr}_merge"] = sl.Merge()
            args = (fx.call_module(f"{attr}_merge", args),)
        root[attr], names[attr] = modules[n], n
        value[n] = fx.call_module(attr, args)
    fx.output(value[top.edges_in[last][0]])
    return torch.fx.GraphModule(root, fx, class_name="SpeckGraph"), names


def network(model: nn.Module, input_shape: tuple[int, int, int], dvs_input: bool = False) -> tuple[Any, dict[int, str]]:
    """sinabs' own ``DynapcnnNetworkModule`` of a chip-form ``model``: what ``DynapcnnNetwork(model,
    input_shape, dvs_input=dvs_input, discretize=False)`` builds (dynapcnn_network.py, whose samna
    import is skipped: its GraphExtractor, the layer grouping, topological indices; with
    ``dvs_input``, a DVS layer that takes a pooling of the input), and each layer index's weight module name."""
    extractor_mod, utils = _dynapcnn("nir_graph_extractor"), _dynapcnn("utils")
    extractor = extractor_mod.GraphExtractor(copy.deepcopy(model).float(), torch.zeros(1, *input_shape), dvs_input,
                                             ignore_node_types=utils.COMPLETELY_IGNORED_LAYER_TYPES)
    extractor.remove_nodes_by_class(utils.IGNORED_LAYER_TYPES)
    net = extractor.get_dynapcnn_network_module(discretize=False)
    net.setup_dynapcnnlayer_graph()
    order = net.sorted_nodes
    net.reindex_layers(order)  # DynapcnnNetwork's index_layers_topologically=True
    module = {i: n for n, i in extractor.name_2_indx_map.items()}
    return net, {order.index(old): module[entry["conv"]["node_id"]] for old, entry in extractor.dcnnl_info.items()}


def build(graph: nir.NIRGraph) -> SpeckDeployment:
    """Discretise a graph that passed :func:`check` into a DYNAP-CNN-form sinabs model.

    Per layer: w' = w g (g the IF input gain), s = min(s_w(w'), s_v(min(v_min, -theta), theta)) by
    sinabs' ``determine_discretization_scale`` (8 and 16 bits), W = round(w' s),
    threshold_high = round(theta s) (+1 for v > theta), threshold_low = round(v_min s) or -2^15.
    Layer indices, destinations and cores are sinabs' own (:func:`network`, ``get_valid_mapping``).
    """
    import sinabs.layers as sl

    disc = _dynapcnn("discretize")
    graph = flatten(graph)
    layers, _ = _layers(graph)
    top, _ = _topology(graph)
    assert top is not None  # check() passed: no cycle
    modules: dict[str, nn.Module] = {}
    info, applied = {}, {}
    for layer in layers:
        node, neuron = graph.nodes[layer.weight], neuron_from_node(graph.nodes[layer.neuron])
        gain = float(values(neuron.input_gain).ravel()[0])
        rescale = _rescale(graph, top.pred[layer.weight][0])  # one for all its inputs (check): 1 / (k k) after an average
        weight = torch.as_tensor(np.asarray(node.weight, dtype=np.float64)) * gain * rescale
        theta = float(values(neuron.threshold).ravel()[0])
        strict = neuron.compare is Compare.GT
        low = -theta if neuron.v_min is None else min(float(neuron.v_min), -theta)
        scale = min(float(disc.determine_discretization_scale(weight, disc.DYNAPCNN_WEIGHT_PRECISION_BITS)),
                    float(disc.determine_discretization_scale(torch.tensor([low, theta * (1 + strict / 2**15)]),
                                                              disc.DYNAPCNN_STATE_PRECISION_BITS)))
        w_int = disc.discretize_tensor(weight, scale, to_int=False)
        applied[layer.weight] = (w_int / (scale * gain * rescale)).numpy()
        t_int = float(round(theta * scale))
        v_min = float(STATE_MIN if neuron.v_min is None else round(neuron.v_min * scale))
        if isinstance(node, nir.Conv2d):
            conv = nn.Conv2d(w_int.shape[1], w_int.shape[0], tuple(w_int.shape[2:]), stride=_ints2(node.stride),
                             padding=_ints2(node.padding), bias=False)
        else:
            conv = nn.Linear(w_int.shape[1], w_int.shape[0], bias=False)
        with torch.no_grad():
            conv.weight.copy_(w_int.to(torch.float32))
        modules[layer.weight], modules[layer.neuron] = conv, _iaf(t_int + strict, v_min, neuron.reset, neuron.spike_fn)
        info[layer.weight] = {"nodes": layer.nodes, "scale": scale, "threshold": theta, "threshold_high": int(t_int + strict),
                              "threshold_low": int(v_min), "return_to_zero": neuron.reset is ResetMode.TO_VALUE,
                              "max_abs_weight": int(w_int.abs().max()), "max_weight_error": float((w_int / scale - weight).abs().max()),
                              "max_weight_error_rel": float((w_int / scale - weight).abs().max() / weight.abs().max()),
                              "threshold_error": abs(t_int / scale - theta), "rescale": rescale}
    for name in top.order:
        if isinstance(graph.nodes[name], nir.Flatten):
            modules[name] = nn.Flatten()
        elif isinstance(graph.nodes[name], POOLS):  # an average as the chip's sum, its 1 / (k k) in the weights after it
            modules[name] = sl.SumPool2d(_ints2(graph.nodes[name].kernel_size)[0])
    model, names = _torch_model(graph, top, modules)
    shape = _shape(graph.nodes[_io_names(graph)[0]], "input")
    dvs = _dvs_pool(graph, top)
    try:
        net, weights = network(model, shape, dvs is not None)
    except Exception as exc:  # noqa: BLE001 - sinabs' own reading of the model; anything it raises is a rule check() missed
        raise ConstraintViolation(NAME, CHIP, [Violation("graph", "sinabs DynapcnnNetwork", f"{type(exc).__name__}: {exc}",
                                                         "a model sinabs' GraphExtractor maps to DYNAP-CNN layers")]) from exc
    table = [{"index": i, **info[names[weights[i]]], "destinations": [int(d) for d in net.destination_map[i]],
              "pooling": [_ints2(p)[0] for p in layer.pool], "memory": {k: int(v) for k, v in layer.memory_summary().items()}}
             for i, layer in net.dynapcnn_layers.items()]
    dvs_layer = None if dvs is None else {"node": dvs, "pooling": _ints2(net.dvs_layer.pool_layer.kernel_size)[0],
                                          "destinations": [int(d) for d in net.destination_map["dvs"]]}
    return SpeckDeployment(model, shape, table, _mapping(net.dynapcnn_layers) or {}, applied, dvs_layer, names)


def load(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The discretised model and the layer table a :class:`SpeckDeployment` saved into directory ``path``."""
    path = Path(path)
    return torch.load(path / "speck_model.pt", weights_only=False), json.loads((path / "speck_layers.json").read_text())
