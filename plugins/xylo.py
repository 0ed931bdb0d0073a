"""Hardware target ``xylo``: SynSense Xylo Audio 2 (SYNS61201) through Rockpool 3.1.0 and XyloSim.

The chip (sources in rockpool 3.1.0 and xylosim 0.1.3, cited per limit):

- one feed-forward input layer (<= 16 channels, ``devices/xylo/syns61201/xylo_mapper.py``
  ``le_16_input_channels``), one hidden population (<= 1000 neurons, ``mapper(max_hidden_neurons=1000)``)
  with dense recurrent weights, one output population (<= 8 neurons, ``le_8_output_channels``,
  ``mapper(max_output_neurons=8)``), output neurons not recurrent, no weight biases
  (``weight_nodes_have_no_biases``), one ``dt`` for all neurons (``all_neurons_have_same_dt``);
- integer current-based LIF neurons (xylosim ``src/v2/cpp/XyloIAFNeuron.cpp``), per step t:
  ``i += sum_k w_k s_k`` (input spikes of step t, hidden spikes of step t-1), then
  ``i -= decay(i, dash_syn)``, ``v += -decay(v, dash_mem) + i + bias``, and while ``v >= threshold``:
  spike, ``v -= threshold`` (hidden neurons up to 31 spikes per step, output neurons 1), where
  ``decay(x, d) = x >> d`` or +-1 when that is 0, all 16-bit saturating (``BITS_STATE 16``);
  weights are 8-bit signed (``BITS_WEIGHT 8``; ``transform/quantize_methods.py`` ``bits_per_weight=8``),
  thresholds 16-bit signed (``int16_t v_th``; ``bits_per_threshold=16``), dashes 4-bit
  (``XyloIAFNeuron.h``: "should be 4 bits", 0..15), and hidden spikes reach the output layer one
  step later (``XyloLayer.cpp`` delivers last step's hidden spikes). Hidden layers in a chain
  share the hidden population, each fed by the one before through the recurrent weights (one
  step later), as rockpool's ``mapper`` places them: the output lags one step per hidden layer.

So a Xylo neuron is ``i[t] = alpha (i[t-1] + W x[t])``, ``v[t] = beta v[t-1] + i[t] + bias`` with
``alpha = 1 - 2^-dash_syn``, ``beta = 1 - 2^-dash_mem``. A canonical current-based LIF
(``i = alpha i + g_syn W x``, ``v = v_leak + beta (v - v_leak) + g i``) maps onto it with
``W_xylo = g g_syn W / alpha_xylo`` and ``bias = (1 - beta) v_leak``; ``dash = round(-log2(1 - beta))``.
A LIF or IF (no current) gets ``dash_syn = 1`` and ``W_xylo = g W (1 - alpha_xylo) / alpha_xylo``: the
current delivers the same charge ``g W x`` as ``W x / 2, W x / 4, ...`` over this and later steps.
Weights and thresholds are then quantised by ``global_quantize`` (one scale ``s = 127 / max|W|``
for input and recurrent weights, one for the output weights); thresholds become
``ceil(theta s)`` for ``v >= theta`` and ``floor(theta s) + 1`` for ``v > theta`` (exact on integers).
Conventions Xylo lacks (no synaptic current, reset to a value, next-step reset, membrane-first
order, initial membrane, multi-spike) map to the nearest Xylo neuron and are listed under ``approximated``.

``import rockpool.devices.xylo`` imports samna (through ``syns65302``), so the chip package is
imported with ``rockpool.devices.xylo`` stood in by an empty package, under the samna block of
:mod:`snn_interop_plugins.rockpool`.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import math
import sys
import types
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import nir
import numpy as np
import torch

from snn_interop.hardware import Violation
from snn_interop.nir import graph as nir_graph
from snn_interop.nir.neurons import neuron_from_node
from snn_interop.spec.neurons import Compare, Model, Neuron, ResetMode, ResetTiming, SpikeFn, SynapseOrder, values
from snn_interop_plugins._common import availability, dist_version
from snn_interop_plugins.rockpool import _samna_blocked

NAME = "xylo"
CHIP = "Xylo Audio 2 (SYNS61201)"
TOOLCHAIN = "rockpool (devices.xylo.syns61201) + xylosim"
EXTRA = "rockpool"

MAX_INPUTS = 16  #: xylo_mapper.le_16_input_channels
MAX_HIDDEN = 1000  #: xylo_mapper.mapper(max_hidden_neurons=1000)
MAX_OUTPUTS = 8  #: xylo_mapper.le_8_output_channels, mapper(max_output_neurons=8)
WEIGHT_BITS = 8  #: xylosim XyloIAFNeuron.h BITS_WEIGHT; quantize_methods.global_quantize(bits_per_weight=8)
THRESHOLD_BITS = 16  #: xylosim int16_t v_th; global_quantize(bits_per_threshold=16)
DASH_MAX = 15  #: xylosim XyloIAFNeuron.h: dash "should be 4 bits"
MAX_W = 2 ** (WEIGHT_BITS - 1) - 1
MAX_TH = 2 ** (THRESHOLD_BITS - 1) - 1
STATE_HEADROOM = 2 ** 13  #: weight shifts raise thresholds up to this, leaving 2 of the 16 state bits for v and i above threshold
MAX_HIDDEN_SPIKES = 31  #: xylosim XyloIAFNeuron.h MAX_NUM_SPIKES (output neurons: MAX_NUM_OUT_SPIKES 1)
MAX_SHIFT = 8  #: 127 << 8 still fits xylosim's int16 synaptic increment
DEFAULT_DT = 1e-3  #: XyloSim's default dt, used when no neuron records one
SHAPE = ("Input -> Linear/Affine -> CubaLIF/LIF/IF (-> recurrent Linear/Affine) [-> Linear/Affine -> hidden CubaLIF/LIF/IF ...] "
         "-> Linear/Affine -> CubaLIF/LIF/IF -> Output")
CHECKS = ("supported layers", "graph shape", "input channels", "hidden neurons", "output neurons", "fan-in", "weight bias",
          "neuron model", "common dt", "decay", "threshold", "threshold bit width", "weight bit width")
#: spike mismatch fraction promised against the float model for the models of docs/hardware-xylo.md
BOUND = {"mismatch_fraction": 0.25}
SPEC_ARRAYS = ("weights_in", "weights_rec", "weights_out", "dash_mem", "dash_mem_out", "dash_syn", "dash_syn_2", "dash_syn_out",
               "threshold", "threshold_out", "bias", "bias_out")
SPEC_SCALARS = ("weight_shift_in", "weight_shift_rec", "weight_shift_out", "dt")


def available() -> str | None:
    reason = availability("rockpool", "rockpool")
    if reason is None and importlib.util.find_spec("xylosim") is None:
        return "xylosim (XyloSim's C++ simulator) is not installed: pip install xylosim==0.1.3 (builds from source, needs a C++ compiler)"
    return reason


@cache
def rockpool_chip() -> types.ModuleType:
    """rockpool's ``devices.xylo.syns61201``, imported without ``devices.xylo.__init__`` (it imports samna)."""
    name = "rockpool.devices.xylo"
    with _samna_blocked():
        import rockpool.devices

        stand_in = name not in sys.modules
        if stand_in:
            package = types.ModuleType(name)
            package.__path__ = [str(Path(rockpool.devices.__file__).parent / "xylo")]
            sys.modules[name] = package
        try:
            return importlib.import_module(name + ".syns61201")
        finally:
            if stand_in:
                del sys.modules[name]


