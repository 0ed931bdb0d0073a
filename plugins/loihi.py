"""Hand-off to Intel Loihi 2 through lava-dl's netx HDF5 network format.

A chain ``Input -> (Affine | Linear | Conv2d -> LIF | CubaLIF | IF)+ -> Output`` becomes one netx
``dense`` or ``conv`` block per synapse + neuron pair, with Loihi's CUBA neuron in fixed point; a
neuron layer that feeds its own spikes back through one Affine | Linear (a NIR cycle, e.g. the NIR
paper's Braille network) becomes a ``dense_rec`` block (lava-dl's ``RecurrentDense``); a Flatten
before a dense layer netx's ``flatten``, and a SumPool2d or AvgPool2d is folded into the weights after it
(netx has no pooling block; e.g. the NIR paper's N-MNIST CNN); a max pool of spikes (SumPool2d ->
Threshold) becomes a conv block of its own whose neurons fire when a window holds a spike. The
integer semantics and the float -> integer mapping are declared in
:mod:`snn_interop.spec.loihi` (Lava's ``PyLifModelBitAcc``); ``simulate`` runs exactly that.
The design rules come from Lava's bit-accurate model and lava-dl's netx loader
(``lava/lib/dl/netx/hdf5.py``, ``utils.optimize_weight_bits``): see docs/hardware-loihi.md.
"""
from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nir
import numpy as np
import torch

from snn_interop.hardware import Violation
from snn_interop.nir.graph import _io_names, flatten, with_weights
from snn_interop.nir.neurons import neuron_from_node
from snn_interop.spec import loihi
from snn_interop.spec.neurons import Model, Neuron, ResetMode, ResetTiming, SpikeFn, SynapseOrder, uniform, values
from snn_interop.spec.schema import SpecError

NAME = "loihi"
CHIP = "Loihi 2"
TOOLCHAIN = "lava-dl netx"
EXTRA = "loihi"
CHECKS = (
    "graph: a chain Input -> ([SumPool2d|AvgPool2d] [Flatten] Affine|Linear|Conv2d -> LIF|CubaLIF|IF)+ -> Output (netx dense, conv and "
    "flatten blocks); a dense neuron layer may feed its own spikes back through one Affine|Linear (netx dense_rec)",
    "pooling: a SumPool2d or AvgPool2d folded into the next weights (netx has no pooling block): stride = window, no padding, "
    "an input a whole number of windows, no dilated convolution after it; a max pool of spikes (SumPool2d -> Threshold in (0, 1)) "
    "a conv block of its own",
    "neuron: reset to zero in the step it fires, single spikes, no lower bound, starts at 0 (Loihi CUBA)",
    "neuron: one current decay, one voltage decay and one threshold per layer (netx neuron group); "
    "a conv layer's input gains and leak one per layer",
    "synapse: no bias into a CubaLIF current (Loihi's bias adds to v); a recurrent layer's synapse current first "
    "(netx gives both of its synapses one delay)",
    "integers: one scale per layer keeps weights 8-bit signed [-128, 127], vThMant 17-bit [0, 131071] and bias 13-bit "
    "signed [-4096, 4095] (du/dv 12-bit by construction); rejected when every weight or the threshold rounds to 0",
)
#: Documented bounds on output spike mismatches against the float model (docs/hardware-loihi.md):
#: chains of LIF/IF layers, and chains with a current-based layer (whose slow current keeps a
#: neuron firing regularly, so one spike moved by a step shifts all its later ones).
BOUND = {"mismatch_fraction": 0.05}
BOUND_CUBA = {"mismatch_fraction": 0.3}
SYNAPSES = (nir.Affine, nir.Linear)
WEIGHTS = (*SYNAPSES, nir.Conv2d)
NEURONS = (nir.LIF, nir.CubaLIF, nir.IF)
POOLS = (nir.SumPool2d, nir.AvgPool2d)
BETWEEN = (*POOLS, nir.Flatten)  #: folded into the next weights (pooling) or netx's flatten


def available() -> str | None:
    """None when h5py (the netx file writer) imports, else what to install."""
    return None if importlib.util.find_spec("h5py") else "h5py is not installed"


