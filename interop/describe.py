"""What a NIR file holds, in the terms snn-interop reads it with (``snn-interop inspect``).

Each node with its type, its shape and what it computes: a neuron as its canonical model and
conventions (from our metadata, or the defaults a plain NIR node is read with), a layer with its
sizes, and the groups snn-interop writes for what NIR has no node for (a BatchNorm's per-channel
affine, a max pool of spikes); then the graph's notes and embedded reference.
"""
from __future__ import annotations

from typing import Any

import nir
import numpy as np

from snn_interop.graph import topological_order
from snn_interop.nir import metadata
from snn_interop.nir.fold import channel_affine
from snn_interop.nir.graph import _io_names, export_notes, flatten, note_lines
from snn_interop.nir.layers import LAYER_KEY, MAX_POOL_OF_SPIKES, UNREAD, _ints
from snn_interop.nir.neurons import NEURON_NODES, NirDefaults, neuron_from_node
from snn_interop.plugin_api import show
from snn_interop.spec.neurons import Model, Neuron, ResetMode, SpikeFn


def neuron_text(n: Neuron) -> str:
    """One line: model, decays, threshold and comparison, reset, surrogate."""
    parts = [n.model.value]
    if n.model is not Model.IF:
        parts.append(f"beta {show(n.decay.beta)}")
    if n.has_synapse:
        parts.append(f"current decay alpha {show(n.syn_decay.beta)}")
    if n.model is Model.ADAPTIVE_LIF:
        parts.append(f"adaptation rho {show(n.adapt_decay.beta)} x {n.adapt_scale:g}")
    if n.spikes:
        several = {SpikeFn.MULTI: " (floor(v / threshold) spikes per step)",
                   SpikeFn.MAX: f" (floor(v / threshold) spikes per step, at most {n.max_spikes})"}
        parts.append(f"fires at v {n.compare.value} {show(n.threshold)}" + several.get(n.spike_fn, ""))
        reset = {ResetMode.SUBTRACT: "subtracts the threshold", ResetMode.TO_VALUE: f"resets to {show(n.v_reset)}",
                 ResetMode.NONE: "no reset"}[n.reset]
        if n.reset is not ResetMode.NONE:
            reset += f" ({n.reset_timing.value.replace('_', ' ')}{', detached' if n.detach_reset else ''})"
        parts += [reset, f"surrogate {n.surrogate!r}"]
    else:
        parts.append("does not fire")
    return ", ".join(parts)


def _shape(array: Any) -> str:
    return "x".join(str(int(s)) for s in np.asarray(array).shape)


def _window(node: Any) -> str:
    """A pooling node's kernel as "kh x kw": NIR writers store it as a pair or as one number (spikingjelly)."""
    return "x".join(map(str, _ints(node.kernel_size, 2)))


def _layer_text(name: str, node: Any, notes: dict[str, str]) -> str:
    meta = getattr(node, "metadata", None) or {}
    if meta.get(LAYER_KEY) == MAX_POOL_OF_SPIKES:
        if isinstance(node, nir.Threshold):
            return "end of the max pool of spikes before it (1 where the window holds a spike)"
        return f"max pool of spikes, {_window(node)} windows (each window's spike count; with {name}_max)"
    if channel_affine(node) is not None and name in notes:
        return f"per-channel affine y = a x + c: a {notes[name]} at inference"
    if isinstance(node, (nir.Linear, nir.Affine)):
        return f"weights {_shape(node.weight)}" + (", bias" if isinstance(node, nir.Affine) else "")
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        return (f"convolution {_shape(node.weight)}, stride {np.asarray(node.stride).tolist()}, padding "
                f"{node.padding if isinstance(node.padding, str) else np.asarray(node.padding).tolist()}, groups {int(node.groups)}")
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        return f"{'sum' if isinstance(node, nir.SumPool2d) else 'average'} pooling, {_window(node)} windows"
    if isinstance(node, nir.Flatten):
        return f"flatten dims {node.start_dim}..{node.end_dim}"
    if isinstance(node, nir.Scale):
        return f"elementwise scale {_shape(node.scale)}"
    if isinstance(node, nir.Input):
        return f"input, {'x'.join(str(int(s)) for s in node.input_type['input'])} per step"
    if isinstance(node, nir.Output):
        return f"output, {'x'.join(str(int(s)) for s in node.output_type['output'])} per step"
    if type(node).__name__ in UNREAD:
        return f"{UNREAD[type(node).__name__]} (not read by snn-interop: converting this file stops here, exit 6)"
    return "(no torch layer in snn-interop)"