def _dash(beta: np.ndarray) -> np.ndarray:
    """Bit-shift decay for per-step decay beta: round(-log2(1 - beta)), 15 for beta = 1 (may be < 1: checked)."""
    with np.errstate(divide="ignore"):
        exact = -np.log2(1.0 - beta)
    return np.clip(np.round(exact), 0, DASH_MAX).astype(int)


def _xylo_decay(dash: np.ndarray) -> np.ndarray:
    return 1.0 - 2.0 ** -dash.astype(np.float64)


@dataclass
class _Population:
    """One neuron layer in Xylo's float terms: per neuron decays, weight factor, threshold, bias."""

    name: str
    neuron: Neuron
    beta: np.ndarray
    alpha: np.ndarray  #: the float synaptic decay (0 for neurons without a synaptic current)
    dash_mem: np.ndarray
    dash_syn: np.ndarray
    fold: np.ndarray  #: factor on each incoming weight column: g g_syn / alpha_xylo
    threshold: np.ndarray
    bias: np.ndarray  #: (1 - beta) v_leak per step
    strict: np.ndarray  #: per neuron, whether it fires at v > threshold (else v >= threshold)
    approximated: list[str] = field(default_factory=list)


def _concat(pops: list[_Population]) -> _Population:
    """Hidden layers as Xylo's one hidden population, in order (the first layer's neuron for its conventions)."""
    if len(pops) == 1:
        return pops[0]
    arrays = {k: np.concatenate([getattr(p, k) for p in pops]) for k in ("beta", "alpha", "dash_mem", "dash_syn", "fold", "threshold", "bias", "strict")}
    return _Population("+".join(p.name for p in pops), pops[0].neuron, **arrays, approximated=[a for p in pops for a in p.approximated])


@dataclass
class _Plan:
    """The graph matched onto Xylo's layers, in float, before quantisation."""

    violations: list[Violation]
    names: dict[str, Any] = field(default_factory=dict)  #: w_in, hidden (list), w_rec (list), w_hidden (list), w_out, out
    w_in: np.ndarray | None = None  #: (n_in, n_hidden), folded
    w_rec: np.ndarray | None = None  #: (n_hidden, n_hidden), folded: each layer's recurrence, and each hidden layer into the next
    w_out: np.ndarray | None = None  #: (n_hidden, n_out), folded
    hidden: _Population | None = None  #: every hidden layer, concatenated
    out: _Population | None = None
    dt: float = DEFAULT_DT
    delay: int = 1  #: steps the chip's output lags the float network's: one per hidden layer
    sizes: list[int] = field(default_factory=list)  #: neurons of each hidden layer, in the hidden population's order


