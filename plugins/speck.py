"""Speck / DYNAP-CNN through sinabs 3.1.3: design rules, discretisation, layer -> core mapping.

``import sinabs.backend.dynapcnn`` imports ``samna`` (its ``__init__`` pulls in
``dynapcnn_network.py`` and ``chips/``), and the PyPI ``samna`` runs pip when imported. This
target never imports that package: :func:`_dynapcnn` loads the samna-free files of its
directory (``discretize.py``, ``dynapcnn_layer.py``, ``mapping.py`` with ``dvs_layer.py``,
``crop2d.py``, ``flipdims.py``, ``exceptions.py``) under a private package name, so their code
runs unchanged. The chip's memory table (``chips/dynapcnn.py``,
``DynapcnnConfigBuilder.get_constraints``) sits in a module that imports samna; it is copied
into :data:`CORES` below.

Rules checked (each limit's source, files under ``sinabs/backend/dynapcnn/``):

* graph: a chain of layers, each a weight layer (Conv2d, Linear/Affine), an IF neuron
  (``IAFSqueeze``), optionally one SumPool2d; Flatten between (``exceptions.py``
  ``default_invalid_structure_string``; ``dynapcnn_layer.py`` ``DynapcnnLayer``: IAFSqueeze only).
  Branching (two destinations per core) is not handled by this target.
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
* pooling: SumPool2d (AvgPool is only emulated by sinabs by rescaling weights), square, stride
  = kernel, no padding (``dynapcnn_layer_utils.py`` ``extract_pooling_from_module``), one per
  layer (one pooling value per destination, ``chips/dynapcnn.py``).
* memory: each layer fits a core, K = c 2^(ceil log2(k_y k_x) + ceil log2 f) kernel words,
  N = f 2^(ceil log2 h + ceil log2 w) neurons, bias <= 1024 (``DynapcnnLayer.memory_summary``,
  :data:`CORES`), and all layers fit distinct cores at once (``mapping.py``
  ``get_valid_mapping``, 9 cores).
* input: (channels, height, width) with 1 or 2 channels on at most 128 x 128
  (``dvs_layer.py``: 1 or 2 channels; ``dynapcnn_visualizer.py``: the 128 x 128 sensor).

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
from snn_interop.hardware import Violation
from snn_interop.nir.graph import _io_names, check_graph, flatten, with_weights
from snn_interop.nir.neurons import NEURON_NODES, neuron_from_node
from snn_interop.spec.neurons import Compare, Model, Neuron, ResetMode, ResetTiming, SpikeFn, uniform, values
from snn_interop.spec.schema import SpecError
from snn_interop_plugins._common import availability, dist_version

NAME = "speck"
CHIP = "Speck / DYNAP-CNN"
TOOLCHAIN = "sinabs"
EXTRA = "sinabs"
CHECKS = ("graph: chain of weight -> IF -> [SumPool2d] layers", "neuron: IF (no leak)", "threshold: one per layer",
          "input gain: one per layer", "reset: subtract or to 0, same step", "compare: > needs reset to 0",
          "bias: zero", "conv: square kernel, dilation 1, groups 1", "pooling: SumPool2d, square, stride = kernel, no padding",
          "memory: kernel, neuron and bias words per core", "cores: 9, one layer each", "input: 1-2 channels, <= 128 x 128")

#: (kernel, neuron, bias) memory words of cores 0..8: sinabs 3.1.3 chips/dynapcnn.py
#: DynapcnnConfigBuilder.get_constraints (that module imports samna, so the table is copied)
CORES: tuple[tuple[int, int, int], ...] = tuple((k * 1024, n * 1024, 1024) for k, n in zip((16, 16, 16, 32, 32, 64, 64, 16, 16),
                                                                                          (64, 64, 64, 32, 32, 16, 16, 16, 16)))
STATE_MIN = -(2**15)  #: chip's threshold_low for min_v_mem=None (chips/dynapcnn.py)
SENSOR = 128  #: Speck's DVS array is 128 x 128 (sinabs dynapcnn_visualizer.py dvs_shape default)
BOUND = 0.1  #: output spike mismatch fraction against the float model: empirical, measured in docs/hardware-speck.md
_ALIAS = "snn_interop_plugins._sinabs_dynapcnn"
#: the files of sinabs/backend/dynapcnn/ this target loads (with what they import), none importing samna in sinabs 3.1.3
_SAMNA_FREE = ("discretize", "dynapcnn_layer", "mapping", "dvs_layer", "crop2d", "flipdims", "exceptions")


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


@dataclass
class _Layer:
    """One DYNAP-CNN layer: weight node -> IF node -> optional SumPool2d node."""

    weight: str
    in_shape: tuple[int, int, int]  #: (c, h, w) seen by the weight layer (a Linear's input as (n, 1, 1) or its flattened source)
    flatten: bool = False  #: a Flatten precedes the weight layer
    neuron: str | None = None
    pool: str | None = None
    pool_size: int = 1

    @property
    def nodes(self) -> list[str]:
        return [n for n in (self.weight, self.neuron, self.pool) if n is not None]


def _shape(node: Any, key: str) -> tuple[int, ...] | None:
    types = getattr(node, f"{key}_type", None) or {}
    value = next(iter(types.values()), None) if types else None
    return None if value is None else tuple(int(s) for s in np.asarray(value).ravel())


def _chain(graph: nir.NIRGraph) -> tuple[list[str], list[Violation]]:
    """The node names from Input to Output, or a violation when the graph is not a chain."""
    first, last = _io_names(graph)
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
    order, node = [], first
    while node != last:
        nxt = succ.get(node, [])
        if len(nxt) != 1 or nxt[0] in order:
            found = f"{len(nxt)} successors" if len(nxt) != 1 else f"a cycle through {nxt[0]!r}"
            return order, [Violation(node, "graph: chain", found, "one successor per node (branching is not handled by this target)")]
        order.append(node)
        node = nxt[0]
    if len(order) + 1 != len(graph.nodes):
        return order, [Violation("graph", "graph: chain", f"{len(graph.nodes) - len(order) - 1} nodes off the Input -> Output path",
                                 "every node on one path")]
    return order[1:], []


def _conv_out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


def _ints2(value: Any) -> tuple[int, int]:
    a, b = np.broadcast_to(np.asarray(value), (2,))
    return int(a), int(b)


def _layers(graph: nir.NIRGraph) -> tuple[list[_Layer], list[Violation]]:
    """Group the chain into layers, checking structure, layer types, conv and pooling rules."""
    order, bad = _chain(graph)
    if bad:
        return [], bad
    node_in = graph.nodes[_io_names(graph)[0]]
    shape = _shape(node_in, "input")
    if shape is None or len(shape) != 3:
        return [], [Violation(_io_names(graph)[0], "input", f"shape {shape}", "(channels, height, width)")]
    if not 1 <= shape[0] <= 2 or max(shape[1:]) > SENSOR:
        bad.append(Violation(_io_names(graph)[0], "input", f"shape {shape}", f"1 or 2 channels on at most {SENSOR} x {SENSOR}"))
    layers: list[_Layer] = []
    flat, unflat = False, shape  # unflat: the shape before the last Flatten (a Linear's kernel spans it, as in sinabs)
    structure = "weight (Conv2d, Linear) -> IF -> [SumPool2d] per layer, Flatten between"
    for name in order:
        node = graph.nodes[name]
        current = layers[-1] if layers else None
        if isinstance(node, nir.Flatten):
            if (int(node.start_dim), int(node.end_dim)) not in ((0, -1), (0, len(shape) - 1)):
                bad.append(Violation(name, "flatten", f"start_dim {int(node.start_dim)}, end_dim {int(node.end_dim)}",
                                     "the whole (c, h, w) into one vector, as before a Linear"))
            flat, unflat = True, shape
            shape = (int(np.prod(shape)),)
        elif isinstance(node, (nir.Conv2d, nir.Linear, nir.Affine)):
            if current is not None and current.neuron is None:
                bad.append(Violation(name, "graph: structure", f"{type(node).__name__} after {current.weight!r} without a neuron", structure))
            bias = getattr(node, "bias", None)
            if bias is not None and np.any(np.asarray(bias) != 0):
                bad.append(Violation(name, "bias", f"max |bias| {np.abs(bias).max():.3g}", "0: the chip adds biases on its slow clock, not per step"))
            in_shape = tuple(unflat) if flat and len(unflat) == 3 else (shape[0], 1, 1) if len(shape) == 1 else tuple(shape)
            if isinstance(node, nir.Conv2d):
                if len(shape) != 3:
                    bad.append(Violation(name, "conv: input", f"input shape {shape}", "(channels, height, width)"))
                    return layers, bad
                w = np.asarray(node.weight)
                kh, kw = w.shape[2:]
                (sh, sw), (dh, dw) = _ints2(node.stride), _ints2(node.dilation)
                if isinstance(node.padding, str):
                    bad.append(Violation(name, "conv: padding", f"padding {node.padding!r}", "numbers (the config holds padding x, y)"))
                    return layers, bad
                ph, pw = _ints2(node.padding)
                for ok, rule, found, limit in [(kh == kw, "conv: square kernel", f"kernel {kh} x {kw}", "k x k (dynapcnn_layer.py)"),
                                               ((dh, dw) == (1, 1), "conv: dilation", f"dilation {(dh, dw)}", "1 (not in the chip's config)"),
                                               (int(node.groups) == 1, "conv: groups", f"groups {int(node.groups)}", "1 (the chip's kernel is dense)")]:
                    if not ok:
                        bad.append(Violation(name, rule, found, limit))
                shape = (w.shape[0], _conv_out(shape[1], kh, sh, ph), _conv_out(shape[2], kw, sw, pw))
            else:
                w = np.asarray(node.weight)
                if w.shape[1] != int(np.prod(shape)):
                    bad.append(Violation(name, "linear: input", f"{w.shape[1]} inputs for shape {shape}", "the preceding layer's size"))
                    return layers, bad
                shape = (w.shape[0],)
            layers.append(_Layer(name, in_shape, flat))
            flat = False
        elif isinstance(node, NEURON_NODES):
            if current is None or current.neuron is not None:
                bad.append(Violation(name, "graph: structure", "a neuron without its own weight layer before it", structure))
                continue
            current.neuron = name
        elif isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
            k, s, p = _ints2(node.kernel_size), _ints2(node.stride), _ints2(node.padding)
            if isinstance(node, nir.AvgPool2d):
                bad.append(Violation(name, "pooling: SumPool2d", "AvgPool2d", "SumPool2d (the chip sums; sinabs only emulates averages by rescaling weights)"))
            if current is None or current.neuron is None or current.pool is not None or flat:
                bad.append(Violation(name, "graph: structure", "pooling not right after an IF neuron", structure))
            if k[0] != k[1] or s != k or p != (0, 0):
                bad.append(Violation(name, "pooling: shape", f"kernel {k}, stride {s}, padding {p}",
                                     "square kernel, stride = kernel, no padding (dynapcnn_layer_utils.py)"))
            if current is not None and current.pool is None:
                current.pool, current.pool_size = name, k[0]
            if len(shape) != 3:
                bad.append(Violation(name, "pooling: input", f"input shape {shape}", "(channels, height, width)"))
                return layers, bad
            shape = (shape[0], shape[1] // k[0], shape[2] // k[1])
        else:
            bad.append(Violation(name, "layer type", type(node).__name__,
                                 "Conv2d, Linear, Affine, IF, SumPool2d, Flatten (the layers a DYNAP-CNN core runs)"))
    if layers and layers[-1].neuron is None:
        bad.append(Violation(layers[-1].weight, "graph: structure", "a weight layer without an IF neuron after it", structure))
    return layers, bad


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


def _mapping(convs: list[tuple[nn.Conv2d, tuple[int, int, int]]]) -> dict[int, int] | None:
    """Layer index -> core by sinabs' own bipartite matching (mapping.py), or None when none exists."""
    mapping, layer_mod = _dynapcnn("mapping"), _dynapcnn("dynapcnn_layer")
    constraints = [mapping.LayerConstraints(*c) for c in CORES]
    layers = {i: layer_mod.DynapcnnLayer(conv, _iaf(1.0, STATE_MIN, ResetMode.SUBTRACT, SpikeFn.MULTI), shape, [[1, 1]], discretize=False)
              for i, (conv, shape) in enumerate(convs)}
    try:
        return {int(k): int(v) for k, v in mapping.get_valid_mapping(layers, constraints).items()}
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
    if not bad and _mapping(convs) is None:
        bad.append(Violation("graph", "cores", f"{len(layers)} layers have no assignment to distinct cores",
                             "each layer on its own core with enough memory (mapping.py get_valid_mapping)"))
    return bad


