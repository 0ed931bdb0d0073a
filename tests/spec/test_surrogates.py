"""Each surrogate's declared derivative is the derivative of its declared primitive.

This is what SpikingJelly's ``check_manual_grad`` prints, made an assertion: over random valid
parameters (hypothesis), on a dense float64 grid, ``scale * g'(x)`` equals autograd of
``scale * g(x)``, evaluated through the same declaration in torch and in NumPy.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from snn_interop.spec.mathns import numpy_math, torch_math
from snn_interop.spec.schema import SpecError
from snn_interop.spec.surrogates import SURROGATES
from snn_interop_conformance.tolerances import FP64_DERIVATIVE, FP64_EXACT

from .strategies import configs

GRID = torch.arange(-4000, 4001, dtype=torch.float64) / 1000  # step 1e-3, exact 0, +-0.5, +-1
WITH_PRIMITIVE = [s for s in SURROGATES.values() if s.primitive is not None]


@pytest.mark.parametrize("surrogate", WITH_PRIMITIVE, ids=lambda s: s.name)
@given(data=st.data())
def test_derivative_is_autograd_of_primitive(surrogate, data):
    cfg = surrogate.configure(**data.draw(configs(surrogate)))
    x = GRID.clone().requires_grad_(True)
    (cfg.values["scale"] * surrogate.primitive(torch_math, x, **cfg.own)).sum().backward()
    declared = cfg.grad(torch_math, GRID)
    assert torch.isfinite(declared).all()
    torch.testing.assert_close(x.grad, declared, atol=FP64_DERIVATIVE.atol, rtol=FP64_DERIVATIVE.rtol)


@pytest.mark.parametrize("surrogate", list(SURROGATES.values()), ids=lambda s: s.name)
@given(data=st.data())
def test_numpy_and_torch_namespaces_agree(surrogate, data):
    cfg = surrogate.configure(**data.draw(configs(surrogate)))
    via_numpy = cfg.grad(numpy_math, GRID.numpy())
    np.testing.assert_allclose(via_numpy, cfg.grad(torch_math, GRID).numpy(), atol=FP64_EXACT.atol, rtol=FP64_EXACT.rtol)


def test_configure_rejects_values_outside_the_domain():
    with pytest.raises(SpecError, match="alpha=-1.0 is outside"):
        SURROGATES["atan"].configure(alpha=-1.0)
    with pytest.raises(SpecError, match="has no parameter"):
        SURROGATES["atan"].configure(slope=2.0)


def test_configure_fills_defaults_and_scale():
    assert dict(SURROGATES["sigmoid"].configure().values) == {"alpha": 4.0, "scale": 1.0}


@pytest.mark.parametrize("surrogate", list(SURROGATES.values()), ids=lambda s: s.name)
def test_every_alias_maps_back_to_itself(surrogate):
    # canonical -> native -> canonical is the identity at the defaults pinned by the alias
    for alias in surrogate.aliases:
        native = alias.native_kwargs({**surrogate.defaults(), "theta": 1.0})
        canonical = alias.canonical_params({**native, "theta": 1.0})
        again = alias.native_kwargs({**surrogate.defaults(), **canonical, "theta": 1.0})
        assert again == pytest.approx(native), alias.native