def _weights(node: Any) -> tuple[np.ndarray, np.ndarray | None]:
    bias = getattr(node, "bias", None)
    return np.asarray(node.weight, np.float64), None if bias is None else np.asarray(bias, np.float64)


def _match(graph: nir.NIRGraph) -> tuple[dict[str, str | None], list[Violation]]:
    """Xylo's layer roles for the graph's nodes, or the violation where the graph leaves SHAPE."""
    weights, neurons = (nir.Linear, nir.Affine), (nir.CubaLIF, nir.LIF, nir.IF)
    bad = [Violation(k, "supported layers", type(n).__name__, f"Xylo maps {SHAPE}")
           for k, n in graph.nodes.items() if not isinstance(n, (nir.Input, nir.Output, *weights, *neurons))]
    if bad:
        return {}, bad
    inp, outp = nir_graph._io_names(graph)
    succ = {k: [b for a, b in graph.edges if a == k] for k in graph.nodes}
    pred = {k: [a for a, b in graph.edges if b == k] for k in graph.nodes}

    def one(node: str, kinds: tuple[type, ...], what: str) -> tuple[str | None, Violation | None]:
        nxt = succ[node]
        if len(nxt) != 1 or not isinstance(graph.nodes[nxt[0]], kinds):
            found = f"feeds {nxt or 'nothing'}"
            return None, Violation(node, "graph shape", found, f"{SHAPE}: this node must feed exactly one {what}")
        return nxt[0], None

    names: dict[str, Any] = {"w_in": None, "hidden": [], "w_rec": [], "w_hidden": [], "w_out": None, "out": None}
    names["w_in"], v = one(inp, weights, "Linear/Affine (the input weights)")
    if v:
        return names, [v]
    layer, v = one(names["w_in"], neurons, "neuron layer (Xylo's hidden population)")
    if v:
        return names, [v]
    while True:  # hidden layers in a chain, each with at most one recurrent Linear, until a layer that feeds the Output
        rec = [k for k in succ[layer] if isinstance(graph.nodes[k], weights) and succ[k] == [layer]]
        fwd = [k for k in succ[layer] if k not in rec]
        if len(rec) > 1 or len(fwd) != 1 or not isinstance(graph.nodes[fwd[0]], weights):
            return names, [Violation(layer, "graph shape", f"feeds {succ[layer]}",
                                     f"{SHAPE}: a hidden layer feeds one Linear/Affine forward and at most one back to itself")]
        names["hidden"].append(layer)
        names["w_rec"].append(rec[0] if rec else None)
        nxt, v = one(fwd[0], neurons, "neuron layer (Xylo's hidden or output population)")
        if v:
            return names, [v]
        if outp in succ[nxt] or nxt in names["hidden"]:
            names["w_out"], names["out"] = fwd[0], nxt
            break
        names["w_hidden"].append(fwd[0])
        layer = nxt
    if succ[names["out"]] != [outp]:
        return names, [Violation(names["out"], "graph shape", f"feeds {succ[names['out']]}",
                                 f"{SHAPE}: output neurons feed only the Output (xylo_mapper.output_neurons_cannot_be_recurrent)")]
    feeds = [names["w_in"], *names["w_hidden"]]
    expected = {h: sorted(filter(None, [f, r])) for h, f, r in zip(names["hidden"], feeds, names["w_rec"])}
    expected[names["out"]] = [names["w_out"]]
    for node, preds in expected.items():
        if sorted(pred[node]) != preds:
            return names, [Violation(node, "graph shape", f"fed by {sorted(pred[node])}", f"{SHAPE}: fed only by {preds}")]
    used = {names["w_in"], names["w_out"], names["out"], *names["hidden"], *names["w_hidden"], *filter(None, names["w_rec"])}
    extra = sorted(set(graph.nodes) - {inp, outp, *used})
    if extra:
        return names, [Violation(extra[0], "graph shape", "not on Xylo's input -> hidden -> output path", SHAPE)]
    return names, []