@dataclass
class SpeckDeployment:
    """The discretised sinabs model (integer-valued parameters) and its per-layer figures."""

    model: nn.Sequential
    input_shape: tuple[int, int, int]
    layers: list[dict[str, Any]]
    cores: dict[int, int]
    #: per weight node, the weights the chip applies in the graph's units: W / (s g)
    applied: dict[str, np.ndarray] = field(default_factory=dict)
    simulator: str = field(default_factory=lambda: f"sinabs {dist_version('sinabs')} time-stepped forward of the discretised model (float64)")
    bound: dict[str, float] = field(default_factory=lambda: {"mismatch_fraction": BOUND})

    def save(self, out: Path) -> list[Path]:
        """``speck_model.pt`` (``torch.save`` of the nn.Sequential: Conv2d / Flatten / Linear,
        IAFSqueeze, SumPool2d, integer-valued) and ``speck_layers.json`` (scales, thresholds, cores)."""
        model_path, meta_path = out / "speck_model.pt", out / "speck_layers.json"
        torch.save(self.model, model_path)
        meta = {"chip": CHIP, "sinabs": dist_version("sinabs"), "input_shape": list(self.input_shape),
                "layer_to_core": {str(k): v for k, v in self.cores.items()}, "layers": self.layers}
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
        return [model_path, meta_path]

    def simulate(self, x: torch.Tensor) -> torch.Tensor:
        """Output spikes ``[T, B, ...]`` of the discretised model on ``x`` ``[T, B, c, h, w]``."""
        return run(self.model, x)

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


