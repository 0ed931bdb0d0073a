"""The namespaced, versioned metadata key that carries what NIR cannot express.

NIR nodes have no surrogate, reset mode, reset timing, threshold comparison, spike function,
detach rule or discretisation. snn-interop stores the whole canonical neuron as one JSON
string under ``metadata["snn_interop"]`` of each neuron node:

    {"schema": "snn_interop.neuron", "version": 1, "neuron": {<every Neuron field>}}

A JSON string (not nested HDF5 groups) so that every ``nir`` release reads it back as
plain data; readers that do not know the key ignore it.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from enum import Enum
from typing import Any

from snn_interop.spec import neurons as neuron_spec
from snn_interop.spec.neurons import Decay, Neuron
from snn_interop.spec.schema import SpecError, plain
from snn_interop.spec.surrogates import SURROGATES

KEY = "snn_interop"
SCHEMA = "snn_interop.neuron"
VERSION = 1

_HINTS = typing.get_type_hints(Neuron)


#: Fields added to Neuron after version 1 files were written, left out while at their default so
#: that those files stay byte-identical and earlier readers read these (a missing field takes its default).
_LATER_FIELDS = {"synaptic_current": False}


def neuron_to_dict(neuron: Neuron) -> dict[str, Any]:
    """Every field of ``neuron`` as JSON-ready data; the surrogate as name, version and values."""
    data = {f.name: plain(getattr(neuron, f.name)) for f in dataclasses.fields(Neuron)
            if f.name != "surrogate" and _LATER_FIELDS.get(f.name, object()) != getattr(neuron, f.name)}
    data["surrogate"] = None if neuron.surrogate is None else neuron.surrogate.to_dict()
    return data


def _field_value(name: str, raw: Any) -> Any:
    hint = _HINTS[name]
    base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)  # Optional[X] -> X
    if raw is None:
        return None
    if isinstance(raw, list):  # a per-neuron Value
        return neuron_spec.tuples(raw)
    if base is Decay:
        per = lambda v: neuron_spec.tuples(v) if isinstance(v, list) else v  # noqa: E731
        return Decay(per(raw["beta"]), neuron_spec.Discretisation(raw["method"]), per(raw["tau"]), raw["dt"])
    if isinstance(base, type) and issubclass(base, Enum):
        return base(raw)
    return raw


def neuron_from_dict(data: dict[str, Any]) -> Neuron:
    """The inverse of :func:`neuron_to_dict`; unknown surrogates or fields raise SpecError."""
    known = {f.name for f in dataclasses.fields(Neuron)}
    unknown = set(data) - known
    if unknown:
        raise SpecError(f"unknown neuron fields in {KEY} metadata: {sorted(unknown)}")
    sur = data.get("surrogate")
    if sur is not None:
        if sur["name"] not in SURROGATES:
            raise SpecError(f"{KEY} metadata names surrogate {sur['name']!r}, unknown to this snn-interop")
        if sur["version"] != SURROGATES[sur["name"]].version:
            raise SpecError(f"surrogate {sur['name']!r} version {sur['version']} (this snn-interop has {SURROGATES[sur['name']].version})")
        surrogate = SURROGATES[sur["name"]].configure(**sur["params"])
    else:
        surrogate = None
    fields = {k: _field_value(k, v) for k, v in data.items() if k != "surrogate"}
    return Neuron(surrogate=surrogate, **fields)


def encode(neuron: Neuron) -> dict[str, str]:
    """The metadata entry for a neuron node: ``{KEY: json}``."""
    return {KEY: json.dumps({"schema": SCHEMA, "version": VERSION, "neuron": neuron_to_dict(neuron)}, sort_keys=True)}


def decode(metadata: dict[str, Any] | None) -> Neuron | None:
    """The canonical neuron stored in a node's metadata, or None when the key is absent."""
    if not metadata or KEY not in metadata:
        return None
    raw = metadata[KEY]
    text = raw.decode("utf8") if isinstance(raw, bytes) else str(raw)
    payload = json.loads(text)
    if payload.get("schema") != SCHEMA:
        raise SpecError(f"{KEY} metadata has schema {payload.get('schema')!r}, expected {SCHEMA!r}")
    if payload.get("version") != VERSION:
        raise SpecError(f"{KEY} metadata version {payload.get('version')} is not supported (this snn-interop reads {VERSION})")
    return neuron_from_dict(payload["neuron"])