def _population(name: str, node: Any, n: int, hidden: bool) -> tuple[_Population | None, list[Violation]]:
    """Xylo's float parameters for neuron node ``name`` (n neurons, hidden or output) and the rules it breaks."""
    neuron = neuron_from_node(node)
    full = lambda v: np.broadcast_to(values(v), (n,)).astype(np.float64)  # noqa: E731
    violations, approximated = [], []
    cuba = neuron.model is Model.CUBA_LIF
    if neuron.model not in (Model.CUBA_LIF, Model.LIF, Model.IF):
        return None, [Violation(name, "neuron model", neuron.model.value, "current-based LIF (LIF and IF approximated)")]
    beta = full(neuron.decay.beta)
    alpha = full(neuron.syn_decay.beta) if cuba else np.zeros(n)
    dash_mem = _dash(beta)
    dash_syn = _dash(alpha) if cuba else np.ones(n, int)
    for what, b, d in (("membrane", beta, dash_mem), ("synaptic", alpha, dash_syn)):
        if (what == "synaptic" and not cuba) or d.min() >= 1:
            continue
        k = int(np.argmin(d))
        violations.append(Violation(name, "decay", f"{what} decay {b[k]:.4g} (neuron {k}) rounds to dash 0",
                                    "dash = round(-log2(1 - decay)) in 1..15, decay >= 1 - 2^-0.5 = 0.293 "
                                    "(xylo_graph_modules.Xylo2Neurons._convert_from: tau > dt; XyloIAFNeuron.h: 4-bit dash)"))
    threshold = full(neuron.threshold)
    if threshold.min() <= 0:
        violations.append(Violation(name, "threshold", f"threshold {threshold.min():g}", "> 0 (Xylo fires at v >= threshold)"))
    if not cuba:
        approximated.append(f"{name}: {neuron.model.value} has no synaptic current; Xylo's i = (1 - 2^-dash_syn)(i + W x) "
                            "with dash_syn = 1 spreads each input over later steps")
    if cuba and neuron.synapse_order is SynapseOrder.MEMBRANE_FIRST:
        approximated.append(f"{name}: membrane-first synapse: Xylo's current reaches the membrane in the step it arrives")
    if neuron.reset is not ResetMode.SUBTRACT:
        approximated.append(f"{name}: reset={neuron.reset.value}: Xylo subtracts the threshold")
    if neuron.reset_timing is not ResetTiming.SAME_STEP:
        approximated.append(f"{name}: reset_timing={neuron.reset_timing.value}: Xylo resets with this step's spikes")
    if neuron.v_init != 0.0 or neuron.v_min is not None:
        approximated.append(f"{name}: v_init/v_min: Xylo starts at 0 and has no lower bound")
    if hidden and not (neuron.spike_fn is SpikeFn.MULTI or (neuron.spike_fn is SpikeFn.MAX and neuron.max_spikes == MAX_HIDDEN_SPIKES)):
        approximated.append(f"{name}: spike_fn={neuron.spike_fn.value}: Xylo's hidden neurons fire floor(v / threshold) spikes "
                            f"(at most {MAX_HIDDEN_SPIKES}) per step")
    if not hidden and neuron.spike_fn is not SpikeFn.SINGLE:
        approximated.append(f"{name}: spike_fn={neuron.spike_fn.value}: Xylo's output neurons fire one spike per step")
    alpha_xylo = _xylo_decay(dash_syn)
    gain = full(neuron.input_gain) * (full(neuron.syn_input_gain) if cuba else 1.0)
    # without a synaptic current (LIF, IF), Xylo's current delivers alpha W x, alpha^2 W x, ...: W (1 - alpha) / alpha
    # keeps the charge g W x, spread over later steps
    fold = np.divide(gain * (1.0 if cuba else 1.0 - alpha_xylo), alpha_xylo, out=np.zeros(n), where=alpha_xylo > 0)
    bias = (1.0 - beta) * full(neuron.v_leak)
    strict = np.full(n, neuron.compare is Compare.GT)
    return _Population(name, neuron, beta, alpha, dash_mem, dash_syn, fold, threshold, bias, strict, approximated), violations


