"""Importing Triton in the right mode: compiled on a GPU, interpreted on CPU.

Triton decides between compiling and interpreting when a function is decorated with
``@triton.jit``, and its own standard library (``tl.zeros``, ``tl.sigmoid``, ...) is decorated
when ``triton`` is first imported. So ``TRITON_INTERPRET=1`` must be in the environment
*before the first ``import triton``* of the process, not merely before our kernels are
decorated. :func:`triton` does this for you: when Triton is not imported yet, no
``TRITON_INTERPRET`` is set and torch sees no CUDA device, it sets ``TRITON_INTERPRET=1``
(for the whole process) and imports Triton, so the kernels run on CPU tensors through the
interpreter (NumPy; exact IEEE float32/float64 arithmetic, slow). Set ``TRITON_INTERPRET=1``
yourself to interpret on a machine with a GPU.
"""
from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

import torch


class TritonUnavailable(RuntimeError):
    """Triton is missing, or was imported in a mode that cannot run the tensors given."""


def interpreting() -> bool:
    """Whether Triton kernels run in the CPU interpreter (imports Triton if needed)."""
    triton()
    from triton import knobs

    return bool(knobs.runtime.interpret)


def triton() -> ModuleType:
    """The ``triton`` module, imported in interpreter mode when there is no GPU."""
    if "triton" not in sys.modules and "TRITON_INTERPRET" not in os.environ and not torch.cuda.is_available():
        os.environ["TRITON_INTERPRET"] = "1"
    try:
        return importlib.import_module("triton")
    except ImportError as exc:  # pragma: no cover - triton is a dependency of the kernel extra
        raise TritonUnavailable("the fused kernel needs Triton: pip install 'snn-interop[kernel]' (triton==3.9.0)") from exc


def check_device(x: torch.Tensor) -> None:
    """Refuse tensors the imported Triton cannot run, naming the way out."""
    if x.device.type == "cpu" and not interpreting():
        raise TritonUnavailable(
            "the fused kernel got CPU tensors but Triton was imported in compiled mode: move the input to the GPU, "
            "or set TRITON_INTERPRET=1 before anything imports triton to run the (slow) CPU interpreter")