def run(model: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """A chip-form sinabs model (IAFSqueeze layers) on time-major ``x`` ``[T, B, ...]`` in float64."""
    import sinabs.layers as sl

    steps, batch = x.shape[:2]
    model = copy.deepcopy(model).double()
    y = x.to(torch.float64).transpose(0, 1).reshape(batch * steps, *x.shape[2:])
    with torch.no_grad():
        for m in model:
            if isinstance(m, sl.IAFSqueeze):
                m.batch_size, m.num_timesteps = batch, -1
                m.reset_states()
            y = m(y).to(torch.float64)  # sinabs' spike functions return float32 (exact integers)
    return y.reshape(batch, steps, *y.shape[1:]).transpose(0, 1)


def build(graph: nir.NIRGraph) -> SpeckDeployment:
    """Discretise a graph that passed :func:`check` into a DYNAP-CNN-form sinabs model.

    Per layer: w' = w g (g the IF input gain), s = min(s_w(w'), s_v(min(v_min, -theta), theta)) by
    sinabs' ``determine_discretization_scale`` (8 and 16 bits), W = round(w' s),
    threshold_high = round(theta s) (+1 for v > theta), threshold_low = round(v_min s) or -2^15.
    """
    import sinabs.layers as sl

    disc = _dynapcnn("discretize")
    graph = flatten(graph)
    layers, _ = _layers(graph)
    modules: list[nn.Module] = []
    info, convs, applied = [], [], {}
    for layer in layers:
        node, neuron = graph.nodes[layer.weight], neuron_from_node(graph.nodes[layer.neuron])
        gain = float(values(neuron.input_gain).ravel()[0])
        weight = torch.as_tensor(np.asarray(node.weight, dtype=np.float64)) * gain
        theta = float(values(neuron.threshold).ravel()[0])
        strict = neuron.compare is Compare.GT
        low = -theta if neuron.v_min is None else min(float(neuron.v_min), -theta)
        scale = min(float(disc.determine_discretization_scale(weight, disc.DYNAPCNN_WEIGHT_PRECISION_BITS)),
                    float(disc.determine_discretization_scale(torch.tensor([low, theta * (1 + strict / 2**15)]),
                                                              disc.DYNAPCNN_STATE_PRECISION_BITS)))
        w_int = disc.discretize_tensor(weight, scale, to_int=False)
        applied[layer.weight] = (w_int / (scale * gain)).numpy()
        t_int = float(round(theta * scale))
        v_min = float(STATE_MIN if neuron.v_min is None else round(neuron.v_min * scale))
        if layer.flatten:
            modules.append(nn.Flatten())
        if isinstance(node, nir.Conv2d):
            conv = nn.Conv2d(w_int.shape[1], w_int.shape[0], tuple(w_int.shape[2:]), stride=_ints2(node.stride),
                             padding=_ints2(node.padding), bias=False)
        else:
            conv = nn.Linear(w_int.shape[1], w_int.shape[0], bias=False)
        with torch.no_grad():
            conv.weight.copy_(w_int.to(torch.float32))
        modules += [conv, _iaf(t_int + strict, v_min, neuron.reset, neuron.spike_fn)]
        if layer.pool is not None:
            modules.append(sl.SumPool2d(layer.pool_size))
        convs.append((_as_conv(node, layer.in_shape, w_int.to(torch.float32)), layer.in_shape))
        info.append({"nodes": layer.nodes, "scale": scale, "threshold": theta, "threshold_high": int(t_int + strict),
                     "threshold_low": int(v_min), "return_to_zero": neuron.reset is ResetMode.TO_VALUE,
                     "max_abs_weight": int(w_int.abs().max()), "max_weight_error": float((w_int / scale - weight).abs().max()),
                     "max_weight_error_rel": float((w_int / scale - weight).abs().max() / weight.abs().max()),
                     "threshold_error": abs(t_int / scale - theta), "pooling": layer.pool_size,
                     "memory": _memory(convs[-1][0], layer.in_shape)})
    shape = _shape(graph.nodes[_io_names(graph)[0]], "input")
    return SpeckDeployment(nn.Sequential(*modules), shape, info, _mapping(convs) or {}, applied)


def load(path: str | Path) -> tuple[nn.Sequential, dict[str, Any]]:
    """The discretised model and the layer table a :class:`SpeckDeployment` saved into directory ``path``."""
    path = Path(path)
    return torch.load(path / "speck_model.pt", weights_only=False), json.loads((path / "speck_layers.json").read_text())