def _plan(graph: nir.NIRGraph) -> _Plan:
    """The graph on Xylo's three weight matrices. Hidden layers in a chain share Xylo's one hidden
    population: layer j + 1 hears layer j through the recurrent weights, which deliver the
    previous step's spikes, so each hidden layer after the first lags one step more; the whole
    network's output lags ``delay`` steps (one per hidden layer, the last into the output layer
    included) and is otherwise the same."""
    graph = nir_graph.flatten(graph)
    names, violations = _match(graph)
    if violations:
        return _Plan(violations, names)
    nodes = graph.nodes
    w_in, b_in = _weights(nodes[names["w_in"]])
    w_out, b_out = _weights(nodes[names["w_out"]])
    between = [_weights(nodes[k]) for k in names["w_hidden"]]
    sizes = [w_in.shape[0], *(w.shape[0] for w, _ in between)]
    recs = [_weights(nodes[k]) if k else (np.zeros((n, n)), None) for k, n in zip(names["w_rec"], sizes)]
    n_in, n_h, n_out = w_in.shape[1], sum(sizes), w_out.shape[0]
    inp = nir_graph._io_names(graph)[0]
    first_rec = next((k for k in [*names["w_rec"], *names["w_hidden"]] if k), None)
    shapes_ok = (all(r.shape == (n, n) for (r, _), n in zip(recs, sizes)) and w_out.shape[1] == sizes[-1]
                 and all(w.shape[1] == n for (w, _), n in zip(between, sizes)))
    if not shapes_ok:
        return _Plan([Violation(first_rec or names["w_out"], "graph shape", f"hidden layers of {sizes} neurons fed by weights "
                                f"{[r.shape for r, _ in recs]} (recurrent), {[w.shape for w, _ in between]} (between), {w_out.shape} (out)",
                                "square recurrent weights per hidden layer, each layer's weights sized by the layer before")], names)
    start = np.cumsum([0, *sizes])
    w_rec = np.zeros((n_h, n_h))
    for j, (r, _) in enumerate(recs):  # rows: receiving neurons; columns: sending neurons
        w_rec[start[j]:start[j + 1], start[j]:start[j + 1]] = r
    for j, (w, _) in enumerate(between):
        w_rec[start[j + 1]:start[j + 2], start[j]:start[j + 1]] = w
    w_in_full = np.zeros((n_h, n_in))
    w_in_full[:sizes[0]] = w_in
    w_out_full = np.zeros((n_out, n_h))
    w_out_full[:, start[-2]:] = w_out
    limits = [(inp, "input channels", n_in, MAX_INPUTS, "xylo_mapper.le_16_input_channels"),
              (names["hidden"][0], "hidden neurons", n_h, MAX_HIDDEN, "xylo_mapper.mapper(max_hidden_neurons=1000)"),
              (names["out"], "output neurons", n_out, MAX_OUTPUTS, "xylo_mapper.le_8_output_channels")]
    violations += [Violation(k, rule, f"{n} {rule}", f"{limit} ({src})") for k, rule, n, limit, src in limits if n > limit]
    # fan-in per crossbar: a hidden neuron takes <= 16 input and <= 1000 recurrent synapses, an output neuron <= 1000
    for key, w, limit, what in ((names["w_in"], w_in_full, MAX_INPUTS, "input channels"), (first_rec, w_rec, MAX_HIDDEN, "hidden neurons"),
                                (names["w_out"], w_out_full, MAX_HIDDEN, "hidden neurons")):
        fan = np.count_nonzero(w, axis=1)
        if key and fan.size and fan.max() > limit:
            violations.append(Violation(key, "fan-in", f"neuron {int(np.argmax(fan))} receives {int(fan.max())} connections",
                                        f"{limit} from the {what} (dense crossbar of xylo_mapper.mapper: weights_in (16, 1000), "
                                        "weights_rec (1000, 1000), weights_out (1000, 8))"))
    biased = [(names["w_in"], b_in), *zip(names["w_rec"], (b for _, b in recs)), *zip(names["w_hidden"], (b for _, b in between)),
              (names["w_out"], b_out)]
    for key, b in biased:
        if key and b is not None and np.any(b != 0):
            violations.append(Violation(key, "weight bias", f"bias with max |b| = {np.abs(b).max():.4g}",
                                        "none: Xylo's weights carry no bias (xylo_mapper.weight_nodes_have_no_biases)"))
    counts = dict(zip(names["hidden"], sizes)) | {names["out"]: n_out}
    for key, n in counts.items():
        count = np.size(nodes[key].v_threshold)
        if count not in (1, n):
            violations.append(Violation(key, "graph shape", f"{count} neurons", f"{n}, the size of the weights that feed it"))
    if any(v.rule == "graph shape" for v in violations):
        return _Plan(violations, names)
    layers = [_population(k, nodes[k], counts[k], True) for k in names["hidden"]]
    out, v_o = _population(names["out"], nodes[names["out"]], n_out, False)
    violations += [v for _, vs in layers for v in vs] + v_o
    if any(pop is None for pop, _ in layers) or out is None:
        return _Plan(violations, names)
    pops = [pop for pop, _ in layers]
    dts = {pop.name: d for pop in (*pops, out) for d in (pop.neuron.decay.dt, pop.neuron.syn_decay.dt) if d is not None}
    distinct = sorted(set(dts.values()))
    if len(distinct) > 1 and not np.allclose(distinct, distinct[0]):
        first = next(iter(dts))
        violations += [Violation(k, "common dt", f"dt = {d:g} s", f"one dt for every neuron ({first!r} has {dts[first]:g} s; "
                                 "xylo_mapper.all_neurons_have_same_dt)") for k, d in dts.items() if not np.isclose(d, dts[first])]
    hidden = _concat(pops)
    plan = _Plan(violations, names, w_in_full.T * hidden.fold, w_rec.T * hidden.fold, w_out_full.T * out.fold, hidden, out,
                 distinct[0] if distinct else DEFAULT_DT, len(sizes), sizes)
    violations += _bit_widths(plan)
    return plan


def _scale(*arrays: np.ndarray) -> float:
    """global_quantize's scale: 127 / max |w| over the group (biases included), 1 when all are 0."""
    top = max(float(np.abs(a).max()) if a.size else 0.0 for a in arrays)
    return MAX_W / top if top > 0 else 1.0


def _int_threshold(pop: _Population, scale: float) -> np.ndarray:
    """Integer threshold for Xylo's v >= th: ceil(theta s) for v >= theta, floor(theta s) + 1 for v > theta."""
    x = np.round(pop.threshold * scale, 9)
    return np.where(pop.strict, np.floor(x) + 1, np.ceil(x)).astype(np.int64)


