"""NIR files across nir releases: read a file a newer nir wrote, and write back what it held.

sinabs 3.1.3 pins ``nir<=1.0.4``, so the environment snn-interop shares with every framework has
nir 1.0.4 (docs/install.md). Later releases added fields to neuron nodes, and nir 1.0.8's
``nir.write`` writes them for every such node, so 1.0.4's ``nir.read`` refuses any file of a
current exporter that holds an IF, LIF or CubaLIF ("LIF.__init__() got an unexpected keyword
argument 'v_reset'"). :func:`read` reads those fields itself and hangs each on its node as
an attribute (``node.v_reset``, which :mod:`snn_interop.nir.neurons` reads), and
:func:`write` writes them back beside ``nir.write``'s, so nothing of the file is lost. With a
nir that has the fields both are nir's own ``read`` and ``write``.
"""
from __future__ import annotations

import dataclasses
import io
import pathlib
from typing import Any

import h5py
import nir
import numpy as np

#: fields of NIR nodes added after nir 1.0.4, by node type: the reset potential (nir 1.0.7)
NEWER_FIELDS = {"IF": ("v_reset",), "LIF": ("v_reset",), "CubaLIF": ("v_reset",)}

Target = str | pathlib.Path | io.IOBase


class NewerNodeType(ValueError):
    """A node type the installed nir does not define (a newer nir's, like 1.0.8's CubaLI)."""


def missing_fields(node_type: str) -> tuple[str, ...]:
    """The fields of ``node_type`` in :data:`NEWER_FIELDS` that the installed nir's class lacks."""
    cls = getattr(nir, node_type, None)
    have = {f.name for f in dataclasses.fields(cls)} if cls is not None and dataclasses.is_dataclass(cls) else set()
    return tuple(f for f in NEWER_FIELDS.get(node_type, ()) if f not in have)


def _strip(data: dict[str, Any], where: tuple[str, ...], extra: dict[tuple[str, ...], dict[str, Any]]) -> None:
    """Take the newer fields out of the node dicts in ``data`` (a graph's, recursively) into
    ``extra`` by node path; raise NewerNodeType for a node type nir does not define."""
    for name, node in data.get("nodes", {}).items():
        kind = node.get("type")
        if not hasattr(nir, str(kind)):
            raise NewerNodeType(f"node {'.'.join((*where, name))!r} is of type {kind}, which the installed nir "
                                f"{_version()} does not define (a newer nir wrote it)")
        fields = {f: node.pop(f) for f in missing_fields(kind) if f in node}
        if fields:
            extra[(*where, name)] = fields
        if kind == "NIRGraph":
            _strip(node, (*where, name), extra)


def _version() -> str:
    from importlib.metadata import version

    return version("nir")


def _node_at(graph: Any, where: tuple[str, ...]) -> Any:
    for name in where:
        graph = graph.nodes[name]
    return graph


def read(path: Target) -> Any:
    """The graph (or node) in a NIR file, newer fields included (module docstring)."""
    if not any(missing_fields(kind) for kind in NEWER_FIELDS):
        return nir.read(path)
    with h5py.File(path, "r") as f:
        data = nir.serialization.hdf2dict(f["node"])
    extra: dict[tuple[str, ...], dict[str, Any]] = {}
    if data.get("type") == "NIRGraph":
        _strip(data, (), extra)
    graph = nir.dict2NIRNode(data)
    for where, fields in extra.items():
        node = _node_at(graph, where)
        for field, value in fields.items():
            setattr(node, field, np.asarray(value))
    return graph


def _newer(graph: Any, where: tuple[str, ...] = ()) -> dict[tuple[str, ...], dict[str, Any]]:
    """The newer fields that nodes of ``graph`` carry as attributes, by node path."""
    found = {}
    for name, node in getattr(graph, "nodes", {}).items():
        fields = {f: getattr(node, f) for f in missing_fields(type(node).__name__) if getattr(node, f, None) is not None}
        if fields:
            found[(*where, name)] = fields
        if isinstance(node, nir.NIRGraph):
            found.update(_newer(node, (*where, name)))
    return found


def write(path: Target, graph: Any) -> None:
    """``nir.write``, and the newer fields its nodes carry (as :func:`read` gave them) beside their
    other fields, where nir's own layout puts them (``node/nodes/<name>/<field>``)."""
    nir.write(path, graph)
    extra = _newer(graph)
    if not extra:
        return
    if isinstance(path, io.IOBase):
        path.seek(0)
    with h5py.File(path, "r+") as f:
        for where, fields in extra.items():
            group = f["node"]
            for name in where:
                group = group["nodes"][name]
            for field, value in fields.items():
                group.create_dataset(field, data=np.asarray(value))