def _chain(graph: nir.NIRGraph) -> tuple[list[str], dict[str, str], list[Violation]]:
    """The node names from Input to Output along the only path, and each neuron's recurrent
    synapse (a weight node taking only that neuron's spikes and feeding only it back), or violations."""
    graph = flatten(graph)
    try:
        start, end = _io_names(graph)
    except SpecError as exc:
        return [], {}, [Violation("graph", "one Input and one Output", str(exc), "exactly one of each")]
    succ: dict[str, list[str]] = {}
    pred: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    loops = {n: r for n, node in graph.nodes.items() if isinstance(node, NEURONS)
             for r in succ.get(n, []) if isinstance(graph.nodes[r], SYNAPSES) and succ.get(r) == [n] and pred.get(r) == [n]}
    order, seen = [start], {start}
    while order[-1] != end:
        nxt = [b for b in succ.get(order[-1], []) if b != loops.get(order[-1])]
        if len(nxt) != 1 or nxt[0] in seen:
            found = "a cycle" if nxt and nxt[0] in seen else f"{len(nxt)} successors"
            return order, {}, [Violation(order[-1], "feed-forward chain", found,
                                         "exactly one successor, recurrence only through a neuron's own weight node (netx dense, dense_rec)")]
        order.append(nxt[0])
        seen.add(nxt[0])
    recurrent = {n: r for n, r in loops.items() if n in seen}
    if len(seen) + len(recurrent) != len(graph.nodes) or len(graph.edges) != len(order) - 1 + 2 * len(recurrent):
        return order, {}, [Violation("graph", "feed-forward chain", f"{len(graph.nodes)} nodes, {len(graph.edges)} edges off one path",
                                     "one path Input -> ... -> Output, and a neuron's own recurrent weight node")]
    return order, recurrent, []


def _neuron_rules(name: str, n: Neuron) -> list[Violation]:
    rules = [
        (n.model in (Model.IF, Model.LIF, Model.CUBA_LIF), "neuron model", n.model.value, "if, lif or cuba_lif (Loihi CUBA)"),
        (n.reset is ResetMode.TO_VALUE and np.all(values(n.v_reset) == 0.0), "reset", f"reset={n.reset.value} v_reset={n.v_reset}",
         "reset to zero (Loihi CUBA: v = 0 after a spike)"),
        (n.reset_timing is ResetTiming.SAME_STEP, "reset timing", n.reset_timing.value, "same_step"),
        (n.spike_fn is SpikeFn.SINGLE, "spike function", n.spike_fn.value, "single (unary spikes)"),
        (n.v_min is None, "membrane lower bound", f"v_min={n.v_min}", "none (v saturates at -(2^23 - 1) only)"),
        (n.v_init == 0.0, "initial membrane", f"v_init={n.v_init}", "0"),
        (uniform(n.decay.beta) and uniform(n.syn_decay.beta), "per-layer decays", "decays differ across neurons",
         "one du and one dv per netx layer"),
        (uniform(n.threshold), "per-layer threshold", "thresholds differ across neurons", "one vThMant per netx layer"),
        (np.all(values(n.threshold) > 0), "threshold", f"{n.threshold}", "> 0 (vThMant is unsigned)"),
    ]
    return [Violation(name, rule, found, limit) for ok, rule, found, limit in rules if not ok]


