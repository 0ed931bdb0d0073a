"""Triton in the right mode for the tensors: compiled on a GPU, interpreted on CPU.

``@triton.jit`` decides between compiling and interpreting when it decorates, from
``TRITON_INTERPRET``, and Triton's own standard library is decorated when ``triton`` is first
imported, so setting ``TRITON_INTERPRET=1`` only works *before the first ``import triton``* of
the process (another library, e.g. spikingjelly, may well have imported it first). The kernels
here therefore do not depend on that flag: they use only ``triton.language`` builtins (no
``@triton.jit`` standard-library helpers such as ``tl.zeros``), and :func:`for_tensor` wraps
the same Python function in Triton's interpreter for CPU tensors, whatever mode the process
imported Triton in. CUDA tensors use the compiled kernel, or the interpreter where
``TRITON_INTERPRET=1`` was set before Triton's import. The interpreter runs the kernel with
NumPy: exact IEEE float32/float64 arithmetic, slowly.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import torch


class TritonUnavailable(RuntimeError):
    """Triton is missing, or was imported in a mode that cannot run the tensors given."""


def triton() -> ModuleType:
    """The ``triton`` module, or :class:`TritonUnavailable` saying how to install it."""
    try:
        return importlib.import_module("triton")
    except ImportError as exc:  # pragma: no cover - triton is a dependency of the kernel extra
        raise TritonUnavailable("the fused kernel needs Triton: pip install 'snn-interop[kernel]' (triton==3.9.0)") from exc


def interpreting(device: torch.device | str) -> bool:
    """Whether kernels on ``device`` run in Triton's CPU interpreter."""
    return torch.device(device).type == "cpu" or bool(triton().knobs.runtime.interpret)


_INTERPRETED: dict[int, Any] = {}


def for_tensor(kernel: Any, x: torch.Tensor) -> Any:
    """``kernel`` (a ``@triton.jit`` function) as it must launch on ``x``'s device."""
    if not interpreting(x.device) or not hasattr(kernel, "fn"):
        return kernel
    from triton.runtime.interpreter import InterpretedFunction

    if isinstance(kernel, InterpretedFunction):
        return kernel
    if id(kernel) not in _INTERPRETED:
        _INTERPRETED[id(kernel)] = (kernel, InterpretedFunction(kernel.fn))  # keeps kernel alive: ids stay unique
    return _INTERPRETED[id(kernel)][1]


def callee(fn: Any, device: torch.device) -> Any:
    """A ``@triton.jit`` helper passed to a kernel on ``device``: interpreted, its plain Python function.

    The interpreter runs a kernel as Python with ``triton.language`` patched; a jit-decorated
    callee would be refused (compiled mode) or re-patch the language on every call (~2 ms).
    """
    return fn.fn if fn is not None and interpreting(device) and hasattr(fn, "fn") else fn