def _bit_widths(plan: _Plan) -> list[Violation]:
    """Thresholds must fit 16 bits at the 8-bit weight scale, and no layer may quantise to all zeros."""
    violations = []
    rec = next((k for k in [*plan.names["w_rec"], *plan.names["w_hidden"]] if k), None)
    for pop, group, weights in ((plan.hidden, (plan.w_in, plan.w_rec, plan.hidden.bias), ((plan.names["w_in"], plan.w_in), (rec, plan.w_rec))),
                                (plan.out, (plan.w_out, plan.out.bias), ((plan.names["w_out"], plan.w_out),))):
        scale = _scale(*group)
        th = _int_threshold(pop, scale)
        if th.max() > MAX_TH:
            k = int(np.argmax(th))
            violations.append(Violation(pop.name, "threshold bit width",
                                        f"threshold {pop.threshold[k]:.4g} is {th[k]} at the weight scale {scale:.4g} ({math.ceil(math.log2(th[k] + 1)) + 1} bits)",
                                        f"{THRESHOLD_BITS}-bit signed thresholds, <= {MAX_TH} (quantize_methods.global_quantize bits_per_threshold=16; "
                                        "xylosim int16_t v_th)"))
        for key, w in weights:
            if key and np.any(w != 0) and not np.any(np.round(w * scale)):
                violations.append(Violation(key, "weight bit width", f"every weight rounds to 0 at the scale {scale:.4g} (max |w| {np.abs(w).max():.3g})",
                                            f"{WEIGHT_BITS}-bit signed weights shared by the input and recurrent layer (global_quantize)"))
    return violations


def check(graph: nir.NIRGraph) -> list[Violation]:
    """Every Xylo design rule the graph breaks (CHECKS), each naming the node and the limit."""
    return _plan(graph).violations


def _rockpool_graph(plan: _Plan) -> Any:
    """The plan as a rockpool graph (LinearWeights, LIFNeuronWithSynsRealValue) with tau = dt 2^dash,
    so that rockpool's own conversion dash = log2(tau / dt) recovers the dashes."""
    with _samna_blocked():
        from rockpool.graph import GraphHolder, LIFNeuronWithSynsRealValue, LinearWeights, connect_modules

    def neurons(pop: _Population, tag: str) -> Any:
        n = pop.beta.size
        return LIFNeuronWithSynsRealValue._factory(n, n, tag, None, (plan.dt * 2.0 ** pop.dash_mem).tolist(),
                                                   (plan.dt * 2.0 ** pop.dash_syn).tolist(), pop.threshold.tolist(), pop.bias.tolist(), plan.dt)

    w_in = LinearWeights._factory(*plan.w_in.shape, "weights_in", None, plan.w_in)
    hidden = neurons(plan.hidden, "hidden")
    connect_modules(w_in, hidden)
    if any(plan.names["w_rec"]) or plan.names["w_hidden"]:
        LinearWeights(hidden.output_nodes, hidden.input_nodes, "weights_rec", None, plan.w_rec)
    w_out = LinearWeights._factory(*plan.w_out.shape, "weights_out", None, plan.w_out)
    connect_modules(hidden, w_out)
    out = neurons(plan.out, "output")
    connect_modules(w_out, out)
    return GraphHolder(w_in.input_nodes, out.output_nodes, "xylo", None)


