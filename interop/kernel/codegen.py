"""The kernel's surrogate derivative, generated from the spec's declaration.

A surrogate declares its derivative once, as ``lambda m, x, **params: ...`` over the math
namespace of :mod:`snn_interop.spec.mathns` (:class:`~snn_interop.spec.schema.SurrogateConfig`
adds ``scale``). Nothing here re-types a formula: :func:`trace` evaluates the declared
``SurrogateConfig.grad`` once with a *symbolic* ``m`` and ``x``, and the parameters at their
configured values, which records the expression the declaration computes (helpers such as
``_gauss`` and Python-level sums over ``range`` unroll by themselves). :func:`triton_source`
prints that expression as one ``@triton.jit`` function of ``x`` in static single assignment
form, common subexpressions computed once; :func:`derivative` writes it to a file in a cache
folder (Triton reads a kernel's source from its file) and imports it.

The Triton namespace uses only ``triton.language`` operations that the compiler and the CPU
interpreter (``TRITON_INTERPRET=1``) both implement, so one source runs in both:

    exp log sqrt sin cos erf floor abs where     the ``tl`` operations of the same name
    sigmoid                                      1 / (1 + exp(-y))
    tanh                                         1 - 2 / (exp(2 y) + 1)
    sign                                         where(y > 0, 1, where(y < 0, -1, 0))
    y ** p                                       products for integer |p| <= 4, else exp(p log y)
    atan                                         not available (no surrogate derivative uses it):
                                                 tracing one raises NotImplementedError

Comparisons give booleans; a boolean used in arithmetic becomes 1.0 / 0.0 as NumPy and torch
do. Numbers are printed with ``repr`` (exact round trip) and take the dtype of ``x`` where
they meet it, so a float64 kernel evaluates the derivative with float64 constants.
"""
from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from snn_interop.spec.mathns import NAMES
from snn_interop.spec.schema import Kind, SurrogateConfig

#: Version of the generated source; part of every file name so a change never reads a stale file.
CODEGEN_VERSION = 2


class Expr:
    """A node of a traced expression: an operation and its arguments (Exprs or numbers)."""

    __slots__ = ("op", "args", "boolean")
    __hash__ = object.__hash__  # == builds an Expr; identity hashing keeps nodes usable as keys

    def __init__(self, op: str, args: tuple = (), boolean: bool = False) -> None:
        self.op, self.args, self.boolean = op, args, boolean

    # arithmetic --------------------------------------------------------------------
    def __add__(self, o: Any) -> Expr: return _bin("+", self, o)
    def __radd__(self, o: Any) -> Expr: return _bin("+", o, self)
    def __sub__(self, o: Any) -> Expr: return _bin("-", self, o)
    def __rsub__(self, o: Any) -> Expr: return _bin("-", o, self)
    def __mul__(self, o: Any) -> Expr: return _bin("*", self, o)
    def __rmul__(self, o: Any) -> Expr: return _bin("*", o, self)
    def __truediv__(self, o: Any) -> Expr: return _bin("/", self, o)
    def __rtruediv__(self, o: Any) -> Expr: return _bin("/", o, self)
    def __neg__(self) -> Expr: return Expr("neg", (_num(self),))
    def __pos__(self) -> Expr: return self
    def __pow__(self, p: Any) -> Expr: return _pow(self, p)
    def __rpow__(self, b: Any) -> Expr: return _call("exp", _bin("*", math.log(_const(b)), self))

    # comparisons -------------------------------------------------------------------
    def __lt__(self, o: Any) -> Expr: return _cmp("<", self, o)
    def __le__(self, o: Any) -> Expr: return _cmp("<=", self, o)
    def __gt__(self, o: Any) -> Expr: return _cmp(">", self, o)
    def __ge__(self, o: Any) -> Expr: return _cmp(">=", self, o)
    def __eq__(self, o: Any) -> Expr: return _cmp("==", self, o)  # type: ignore[override]
    def __ne__(self, o: Any) -> Expr: return _cmp("!=", self, o)  # type: ignore[override]

    def __bool__(self) -> bool:
        raise TypeError("a surrogate formula branched on the value of x in Python (if/and/or/min/max): "
                        "write it with m.where so that it can be traced for the kernel")