def float_layer(synapse: Any, n: Neuron, recurrent: Any = None) -> loihi.FloatCuba:
    """The synapse (Affine, Linear or Conv2d; and the ``recurrent`` one) + canonical neuron in
    Loihi's float form (gains folded into the weights' output rows or channels): LIF/IF: W' = g W,
    c = g (b + b_rec) + (1 - beta) v_leak; CubaLIF: W' = g g_syn W, c = (1 - beta) v_leak."""
    w = np.asarray(synapse.weight, dtype=np.float64)
    bias = lambda node: np.asarray(getattr(node, "bias", np.zeros(w.shape[0])), dtype=np.float64)  # noqa: E731
    b = bias(synapse) + (0.0 if recurrent is None else bias(recurrent))
    beta, theta = float(values(n.decay.beta)), float(values(n.threshold))
    g = np.broadcast_to(values(n.input_gain), (w.shape[0],))
    leak = (1.0 - beta) * np.broadcast_to(values(n.v_leak), (w.shape[0],))
    if n.model is Model.CUBA_LIF:
        gain = g * np.broadcast_to(values(n.syn_input_gain), (w.shape[0],))
    else:
        gain, leak = g, g * b + leak
    rows = lambda m: gain.reshape(-1, *[1] * (m.ndim - 1)) * m  # noqa: E731
    rec = None if recurrent is None else rows(np.asarray(recurrent.weight, dtype=np.float64))
    conv = loihi.Conv(_pair(synapse.stride), _pair(synapse.padding), _pair(synapse.dilation), int(synapse.groups)) \
        if isinstance(synapse, nir.Conv2d) else None
    if n.model is Model.CUBA_LIF:
        return loihi.FloatCuba(rows(w), float(values(n.syn_decay.beta)), beta, theta, leak,
                               int(n.synapse_order is SynapseOrder.MEMBRANE_FIRST), rec, conv)
    return loihi.FloatCuba(rows(w), 0.0, beta, theta, leak, 0, rec, conv)


def _pair(v: Any) -> tuple[int, int]:
    a = np.broadcast_to(np.asarray(v, dtype=np.int64), (2,))
    return int(a[0]), int(a[1])


@dataclass(frozen=True)
class _Layer:
    """One netx block: its NIR weight node (a pooling before it folded in), neuron node,
    recurrent weight node, and the input it reads."""

    synapse: str
    neuron: str
    recurrent: str | None
    float: loihi.FloatCuba
    pool: tuple[int, int] | None = None  #: a SumPool2d window folded into the weights (each weight repeated over it)
    in_shape: tuple[int, ...] = ()  #: the block's input, before the folded pooling ([C, H, W] or [n])
    flattened: bool = False  #: a dense block reading a [C, H, W] input channel-major (netx ``flatten``)
    fixed: bool = False  #: a max pool of spikes: ``synapse`` its SumPool2d, ``neuron`` its Threshold; no NIR weights


def _max_pool(pool_name: str, pool: Any, end_name: str, end: Any, shape: tuple[int, ...]) -> tuple[_Layer | None, list[Violation]]:
    """A max pool of spikes (NIR: a SumPool2d into a Threshold below 1, what snn-interop writes for a
    MaxPool2d) as a conv block of its own: each channel's window summed with weight 1 (groups = C)
    into neurons without memory (alpha = beta = 0: du = 4095, dv = 4096) that fire when the sum
    exceeds the threshold, i.e. when the window holds a spike. Exact; Lava runs it a step later, as
    every block."""
    theta = np.asarray(end.threshold, dtype=np.float64)
    if not (np.all(theta == theta.flat[0]) and 0.0 < theta.flat[0] < 1.0):
        return None, [Violation(end_name, "threshold node", f"threshold {theta.min():g}..{theta.max():g}",
                                "one value in (0, 1) after a SumPool2d: a max pool of spikes (netx has no other threshold)")]
    ky, kx = _pair(pool.kernel_size)
    channels = shape[0]
    f = loihi.FloatCuba(np.ones((channels, 1, ky, kx)), 0.0, 0.0, float(theta.flat[0]), np.zeros(channels), 0, None,
                        loihi.Conv(_pair(pool.stride), _pair(pool.padding), (1, 1), channels))
    return _Layer(pool_name, end_name, None, f, None, shape, False, True), []


