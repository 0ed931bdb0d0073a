"""The shapes of spec declarations: parameters, framework aliases and surrogates.

A surrogate is declared once (``spec/surrogates.py``) as data plus two pure formulas in a
math namespace ``m`` (see :mod:`.mathns`): the primitive g(x) and its derivative g'(x).
In spiking mode the forward pass is the Heaviside step of x = v - threshold (the
comparison at x == 0 is a neuron parameter); the backward pass multiplies the incoming
gradient by ``scale * g'(x)``. Every surrogate carries the amplitude ``scale`` (default 1)
besides its own parameters, so that frameworks differing only by a constant factor map to
one canonical entry.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

Formula = Callable[..., Any]  # (m, x, **params) -> array/tensor

_EXPR_NAMESPACE = {"__builtins__": {}, "pi": math.pi, "sqrt": math.sqrt, "exp": math.exp, "log": math.log, "int": int}


def evaluate(expression: str, values: Mapping[str, float]) -> float:
    """Evaluate a parameter-map expression such as ``"2 / slope"`` over ``values``.

    The result is a float, or an int where the expression says ``int(...)`` (a framework
    that insists on an integer argument).
    """
    result = eval(expression, dict(_EXPR_NAMESPACE), dict(values))  # noqa: S307 - spec data only
    return result if isinstance(result, int) else float(result)


def plain(value: Any) -> Any:
    """Enums to their values and dataclasses to dicts, recursively: JSON-ready data."""
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


class SpecError(ValueError):
    """A value outside the spec: unknown name, parameter out of its domain."""


@dataclass(frozen=True)
class Param:
    """A real parameter with a default and an interval domain ``(low, high)``.

    ``closed`` tells which ends belong to the domain.
    """

    name: str
    default: float
    low: float = -math.inf
    high: float = math.inf
    closed: tuple[bool, bool] = (False, False)
    doc: str = ""
    integer: bool = False

    def contains(self, value: float) -> bool:
        above = value >= self.low if self.closed[0] else value > self.low
        below = value <= self.high if self.closed[1] else value < self.high
        whole = not self.integer or float(value).is_integer()
        return math.isfinite(value) and above and below and whole

    def domain(self) -> str:
        left = "[" if self.closed[0] else "("
        right = "]" if self.closed[1] else ")"
        return f"{left}{self.low:g}, {self.high:g}{right}"


SCALE = Param("scale", 1.0, 0.0, math.inf, doc="amplitude multiplying the surrogate derivative")


class Kind(str, Enum):
    """How far a surrogate can be matched exactly."""

    SMOOTH = "smooth"  #: closed-form primitive, derivative continuous
    PIECEWISE = "piecewise"  #: closed-form primitive, derivative with kinks or jumps
    STRAIGHT_THROUGH = "straight-through"  #: gradient passes a fixed function of x through
    STOCHASTIC = "stochastic"  #: forward or backward draws random numbers: match in distribution only
    NON_DIFFERENTIABLE = "non-differentiable"  #: backward is not a function of x alone


class Forward(str, Enum):
    """A native spike function's forward pass."""

    HEAVISIDE = "heaviside"  #: H(x), deterministic
    BERNOULLI = "bernoulli"  #: a random spike with probability g(x), the primitive (global torch RNG)


@dataclass(frozen=True)
class Alias:
    """A framework's own name for a canonical surrogate and the exact parameter maps.

    ``to_canonical`` gives every canonical parameter (and ``scale``) as an expression in the
    native keyword arguments; ``from_canonical`` gives every native keyword argument as an
    expression in the canonical parameters. A canonical configuration is expressible natively
    when mapping it to native and back returns it unchanged.
    """

    framework: str
    native: str  #: dotted path inside the framework package, e.g. "surrogate.atan"
    to_canonical: Mapping[str, str]
    from_canonical: Mapping[str, str]
    note: str = ""  #: quirks, and where the framework's docs and code disagree
    h0: float = 1.0  #: the forward Heaviside at x == 0: 1 fires (x >= 0), 0 does not (x > 0)
    forward: Forward = Forward.HEAVISIDE

    def canonical_params(self, native_kwargs: Mapping[str, float]) -> dict[str, float]:
        return {k: evaluate(e, native_kwargs) for k, e in self.to_canonical.items()}

    def native_kwargs(self, canonical: Mapping[str, float]) -> dict[str, float]:
        return {k: evaluate(e, canonical) for k, e in self.from_canonical.items()}


@dataclass(frozen=True)
class Surrogate:
    """One canonical surrogate gradient: forward Heaviside, backward ``scale * g'(x)``."""

    name: str
    version: int
    params: tuple[Param, ...]
    primitive: Formula | None  #: g(x); None when none exists in closed form
    derivative: Formula  #: g'(x), the surrogate gradient for scale == 1
    latex_primitive: str
    latex_derivative: str
    kind: Kind
    cite: str
    aliases: tuple[Alias, ...] = ()
    note: str = ""

    @property
    def all_params(self) -> tuple[Param, ...]:
        return (*self.params, SCALE)

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.all_params}

    def configure(self, **values: float) -> SurrogateConfig:
        """A validated configuration; omitted parameters take their defaults."""
        known = {p.name: p for p in self.all_params}
        unknown = set(values) - set(known)
        if unknown:
            raise SpecError(f"surrogate {self.name!r} has no parameter {sorted(unknown)}; it has {sorted(known)}")
        merged = {**self.defaults(), **{k: float(v) for k, v in values.items()}}
        for name, value in merged.items():
            if not known[name].contains(value):
                raise SpecError(f"surrogate {self.name!r}: {name}={value} is outside {known[name].domain()}")
        return SurrogateConfig(self, MappingProxyType(merged))

    def alias(self, framework: str) -> tuple[Alias, ...]:
        return tuple(a for a in self.aliases if a.framework == framework)


@dataclass(frozen=True)
class SurrogateConfig:
    """A surrogate with concrete parameter values (including ``scale``)."""

    surrogate: Surrogate
    values: Mapping[str, float] = field(default_factory=dict)

    @property
    def own(self) -> dict[str, float]:
        """Values of the surrogate's own parameters, without ``scale``."""
        return {k: v for k, v in self.values.items() if k != "scale"}

    def grad(self, m: Any, x: Any) -> Any:
        """The surrogate gradient ``scale * g'(x)`` in math namespace ``m``."""
        return self.values["scale"] * self.surrogate.derivative(m, x, **self.own)

    def __repr__(self) -> str:
        return f"{self.surrogate.name}({', '.join(f'{k}={v:g}' for k, v in self.values.items())})"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.surrogate.name, "version": self.surrogate.version, "params": dict(self.values)}

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by name and values (the formulas are lambdas): for worker processes."""
        return (_configure, (self.surrogate.name, dict(self.values)))


def _configure(name: str, values: dict[str, float]) -> SurrogateConfig:
    from snn_interop.spec.surrogates import SURROGATES  # the catalogue imports this module

    return SURROGATES[name].configure(**values)
