"""Math namespaces: the same spec formula evaluates with NumPy (float64) or torch (autograd).

A spec formula is ``lambda m, x, **params: ...`` and uses only the names below, so one
declaration serves the NumPy oracle, torch autograd and (later) the Triton kernel.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import scipy.special
import torch

NAMES = ("exp", "log", "tanh", "atan", "erf", "sqrt", "abs", "sign", "where", "floor", "sin", "cos", "sigmoid", "pi")

numpy_math = SimpleNamespace(
    exp=np.exp, log=np.log, tanh=np.tanh, atan=np.arctan, erf=scipy.special.erf, sqrt=np.sqrt,
    abs=np.abs, sign=np.sign, where=np.where, floor=np.floor, sin=np.sin, cos=np.cos,
    sigmoid=scipy.special.expit, pi=math.pi,
)


def _torch_where(cond: torch.Tensor, a: object, b: object) -> torch.Tensor:
    return torch.where(cond, torch.as_tensor(a, dtype=_dtype(a, b)), torch.as_tensor(b, dtype=_dtype(a, b)))


def _dtype(*values: object) -> torch.dtype:
    for v in values:
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            return v.dtype
    return torch.get_default_dtype()


torch_math = SimpleNamespace(
    exp=torch.exp, log=torch.log, tanh=torch.tanh, atan=torch.atan, erf=torch.erf, sqrt=torch.sqrt,
    abs=torch.abs, sign=torch.sign, where=_torch_where, floor=torch.floor, sin=torch.sin, cos=torch.cos,
    sigmoid=torch.sigmoid, pi=math.pi,
)