@dataclass
class XyloDeployment:
    """A graph mapped and quantised for Xylo Audio 2: ``spec`` is rockpool's specification
    (``mapper`` then ``global_quantize``) and runs on XyloSim."""

    spec: dict[str, Any]
    plan: _Plan
    scales: dict[str, float]
    simulator: str = ""
    bound: dict[str, float] = field(default_factory=lambda: dict(BOUND))

    def save(self, out: Path) -> list[Path]:
        """``xylo_spec.npz`` (the integer arrays) and ``xylo_spec.json`` (scalars, aliases, what
        each array is); read back with :func:`load_specification`."""
        return save_specification(self.spec, Path(out), {"scales": self.scales, "nodes": self.plan.names, "output_delay_steps": self.plan.delay,
                                                           "approximated": self.approximated})

    @property
    def approximated(self) -> list[str]:
        return self.plan.hidden.approximated + self.plan.out.approximated

    def _evolve(self, x: torch.Tensor, record: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """XyloSim on spikes ``x`` [T, B, n_in] for T + ``plan.delay`` steps (the input then silent):
        output spikes [T + delay, B, n_out] and, with ``record``, the hidden population's [T + delay, B, n_hidden]."""
        steps, batch, delay = x.shape[0], x.shape[1], self.plan.delay
        raster = np.concatenate([x.reshape(steps, batch, -1).numpy(), np.zeros((delay, batch, self.plan.w_in.shape[0]))]).astype(int)
        outs, hidden = [], []
        for b in range(batch):
            sim = _simulator(self.spec)
            out, _, rec = sim.evolve(raster[:, b], record=record)
            outs.append(np.asarray(out, np.float64))
            if record:
                hidden.append(np.asarray(rec["Spikes"], np.float64))
        return np.stack(outs, axis=1), np.stack(hidden, axis=1) if record else None

    def simulate(self, x: torch.Tensor) -> torch.Tensor:
        """XyloSim on spikes ``x`` [T, B, n_in]: output spikes [T, B, n_out]. Xylo delivers hidden
        spikes to the next hidden layer and to the output layer one step later, so the output lags
        one step per hidden layer (``plan.delay``): it runs T + delay steps and drops the first delay."""
        return torch.from_numpy(self._evolve(x, record=False)[0][self.plan.delay:])

    def layer_spikes(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each neuron layer's spikes [T, B, n] on XyloSim, by NIR neuron node, aligned with the
        float network's: hidden layer j is its slice of the hidden population read j steps late
        (it hears layer j - 1 one step later), the output ``plan.delay`` steps late. A hidden
        neuron may fire up to 31 spikes in a step: its count."""
        steps, delay = x.shape[0], self.plan.delay
        out, hidden = self._evolve(x, record=True)
        names = self.plan.names["hidden"]
        start = np.cumsum([0, *self.plan.sizes])
        layers = {name: torch.from_numpy(hidden[j:j + steps, :, start[j]:start[j + 1]]) for j, name in enumerate(names)}
        return layers | {self.plan.names["out"]: torch.from_numpy(out[delay:delay + steps])}

    def chip_weights(self, graph: nir.NIRGraph) -> nir.NIRGraph:
        """``graph`` (the one built) with each weight node's weights replaced by the values the chip
        applies, back in the graph's units: ``w_int / s / fold`` (``s`` the layer's 8-bit scale,
        ``fold`` the synaptic factor of the receiving neuron, module doc). Run in float it shows
        how much of the chip's mismatch the 8-bit weights cause alone."""
        p, spec = self.plan, self.spec
        names = p.names
        scale_h = self.scales["hidden"] / 2.0 ** int(spec["weight_shift_in"])  # global_quantize's scale: the 8-bit integers'
        scale_o = self.scales["output"] / 2.0 ** int(spec["weight_shift_out"])
        w_in = np.squeeze(spec["weights_in"], -1) / scale_h / p.hidden.fold  # (n_in, n_hidden), receivers in columns
        w_rec = np.squeeze(spec["weights_rec"], -1) / scale_h / p.hidden.fold  # (sender, receiver)
        w_out = np.asarray(spec["weights_out"]) / scale_o / p.out.fold
        sizes = p.sizes
        start = np.cumsum([0, *sizes])
        blocks = {names["w_in"]: w_in[:, :sizes[0]], names["w_out"]: w_out[start[-2]:]}
        for j, key in enumerate(names["w_rec"]):
            if key:
                blocks[key] = w_rec[start[j]:start[j + 1], start[j]:start[j + 1]]
        for j, key in enumerate(names["w_hidden"]):
            blocks[key] = w_rec[start[j]:start[j + 1], start[j + 1]:start[j + 2]]
        return nir_graph.with_weights(graph, {key: block.T for key, block in blocks.items()})  # NIR's (out, in)

    def figures(self) -> dict[str, Any]:
        """Quantisation figures: max |w_int / s - w| / max |w| per layer, thresholds likewise,
        bit widths, scales, and the dashes' decays 1 - 2^-dash against the float decays."""
        p, s = self.plan, self.spec
        w_err = lambda q, w, scale: float(np.abs(q / scale - w).max() / np.abs(w).max()) if np.any(w) else 0.0  # noqa: E731
        th_err = lambda q, pop, scale: float(np.abs(q / scale - pop.threshold).max() / np.abs(pop.threshold).max())  # noqa: E731
        h, o = self.scales["hidden"], self.scales["output"]
        shift = lambda q, key: np.asarray(q, np.float64) * 2.0 ** s[key]  # noqa: E731 - the weight as the chip adds it
        decay_err = lambda dash, b: float(np.abs(_xylo_decay(np.asarray(dash)) - b).max())  # noqa: E731
        return {
            "weight_rel_err_in": w_err(shift(np.squeeze(s["weights_in"], -1), "weight_shift_in"), p.w_in, h),
            "weight_rel_err_rec": w_err(shift(np.squeeze(s["weights_rec"], -1), "weight_shift_rec"), p.w_rec, h),
            "weight_rel_err_out": w_err(shift(s["weights_out"], "weight_shift_out"), p.w_out, o),
            "threshold_rel_err_hidden": th_err(s["threshold"], p.hidden, h),
            "threshold_rel_err_out": th_err(s["threshold_out"], p.out, o),
            "weight_scale_hidden": h, "weight_scale_out": o,
            "weight_shift_hidden": int(s["weight_shift_in"]), "weight_shift_out": int(s["weight_shift_out"]),
            "weight_bits": WEIGHT_BITS, "threshold_bits": THRESHOLD_BITS,
            "threshold_max": int(max(np.max(s["threshold"]), np.max(s["threshold_out"]))),
            "dash_mem": sorted({int(d) for d in s["dash_mem"]}), "dash_syn": sorted({int(d) for d in s["dash_syn"]}),
            "dash_mem_out": sorted({int(d) for d in s["dash_mem_out"]}), "dash_syn_out": sorted({int(d) for d in s["dash_syn_out"]}),
            "decay_abs_err_mem": max(decay_err(s["dash_mem"], p.hidden.beta), decay_err(s["dash_mem_out"], p.out.beta)),
            "decay_abs_err_syn": max(decay_err(s["dash_syn"], p.hidden.alpha), decay_err(s["dash_syn_out"], p.out.alpha)),
            "approximated": self.approximated,
        }


def _simulator(spec: dict[str, Any]) -> Any:
    chip = rockpool_chip()
    args = {k: spec[k] for k in (*SPEC_ARRAYS, *SPEC_SCALARS)}
    args["aliases"] = spec["aliases"]
    return chip.XyloSim.from_specification(**args)


def build(graph: nir.NIRGraph) -> XyloDeployment:
    """Map ``graph`` (which passed :func:`check`) with rockpool's ``mapper`` and quantise it with
    ``global_quantize``; thresholds are then set exactly for the comparison (see module doc)."""
    plan = _plan(graph)
    if plan.violations:
        raise ValueError("build() needs a graph that passes check(): " + "; ".join(map(str, plan.violations)))
    chip = rockpool_chip()
    with _samna_blocked():
        from rockpool.transform.quantize_methods import global_quantize

    spec = chip.mapper(_rockpool_graph(plan), weight_dtype="float", threshold_dtype="float", dash_dtype="float")
    spec.pop("mapped_graph")
    spec.update(global_quantize(**spec, bits_per_weight=WEIGHT_BITS, bits_per_threshold=THRESHOLD_BITS))
    scales = {"hidden": _scale(plan.w_in, plan.w_rec, plan.hidden.bias), "output": _scale(plan.w_out, plan.out.bias)}
    # exact integer comparison, and bias_out at the output scale (global_quantize scales it by the hidden one)
    # weight shifts: w_int << k with thresholds 2^k higher keep the state's truncating bit-shift
    # decay (v -= v >> dash, at least 1 LSB) small against the threshold
    for layer, pop, keys in (("hidden", plan.hidden, ("weight_shift_in", "weight_shift_rec")), ("output", plan.out, ("weight_shift_out",))):
        top = int(_int_threshold(pop, scales[layer]).max())
        shift = max(0, min(MAX_SHIFT, math.floor(math.log2(STATE_HEADROOM / top)))) if top > 0 else 0
        spec.update(dict.fromkeys(keys, shift))
        scales[layer] *= 2 ** shift
    spec["threshold"] = _int_threshold(plan.hidden, scales["hidden"])
    spec["threshold_out"] = _int_threshold(plan.out, scales["output"])
    spec["bias"] = np.round(plan.hidden.bias * scales["hidden"]).astype(int)
    spec["bias_out"] = np.round(plan.out.bias * scales["output"]).astype(int)
    spec = {k: (np.asarray(v).astype(np.int64) if k in SPEC_ARRAYS else v) for k, v in spec.items()}
    return XyloDeployment(spec, plan, scales, f"XyloSim (xylosim {dist_version('xylosim')}, rockpool {dist_version('rockpool')})")


_ARRAY_DOCS = {
    "weights_in": "int8 (n_in, n_hidden, 1): input -> hidden synapse 1",
    "weights_rec": "int8 (n_hidden, n_hidden, 1): hidden -> hidden (delivered next step)",
    "weights_out": "int8 (n_hidden, n_out): hidden -> output (delivered next step)",
    "dash_mem": "4-bit (n_hidden,): membrane decay v -= v >> dash_mem",
    "dash_mem_out": "4-bit (n_out,)", "dash_syn": "4-bit (n_hidden,): synapse-1 decay i -= i >> dash_syn",
    "dash_syn_2": "4-bit (n_hidden,): synapse 2 (unused)", "dash_syn_out": "4-bit (n_out,)",
    "threshold": "int16 (n_hidden,): spike while v >= threshold, v -= threshold", "threshold_out": "int16 (n_out,)",
    "bias": "int16 (n_hidden,): added to v each step", "bias_out": "int16 (n_out,)",
}


def save_specification(spec: dict[str, Any], out: Path, info: dict[str, Any] | None = None) -> list[Path]:
    """Write ``out/xylo_spec.npz`` (integer arrays, names as rockpool's ``mapper`` returns them) and
    ``out/xylo_spec.json`` (scalars, aliases, array docs, and ``info``)."""
    out.mkdir(parents=True, exist_ok=True)
    arrays, meta = out / "xylo_spec.npz", out / "xylo_spec.json"
    np.savez(arrays, **{k: np.asarray(spec[k], np.int64) for k in SPEC_ARRAYS})
    doc = {"format": "snn-interop xylo specification 1", "chip": CHIP, "arrays": _ARRAY_DOCS,
           "scalars": {k: spec[k] for k in SPEC_SCALARS}, "aliases": spec["aliases"],
           "load": "snn_interop_plugins.xylo.load_specification(path) -> dict for XyloSim.from_specification(**spec) "
                   "or (with samna) rockpool.devices.xylo.syns61201.config_from_specification",
           **(info or {})}
    meta.write_text(json.dumps(doc, indent=2, default=lambda v: v.item() if hasattr(v, "item") else str(v)) + "\n")
    return [arrays, meta]


def load_specification(path: str | Path) -> dict[str, Any]:
    """The specification saved by :func:`save_specification` (a directory, or either file), as the
    keyword arguments of rockpool's ``XyloSim.from_specification``."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    doc = json.loads((folder / "xylo_spec.json").read_text())
    with np.load(folder / "xylo_spec.npz") as arrays:
        spec: dict[str, Any] = {k: arrays[k] for k in SPEC_ARRAYS}
    spec.update(doc["scalars"])
    spec["aliases"] = doc["aliases"]
    return spec
