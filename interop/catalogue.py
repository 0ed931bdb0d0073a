"""The spec catalogue as data (``snn-interop spec --json``) and as a readable table."""
from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any

from snn_interop import __version__
from snn_interop.spec import neurons
from snn_interop.spec.neurons import Model, Neuron
from snn_interop.spec.surrogates import SURROGATES, UNDECLARED
from snn_interop.spec.schema import Surrogate, plain



def surrogate_dict(s: Surrogate) -> dict[str, Any]:
    return {
        "name": s.name,
        "version": s.version,
        "kind": s.kind.value,
        "params": [{"name": p.name, "default": p.default, "domain": p.domain(), "doc": p.doc} for p in s.all_params],
        "primitive_latex": s.latex_primitive,
        "derivative_latex": s.latex_derivative,
        "cite": s.cite,
        "note": s.note,
        "native": [
            {"framework": a.framework, "name": a.native, "to_canonical": dict(a.to_canonical),
             "from_canonical": dict(a.from_canonical), "note": a.note}
            for a in s.aliases
        ],
    }


def _convention(f: dataclasses.Field) -> dict[str, Any]:
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    entry: dict[str, Any] = {"name": f.name, "default": plain(default), "doc": f.metadata.get("doc", "")}
    enum_type = {e.__name__: e for e in vars(neurons).values() if isinstance(e, type) and issubclass(e, Enum)}.get(str(f.type))
    if enum_type is not None:
        entry["choices"] = [e.value for e in enum_type]
    return entry


def neuron_dict() -> dict[str, Any]:
    fields = [f for f in dataclasses.fields(Neuron) if f.name not in ("model", "surrogate")]
    return {
        "update": neurons.__doc__.strip(),
        "models": [{"name": m.value, "doc": m.doc} for m in Model],
        "conventions": [_convention(f) for f in fields],
    }


def as_dict() -> dict[str, Any]:
    return {
        "snn_interop": __version__,
        "surrogates": [surrogate_dict(s) for s in SURROGATES.values()],
        "undeclared": dict(UNDECLARED),
        "neurons": neuron_dict(),
    }


def as_text() -> str:
    lines = [f"snn-interop {__version__}: canonical spec", "", "SURROGATES (forward: Heaviside of v - threshold; backward: scale * g'(x))"]
    lines.append(f"  {'name':24s} {'kind':18s} {'parameters (defaults)':34s} native names")
    for s in SURROGATES.values():
        params = ", ".join(f"{p.name}={p.default:g}" for p in s.params) or "-"
        native = "; ".join(f"{a.framework}:{a.native}" for a in s.aliases) or "-"
        lines.append(f"  {s.name:24s} {s.kind.value:18s} {params:34s} {native}")
    lines += ["", "NATIVE SPIKE FUNCTIONS NOT DECLARED"]
    lines += [f"  {name}: {why}" for name, why in UNDECLARED.items()]
    lines += ["", "NEURON MODELS"]
    lines += [f"  {m.value:14s} {m.doc}" for m in Model]
    lines += ["", "CONVENTIONS (Neuron fields, with defaults and choices)"]
    for c in neuron_dict()["conventions"]:
        choices = f"; one of {', '.join(c['choices'])}" if "choices" in c else ""
        lines.append(f"  {c['name']:17s} {c['doc']}; default {c['default']}{choices}")
    lines += ["", "UPDATE", *("  " + line for line in neurons.__doc__.strip().splitlines()[2:])]
    return "\n".join(lines)