def describe(graph: nir.NIRGraph, defaults: NirDefaults = NirDefaults()) -> dict[str, Any]:
    """The graph as data: ``nodes`` [{name, type, inputs, meaning, metadata}], ``plain_neurons``
    (neuron nodes read with ``defaults``: no snn-interop metadata), ``notes``, ``reference``
    (``snn-interop inspect --target`` adds ``targets``: {name: {chip, violations}})."""
    from snn_interop import reference

    flat = flatten(graph)
    input_name, _ = _io_names(flat)
    order, _ = topological_order(list(flat.nodes), list(flat.edges), input_name)
    notes = export_notes(graph)
    nodes, plain = [], []
    for name in order + [n for n in flat.nodes if n not in order]:  # unreachable nodes last
        node = flat.nodes[name]
        inputs = [a for a, b in flat.edges if b == name]
        if isinstance(node, NEURON_NODES):
            ours = metadata.KEY in (getattr(node, "metadata", None) or {})
            if not ours:
                plain.append(name)
            meaning, source = neuron_text(neuron_from_node(node, defaults)), "snn-interop metadata" if ours else "plain NIR"
            if not ours:
                meaning += " (read with the defaults below)"
        else:
            meaning, source = _layer_text(name, node, {n["layer"]: n["type"] for n in notes}), None
        nodes.append({"name": name, "type": type(node).__name__, "inputs": inputs, "meaning": meaning, "neuron_from": source})
    ref = reference.read_reference(graph)
    return {"nodes": nodes, "edges": len(flat.edges), "plain_neurons": plain,
            "defaults": {"dt": defaults.dt, "discretisation": defaults.discretisation.value, "reset": defaults.reset.value} if plain else None,
            "notes": notes, "reference": ref.summary() if ref is not None else None}


def text(description: dict[str, Any], title: str) -> str:
    """The description as ``snn-interop inspect`` prints it."""
    d = description
    width = max(len(n["name"]) for n in d["nodes"])
    kinds = max(len(n["type"]) for n in d["nodes"])
    lines = [f"{title}: {len(d['nodes'])} nodes, {d['edges']} edges"]
    for n in d["nodes"]:
        fed = f"  <- {', '.join(n['inputs'])}" if n["inputs"] else ""
        lines.append(f"  {n['name']:<{width}}  {n['type']:<{kinds}}  {n['meaning']}{fed}")
    if d["plain_neurons"]:
        f = d["defaults"]
        lines.append(f"neurons without snn-interop metadata ({', '.join(d['plain_neurons'])}) are read as NIR says, with dt {f['dt']:g} s, "
                     f"{f['discretisation']} discretisation, reset {f['reset']} and, since NIR has none, the atan surrogate "
                     "(change the first three with --nir-dt, --nir-discretisation, --nir-reset)")
    lines += [f"written as: {line}" for line in note_lines(d["notes"])]
    lines.append(f"embedded {d['reference']}; check it with: snn-interop verify FILE" if d["reference"] else "no embedded reference")
    for target, fit in d.get("targets", {}).items():
        broken = fit["violations"]
        lines.append(f"fits {fit['chip']} (--to {target}): " + ("yes" if not broken else f"no, {len(broken)} design rule(s) broken:"))
        lines += [f"  - node {v['node']!r}: {v['rule']}: {v['found']} (limit: {v['limit']})" for v in broken]
    return "\n".join(lines)
