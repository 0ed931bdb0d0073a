"""Folding a per-channel affine into the weight layer before it, for hardware that has no layer
of its own for one.

A BatchNorm is written to NIR as the per-channel affine y = a x + c it computes at inference
(:mod:`snn_interop.nir.layers`): a depthwise kernel-1 convolution, or an Affine with a diagonal
weight. A chip maps weight layers followed by neurons, so before the hand-off such an affine
whose only input is a Linear, Affine, Conv1d or Conv2d (which feeds nothing else) is folded
into it: with z = W x + b, a z + c = (a W) x + (a b + c), row by row (output channel by output
channel). The folded weights are computed in float64 and rounded once to the node's dtype; the
hand-off's check runs the unfolded graph, so what folding changes is measured with the rest.
"""
from __future__ import annotations

import copy
from typing import Any

import nir
import numpy as np

WEIGHTED = (nir.Linear, nir.Affine, nir.Conv1d, nir.Conv2d)


def channel_affine(node: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(a, c) when ``node`` computes y = a x + c per channel, else None: an Affine whose weight
    is square and diagonal, or a kernel-1 depthwise Conv1d/Conv2d (groups = channels, stride 1,
    no padding, dilation 1)."""
    if isinstance(node, nir.Affine):
        w = np.asarray(node.weight)
        if w.ndim == 2 and w.shape[0] == w.shape[1] and np.array_equal(w, np.diag(np.diag(w))):
            return np.diag(w).copy(), np.asarray(node.bias).copy()
        return None
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        w = np.asarray(node.weight)
        plain = (np.all(np.asarray(node.stride) == 1) and not isinstance(node.padding, str) and np.all(np.asarray(node.padding) == 0)
                 and np.all(np.asarray(node.dilation) == 1))
        if plain and int(node.groups) == w.shape[0] and w.shape[1] == 1 and all(k == 1 for k in w.shape[2:]):
            bias = np.asarray(node.bias) if node.bias is not None and np.asarray(node.bias).size else np.zeros(w.shape[0], w.dtype)
            return w.reshape(-1).copy(), bias.copy()
    return None


def _folded(node: Any, a: np.ndarray, c: np.ndarray) -> Any:
    """``node`` (a weight layer) followed by y = a z + c, as one node of the same kind (a Linear becomes an Affine)."""
    w = np.asarray(node.weight)
    b = np.asarray(getattr(node, "bias", None) if getattr(node, "bias", None) is not None else np.zeros(w.shape[0]))
    if b.size == 0:
        b = np.zeros(w.shape[0])
    shape = (-1,) + (1,) * (w.ndim - 1)
    weight = (a.astype(np.float64).reshape(shape) * w.astype(np.float64)).astype(w.dtype)
    bias = (a.astype(np.float64) * b.astype(np.float64) + c.astype(np.float64)).astype(w.dtype)
    if isinstance(node, (nir.Linear, nir.Affine)):
        return nir.Affine(weight=weight, bias=bias)
    out = copy.deepcopy(node)
    out.weight, out.bias = weight, bias
    return out


def fold(graph: nir.NIRGraph) -> tuple[nir.NIRGraph, list[dict[str, str]]]:
    """A copy of ``graph`` with every foldable per-channel affine folded into the weight layer
    before it (see the module docstring), and one note per fold: ``{"node", "into", "note"}``.
    Nothing else changes; a graph with nothing to fold comes back equal."""
    nodes, edges = dict(graph.nodes), list(graph.edges)
    notes: list[dict[str, str]] = []
    for name in list(nodes):
        affine = channel_affine(nodes[name])
        preds = [a for a, b in edges if b == name]
        if affine is None or len(preds) != 1 or not isinstance(nodes[preds[0]], WEIGHTED):
            continue
        pred = preds[0]
        if [b for a, b in edges if a == pred] != [name] or len(affine[0]) != np.asarray(nodes[pred].weight).shape[0]:
            continue
        nodes[pred] = _folded(nodes[pred], *affine)
        edges = [(a, b) for a, b in edges if (a, b) != (pred, name)]
        edges = [(pred if a == name else a, b) for a, b in edges]
        del nodes[name]
        notes.append({"node": name, "into": pred,
                      "note": f"per-channel affine {name!r} ({type(graph.nodes[name]).__name__}) folded into {pred!r}: "
                              "weights scaled by a per output channel, bias a b + c"})
    if not notes:
        return graph, notes
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=dict(getattr(graph, "metadata", None) or {})), notes