def _out_shape(node: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A chain node's output shape from its input's."""
    if isinstance(node, nir.Conv2d):
        (sy, sx), (py, px), (dy, dx) = _pair(node.stride), _pair(node.padding), _pair(node.dilation)
        k = np.shape(node.weight)
        return (k[0], (shape[1] + 2 * py - dy * (k[2] - 1) - 1) // sy + 1, (shape[2] + 2 * px - dx * (k[3] - 1) - 1) // sx + 1)
    if isinstance(node, POOLS):
        (ky, kx), (sy, sx), (py, px) = _pair(node.kernel_size), _pair(node.stride), _pair(node.padding)
        return (shape[0], (shape[1] + 2 * py - ky) // sy + 1, (shape[2] + 2 * px - kx) // sx + 1)
    if isinstance(node, nir.Flatten):
        return (int(np.prod(shape)),)
    if isinstance(node, SYNAPSES):
        return (int(np.shape(node.weight)[0]),)
    return shape


def _fold_pool(name: str, pool: Any, synapse: Any, shape: tuple[int, ...]) -> tuple[Any, list[Violation]]:
    """``synapse`` reading the pooling ``pool``'s output (through a Flatten, for a dense one), as one
    weight node reading the pool's input ``shape``: netx has no pooling block. Exact: the pool sums
    windows (an AvgPool2d then divides by the window's size), the weights are linear, so each weight
    repeated over the window (and divided) does both (a kernel k times larger with k times the
    stride and padding; a dense weight per input position)."""
    (ky, kx), (sy, sx), (py, px) = _pair(pool.kernel_size), _pair(pool.stride), _pair(pool.padding)
    bad = []
    if (sy, sx) != (ky, kx) or (py, px) != (0, 0):
        bad.append(Violation(name, "pooling", f"window {(ky, kx)}, stride {(sy, sx)}, padding {(py, px)}",
                             "stride = window, no padding (folded into the next weights: netx has no pooling block)"))
    if shape[1] % ky or shape[2] % kx:
        bad.append(Violation(name, "pooling", f"a {shape[1]}x{shape[2]} input in {ky}x{kx} windows",
                             "an input a whole number of windows (folded into the next weights: netx has no pooling block)"))
    if isinstance(synapse, nir.Conv2d) and _pair(synapse.dilation) != (1, 1):
        bad.append(Violation(name, "pooling", f"before a convolution dilated {_pair(synapse.dilation)}", "dilation 1"))
    if bad:
        return synapse, bad
    w = np.asarray(synapse.weight, dtype=np.float64) / (ky * kx if isinstance(pool, nir.AvgPool2d) else 1)
    bias = getattr(synapse, "bias", None)
    if isinstance(synapse, nir.Conv2d):
        kernel = np.repeat(np.repeat(w, ky, axis=2), kx, axis=3)
        (cy, cx), (qy, qx) = _pair(synapse.stride), _pair(synapse.padding)
        return nir.Conv2d(input_shape=np.array(shape[1:]), weight=kernel, stride=np.array([cy * ky, cx * kx]),
                          padding=np.array([qy * ky, qx * kx]), dilation=np.array([1, 1]), groups=int(synapse.groups),
                          bias=np.zeros(w.shape[0]) if bias is None else np.asarray(bias)), []
    c, h, wd = shape[0], shape[1] // ky, shape[2] // kx
    dense = np.repeat(np.repeat(w.reshape(w.shape[0], c, h, wd), ky, axis=2), kx, axis=3).reshape(w.shape[0], -1)
    return (nir.Linear(weight=dense) if bias is None else nir.Affine(weight=dense, bias=np.asarray(bias))), []


def _unpool(weight: np.ndarray, block: _Layer) -> np.ndarray:
    """The weights of ``block``'s NIR weight node from its pooling-folded ones (one per window)."""
    ky, kx = block.pool
    if weight.ndim == 4:
        return weight[:, :, ::ky, ::kx]
    return weight.reshape(weight.shape[0], *block.in_shape)[:, :, ::ky, ::kx].reshape(weight.shape[0], -1)


def _layers(graph: nir.NIRGraph) -> tuple[list[_Layer], list[Violation]]:
    """The chain's netx blocks (:class:`_Layer`), or the rules it breaks."""
    order, recurrent, violations = _chain(graph)
    if violations:
        return [], violations
    nodes = flatten(graph).nodes
    inner = order[1:-1]
    for name in inner:
        if not isinstance(nodes[name], (*WEIGHTS, *NEURONS, *BETWEEN, nir.Threshold)):
            violations.append(Violation(name, "node type", type(nodes[name]).__name__,
                                        "Affine, Linear, Conv2d, SumPool2d, AvgPool2d, Flatten, LIF, CubaLIF, IF, or "
                                        "Threshold after a SumPool2d (netx dense, conv)"))
    kinds = "".join("w" if isinstance(nodes[k], WEIGHTS) else "n" if isinstance(nodes[k], NEURONS) else
                    "p" if isinstance(nodes[k], POOLS) else "t" if isinstance(nodes[k], nir.Threshold) else "f" for k in inner)
    pattern = re.fullmatch(r"(p?f?wn|pt)+", kinds)
    if violations or not inner or pattern is None:
        if not violations:
            violations.append(Violation("graph", "layer pattern", " -> ".join(type(nodes[k]).__name__ for k in order),
                                        "Input -> ([SumPool2d|AvgPool2d] [Flatten] Affine|Linear|Conv2d -> LIF|CubaLIF|IF "
                                        "| SumPool2d -> Threshold)+ -> Output"))
        return [], violations
    shape = tuple(int(d) for d in np.asarray(nodes[order[0]].input_type["input"]).reshape(-1))
    found: list[_Layer] = []
    before: list[str] = []
    for name in inner:
        node = nodes[name]
        if isinstance(node, nir.Threshold):  # the end of a max pool of spikes: its SumPool2d is the last node before it
            block, rules = _max_pool(before[-1], nodes[before[-1]], name, node, shape)
            violations += rules
            if block is not None:
                found.append(block)
            shape, before = _out_shape(nodes[before[-1]], shape), []
            continue
        if isinstance(node, BETWEEN):
            before.append(name)
            continue
        if isinstance(node, WEIGHTS):
            syn_name, syn, in_shape, pool, rules = name, node, shape, None, []
            pools = [k for k in before if isinstance(nodes[k], POOLS)]
            if isinstance(node, nir.Conv2d) and len(shape) != 3:
                rules.append(Violation(name, "layer pattern", f"a convolution of a {len(shape)}-d input", "[C, H, W] input"))
            elif not isinstance(node, nir.Conv2d) and len(shape) == 3 and not any(isinstance(nodes[k], nir.Flatten) for k in before):
                rules.append(Violation(name, "layer pattern", f"a dense layer on a {shape} input", "a Flatten before it"))
            elif pools:
                syn, rules = _fold_pool(pools[0], nodes[pools[0]], node, shape)
                pool = _pair(nodes[pools[0]].kernel_size)
            violations += rules
            for k in before:
                shape = _out_shape(nodes[k], shape)
            shape = _out_shape(node, shape)
            flattened, before = bool(before) and not isinstance(node, nir.Conv2d) and len(in_shape) == 3, []
            continue
        rec_name = recurrent.get(name)
        neuron = neuron_from_node(node)
        rules = _neuron_rules(name, neuron)
        if isinstance(syn, nir.Conv2d):
            rules += [Violation(name, "conv layer parameters", f"{what} differs across neurons",
                                "one value for the layer (folded into the shared kernel and the per-channel bias)")
                      for what, v in (("input gain", neuron.input_gain), ("v_leak", neuron.v_leak), ("synaptic gain", neuron.syn_input_gain))
                      if not uniform(v)]
            if rec_name:
                rules.append(Violation(rec_name, "recurrence", "a convolutional layer fed its own spikes back", "dense layers only (netx dense_rec)"))
        for key, weights in ((syn_name, syn), (rec_name, nodes.get(rec_name))):
            b = getattr(weights, "bias", None)
            if neuron.model is Model.CUBA_LIF and b is not None and np.any(np.asarray(b) != 0):
                rules.append(Violation(key, "synapse bias", "nonzero bias into a CubaLIF current", "0 (Loihi's bias adds to v)"))
        if rec_name and neuron.model is Model.CUBA_LIF and neuron.synapse_order is SynapseOrder.MEMBRANE_FIRST:
            rules.append(Violation(rec_name, "recurrent synapse order", "membrane first (a synaptic delay of 1)",
                                   "current first: netx gives a dense_rec block's two synapses one delay"))
        violations += rules
        if not rules and not any(v.node == syn_name or v.node in (pools or []) for v in violations):
            found.append(_Layer(syn_name, name, rec_name, float_layer(syn, neuron, nodes.get(rec_name)), pool, in_shape, flattened))
    return found, violations


def _integer_rules(name: str, layer: loihi.LoihiCuba) -> list[Violation]:
    """What quantisation at the layer's scale cannot express: all weights or the threshold at zero."""
    out = []
    if not np.any(layer.weight):
        out.append(Violation(name, "weight precision", "every weight rounds to 0 (the threshold needs the scale down)",
                             "weights >= 0.5 / 127 of the threshold-limited scale (vThMant <= 131071)"))
    if layer.vth_mant < 1:
        out.append(Violation(name, "vThMant", f"{layer.vth_mant} (threshold rounds to zero)", ">= 1"))
    return out


def check(graph: nir.NIRGraph) -> list[Violation]:
    """Every design rule the graph breaks (:data:`CHECKS`), each naming its node."""
    layers, violations = _layers(graph)
    for layer in layers:
        violations += _integer_rules(layer.neuron, loihi.quantise(layer.float)[0])
    return violations


@dataclass
class LoihiDeployment:
    """The quantised chain: one Loihi CUBA layer per block (:class:`_Layer`: its NIR nodes, float
    layer and what it reads), with its scale."""

    blocks: list[_Layer]
    layers: list[loihi.LoihiCuba]
    scales: list[float]
    simulator: str = "snn_interop.spec.loihi (Lava PyLifModelBitAcc arithmetic and Dense latency, read one step later per layer)"
    bound: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bound = self.bound or dict(BOUND_CUBA if any(f.alpha > 0 for f in self.floats) else BOUND)

    @property
    def names(self) -> list[str]:
        """Each layer's NIR neuron node (a max pool's: its Threshold)."""
        return [b.neuron for b in self.blocks]

    @property
    def synapses(self) -> list[str]:
        """Each layer's NIR weight node (a max pool's: its SumPool2d)."""
        return [b.synapse for b in self.blocks]

    @property
    def recurrent(self) -> list[str | None]:
        """Each layer's recurrent weight node, or None."""
        return [b.recurrent for b in self.blocks]

    @property
    def floats(self) -> list[loihi.FloatCuba]:
        """Each layer in Loihi's float form, before rounding."""
        return [b.float for b in self.blocks]

    def save(self, out: Path) -> list[Path]:
        """Write ``network.net``, the netx HDF5 file (:func:`write_netx`)."""
        path = Path(out) / "network.net"
        write_netx(path, self.layers, self.names, self.scales, self.blocks[0].in_shape, [b.flattened for b in self.blocks])
        return [path]

    def simulate(self, x: torch.Tensor) -> torch.Tensor:
        """Output spikes [T, B, n_out] of the fixed-point chain on 0/1 spikes ``x`` [T, B, n_in]."""
        return torch.from_numpy(loihi.simulate(self.layers, _unary(x)).astype(np.float64))

    def layer_spikes(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each layer's spikes [T, B, n] in the fixed-point chain on ``x``, by NIR neuron node."""
        return {name: torch.from_numpy(s.astype(np.float64)) for name, s in zip(self.names, loihi.run_chain(self.layers, _unary(x)))}

    def chip_weights(self, graph: nir.NIRGraph) -> nir.NIRGraph:
        """``graph`` (the one built) with each synapse's weights replaced by the chip's: the float
        layer's weights as the integers give them back (:func:`~snn_interop.spec.loihi.from_loihi`),
        divided by the factor the float layer put on the graph's weights (and, where a pooling was
        folded in, read at one position of each window: the repeats are equal)."""
        nodes, applied = flatten(graph).nodes, {}
        for block, p, scale in zip(self.blocks, self.layers, self.scales):
            if block.fixed:  # a max pool's own weights: nothing of the graph's
                continue
            f, back = block.float, loihi.from_loihi(p, scale)
            for name, float_w, chip_w in ((block.synapse, f.weight, back.weight), (block.recurrent, f.weight_rec, back.weight_rec)):
                if name is None:
                    continue
                if name == block.synapse and block.pool:
                    float_w, chip_w = (_unpool(w, block) for w in (float_w, chip_w))
                w = np.asarray(nodes[name].weight, dtype=np.float64)
                factor = np.divide(float_w, w, out=np.zeros_like(w), where=w != 0)  # the input gain, per weight
                applied[name] = np.divide(chip_w, factor, out=np.zeros_like(w), where=factor != 0)
        return with_weights(graph, applied)

    def figures(self) -> dict[str, Any]:
        """Worst quantisation errors over the layers: weights relative to each layer's max |W|, bias and
        threshold relative to the threshold, decays absolute."""
        back = [loihi.from_loihi(p, s) for p, s in zip(self.layers, self.scales)]
        both = lambda layer: np.hstack([layer.weight, *([] if layer.weight_rec is None else [layer.weight_rec])])  # noqa: E731
        w_err = [float(np.max(np.abs(both(b) - both(f))) / np.max(np.abs(both(f)))) for f, b in zip(self.floats, back)]
        zeroed = sum(int(np.sum((both(p) == 0) & (both(f) != 0))) for f, p in zip(self.floats, self.layers))
        return {
            "weight_error_max": max(w_err), "weights_zeroed": zeroed,
            "current_decay_error_max": max(abs(b.alpha - f.alpha) for f, b in zip(self.floats, back)),
            "voltage_decay_error_max": max(abs(b.beta - f.beta) for f, b in zip(self.floats, back)),
            "bias_error_max": max(float(np.max(np.abs(b.bias - f.bias), initial=0.0)) / f.threshold for f, b in zip(self.floats, back)),
            "threshold_error_max": max(abs(b.threshold - f.threshold) / f.threshold for f, b in zip(self.floats, back)),
            "current_worst_case_of_24_bits": max(_u_worst(p) for p in self.layers),
            "scales": [round(s, 3) for s in self.scales],
            "integers": {n: {"du": p.du, "dv": p.dv, "vThMant": p.vth_mant, "max|w|": int(np.max(np.abs(p.weight)))}
                         for n, p in zip(self.names, self.layers)},
        }


def _unary(x: torch.Tensor) -> np.ndarray:
    """``x`` [T, B, ...] as the netx input's 0/1 spikes (unchanged: a dense layer flattens it)."""
    s = x.detach().cpu().numpy()
    if not np.all((s == 0) | (s == 1)):
        raise ValueError("Loihi's netx input takes unary spikes: x must hold only 0 and 1")
    return s


def _u_worst(p: loihi.LoihiCuba) -> float:
    """The largest |u| every input spiking every step could reach, as a fraction of 2^23 (above 1,
    u can wrap): 64 max_row sum|W, W_rec| 4096 / (du + 1)."""
    rows = np.abs(p.weight).reshape(p.weight.shape[0], -1).sum(axis=1) + (0 if p.weight_rec is None else np.abs(p.weight_rec).sum(axis=1))
    return float(np.max(rows)) * (1 << loihi.ACT_SHIFT) * loihi.UNITY / p.i_decay / loihi.MAX_UV


def build(graph: nir.NIRGraph) -> LoihiDeployment:
    """Quantise a graph that passed :func:`check` (:func:`snn_interop.spec.loihi.quantise` per layer)."""
    layers, violations = _layers(graph)
    if violations:
        raise SpecError("the graph breaks Loihi's design rules; run check() first: " + "; ".join(map(str, violations)))
    quantised = [loihi.quantise(layer.float) for layer in layers]
    return LoihiDeployment(layers, [q for q, _ in quantised], [s for _, s in quantised])


def write_netx(path: Path, layers: list[loihi.LoihiCuba], names: list[str], scales: list[float],
               input_shape: tuple[int, ...] | None = None, flattened: list[bool] | None = None) -> None:
    """The netx HDF5 network (what ``lava.lib.dl.netx.hdf5.Network(net_config=path)`` reads):

    ``layer/0``: ``type`` "input", ``shape`` ``input_shape`` ([n_in], or [C, H, W]: netx reverses shapes to WHC);
    a convolutional layer: ``type`` "conv", ``shape`` [C_out, H_out, W_out], ``weight`` int [C_out,
    C_in / groups, kh, kw] (PyTorch's layout; netx flips and transposes it for Lava), ``stride``,
    ``padding``, ``dilation`` (y, x), ``groups``, ``bias`` per channel; a ``type`` "flatten" layer
    before each dense layer ``flattened`` (netx flattens the conv output channel-major);
    ``layer/k`` (k >= 1): ``type`` "dense", ``shape`` [n_out], ``weight`` int [n_out, n_in],
    (``type`` "dense_rec" and ``weight_rec`` int [n_out, n_out] for a layer fed its own spikes back),
    ``bias`` int [n_out] (when nonzero; bias_mant, netx applies bias_exp 6), ``delay`` int (when
    nonzero), ``neuron/{type "CUBA", iDecay = du + 1, vDecay = dv, vThMant, refDelay 1, gradedSpike 0}``.
    Attributes (``nir_node``, ``scale``) are ours; netx ignores them."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["generator"] = "snn-interop --to loihi"
        group = f.create_group("layer")
        first = group.create_group("0")
        first.create_dataset("type", (1,), "S10", [b"input"])
        first.create_dataset("shape", data=np.array(input_shape or [layers[0].weight.shape[1]]))
        k, shape = 0, tuple(input_shape or [layers[0].weight.shape[1]])
        for p, name, scale, flat in zip(layers, names, scales, flattened or [False] * len(layers)):
            if flat:
                k += 1
                group.create_group(str(k)).create_dataset("type", (1,), "S10", [b"flatten"])
            k += 1
            g = group.create_group(str(k))
            g.attrs["nir_node"], g.attrs["scale"] = name, scale
            if p.conv is not None:
                shape = tuple(loihi.synaptic_input(p.weight, p.conv, np.zeros((1, 1, *shape), dtype=np.int64)).shape[2:])
                g.create_dataset("type", (1,), "S10", [b"conv"])
                for key, value in (("stride", p.conv.stride), ("padding", p.conv.padding), ("dilation", p.conv.dilation)):
                    g.create_dataset(key, data=np.array(value))
                g.create_dataset("groups", data=np.int64(p.conv.groups))
            else:
                shape = (p.weight.shape[0],)
                g.create_dataset("type", (1,), "S10", [b"dense" if p.weight_rec is None else b"dense_rec"])
            g.create_dataset("shape", data=np.array(shape))
            g.create_dataset("weight", data=np.asarray(p.weight, dtype=np.int64))
            if p.weight_rec is not None:
                g.create_dataset("weight_rec", data=np.asarray(p.weight_rec, dtype=np.int64))
            if np.any(p.bias_mant != 0):
                g.create_dataset("bias", data=np.broadcast_to(p.bias_mant, (p.weight.shape[0],)).astype(np.int64))  # per neuron or channel
            if p.delay:
                g.create_dataset("delay", data=np.int64(p.delay))
            for key, value in (("iDecay", p.i_decay), ("vDecay", p.dv), ("vThMant", p.vth_mant), ("refDelay", 1), ("gradedSpike", False)):
                g.create_dataset(f"neuron/{key}", data=value)
            g.create_dataset("neuron/type", data=np.bytes_(b"CUBA"))


def read_netx(path: Path) -> tuple[list[loihi.LoihiCuba], list[float]]:
    """The layers and scales of a netx file written by :func:`write_netx`, read the way netx
    reads them (``du = iDecay - 1``, ``bias_exp = 6``, absent bias and delay are 0)."""
    import h5py

    layers, scales = [], []
    with h5py.File(path, "r") as f:
        group = f["layer"]
        for k in sorted(group, key=int):
            g = group[k]
            kind = g["type"][()]
            kind = (kind[0] if np.ndim(kind) else kind).decode("ascii")
            if kind in ("input", "flatten"):
                continue
            if kind not in ("dense", "dense_rec", "conv") or g["neuron/type"][()].decode("ascii") != "CUBA":
                raise SpecError(f"{path}: layer {k} is {kind!r}; read_netx reads input, flatten and CUBA dense, dense_rec and conv layers")
            n_out = int(g["weight"].shape[0])
            bias = g["bias"][()].astype(np.int64) if "bias" in g else np.zeros(n_out, dtype=np.int64)
            conv = loihi.Conv(*(tuple(int(v) for v in g[key][()]) for key in ("stride", "padding", "dilation")),
                              int(g["groups"][()])) if kind == "conv" else None
            delay = int(g["delay"][()]) if "delay" in g else 0
            rec = g["weight_rec"][()].astype(np.int64) if kind == "dense_rec" else None
            layers.append(loihi.LoihiCuba(g["weight"][()].astype(np.int64), int(g["neuron/iDecay"][()]) - 1, int(g["neuron/vDecay"][()]),
                                          int(g["neuron/vThMant"][()]), bias, loihi.BIAS_EXP, delay, rec, conv))
            scales.append(float(g.attrs.get("scale", np.nan)))
    return layers, scales