X = Expr("x")


def _const(v: Any) -> float:
    if isinstance(v, Expr):
        raise TypeError("expected a number")
    v = float(v)
    if not math.isfinite(v):
        raise NotImplementedError(f"the kernel's derivative cannot carry the constant {v}")
    return v


def _num(v: Any) -> Any:
    """A value entering arithmetic: booleans become 1.0 / 0.0, numbers stay numbers."""
    if isinstance(v, Expr):
        return Expr("float", (v,)) if v.boolean else v
    if isinstance(v, bool):
        return float(v)
    return _const(v)


def _bin(op: str, a: Any, b: Any) -> Any:
    a, b = _num(a), _num(b)
    if not isinstance(a, Expr) and not isinstance(b, Expr):  # both numbers: Python folds them
        return {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[op]
    return Expr(op, (a, b))


def _cmp(op: str, a: Any, b: Any) -> Expr:
    return Expr(op, (_num(a), _num(b)), boolean=True)


def _pow(base: Expr, p: Any) -> Expr:
    p = _const(p)
    if p.is_integer() and 0 < abs(p) <= 4:
        out = base
        for _ in range(int(abs(p)) - 1):
            out = _bin("*", out, base)
        return out if p > 0 else _bin("/", 1.0, out)
    if p == 0:
        return _bin("+", _bin("*", 0.0, base), 1.0)
    return _call("exp", _bin("*", p, _call("log", base)))


def _call(name: str, *args: Any) -> Expr:
    return Expr(name, tuple(_num(a) for a in args))


def _where(cond: Any, a: Any, b: Any) -> Any:
    if not (isinstance(cond, Expr) and cond.boolean):
        raise TypeError("m.where needs a comparison of x as its condition")
    return Expr("where", (cond, _num(a), _num(b)))


def _unavailable(name: str) -> Any:
    def fail(*args: Any) -> Any:
        raise NotImplementedError(f"m.{name} has no exact Triton form that runs both compiled and in the CPU interpreter; "
                                  f"the fused kernel cannot take a surrogate derivative that uses it")
    return fail


#: The symbolic math namespace: the same names as the spec's NumPy and torch namespaces.
trace_math = SimpleNamespace(
    exp=lambda y: _call("exp", y), log=lambda y: _call("log", y), sqrt=lambda y: _call("sqrt", y),
    sin=lambda y: _call("sin", y), cos=lambda y: _call("cos", y), erf=lambda y: _call("erf", y),
    floor=lambda y: _call("floor", y), abs=lambda y: _call("abs", y), sign=lambda y: _call("sign", y),
    sigmoid=lambda y: _call("sigmoid", y), tanh=lambda y: _call("tanh", y), atan=_unavailable("atan"),
    where=_where, pi=math.pi,
)
assert set(NAMES) == set(vars(trace_math)), "trace_math must cover the spec's math namespace"  # import-time invariant


def trace(config: SurrogateConfig) -> Any:
    """The expression ``config.grad(m, x)`` computes, traced with a symbolic ``x``."""
    if config.surrogate.kind is Kind.NON_DIFFERENTIABLE:
        raise NotImplementedError(f"surrogate {config.surrogate.name!r} has no derivative to put in a kernel")
    return config.grad(trace_math, X)


# -- printing -----------------------------------------------------------------------
_TL = {"exp": "tl.exp", "log": "tl.log", "sqrt": "tl.sqrt", "sin": "tl.sin", "cos": "tl.cos", "erf": "tl.erf",
       "floor": "tl.floor", "abs": "tl.abs"}


def triton_source(config: SurrogateConfig, name: str = "surrogate_grad") -> str:
    """The source of a ``@triton.jit`` function ``name(x)`` returning ``config.grad(m, x)``."""
    expr = trace(config)
    lines: list[str] = []
    names: dict[Any, str] = {}

    def key(e: Any) -> Any:
        return (e.op, tuple(key(a) for a in e.args)) if isinstance(e, Expr) else ("num", repr(e))

    def full(c: float) -> str:  # a number as a tensor shaped and typed like x
        return f"tl.full(x.shape, {c!r}, x.dtype)"  # a builtin: tl.zeros_like is a jit helper (see runtime.py)

    def emit(e: Any) -> str:
        if not isinstance(e, Expr):
            return repr(e)
        if e is X or e.op == "x":
            return "x"
        k = key(e)
        if k in names:
            return names[k]
        a = [emit(arg) for arg in e.args]
        op = e.op
        if op in ("+", "-", "*", "/", "<", "<=", ">", ">=", "==", "!="):
            code = f"{a[0]} {op} {a[1]}"
        elif op == "neg":
            code = f"-{a[0]}"
        elif op == "float":
            code = f"tl.where({a[0]}, {full(1.0)}, {full(0.0)})"
        elif op == "where":
            b1 = a[1] if isinstance(e.args[1], Expr) else full(e.args[1])
            b2 = a[2] if isinstance(e.args[2], Expr) else full(e.args[2])
            code = f"tl.where({a[0]}, {b1}, {b2})"
        elif op in _TL:
            code = f"{_TL[op]}({a[0]})"
        elif op == "sigmoid":
            code = f"1.0 / (1.0 + tl.exp(-{a[0]}))"
        elif op == "tanh":
            code = f"1.0 - 2.0 / (tl.exp(2.0 * {a[0]}) + 1.0)"
        elif op == "sign":
            code = f"tl.where({a[0]} > 0, {full(1.0)}, tl.where({a[0]} < 0, {full(-1.0)}, {full(0.0)}))"
        else:  # pragma: no cover - every op built above is printed
            raise AssertionError(op)
        names[k] = f"t{len(names)}"
        lines.append(f"    {names[k]} = {code}")
        return names[k]

    result = emit(expr) if isinstance(expr, Expr) else full(_const(expr))
    body = "".join(line + "\n" for line in lines)
    return (f"# Generated by snn_interop.kernel.codegen (version {CODEGEN_VERSION}) from the spec's declaration\n"
            f"# of {config!r}: grad(m, x) = scale * derivative(m, x, **params). Do not edit.\n"
            "import triton\nimport triton.language as tl\n\n\n"
            f"@triton.jit\ndef {name}(x):\n{body}    return {result}\n")


def cache_dir() -> Path:
    """Where generated sources live: ``$SNN_INTEROP_CACHE`` or ``~/.cache/snn_interop``, ``/kernel``."""
    root = os.environ.get("SNN_INTEROP_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "snn_interop")
    return Path(root) / "kernel"


_LOADED: dict[str, Any] = {}


def derivative(config: SurrogateConfig) -> Any:
    """The generated ``@triton.jit`` derivative of ``config``, written once and imported.

    Files are named by the hash of their source, written atomically, and loaded once per
    process (``triton`` must already be imported in the mode wanted: see :mod:`.runtime`).
    """
    source = triton_source(config)
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    if digest in _LOADED:
        return _LOADED[digest]
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"sg_v{CODEGEN_VERSION}_{config.surrogate.name}_{digest}.py"
    if not path.exists() or path.read_text() != source:
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(source)
        os.replace(tmp, path)
    module = _import(path, f"snn_interop_kernel_generated.{path.stem}")
    _LOADED[digest] = module.surrogate_grad
    return module.surrogate_grad


def _import(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # inspect.getsource (Triton) finds the file through the module
    spec.loader.exec_module(module)
    return module
