"""Each framework's own spike function, run through the real installed framework, gives the
forward and backward of the canonical declaration under the alias's parameter map.

For random canonical parameters (hypothesis), the alias gives the framework's keyword
arguments; mapping those back gives the canonical configuration the framework computes
(which pins what the framework cannot vary). Forward: H(x) with the alias's H(0).
Backward: ``scale * g'(x)`` on a dense float64 grid.
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from snn_interop.spec.mathns import torch_math
from snn_interop.spec.schema import Forward, Kind
from snn_interop.spec.surrogates import SURROGATES
from snn_interop_conformance.tolerances import FP32_VS_FP64, FP64_EXACT, Tolerance

from tests.conftest import plugin_or_skip

from .strategies import configs

GRID = torch.arange(-3000, 3001, dtype=torch.float64) / 1000  # exact 0, +-0.5, +-1: the kinks

# What each framework's spike function computes in, for float64 input (measured, see the
# aliases' notes): snntorch returns float32 spikes and computes its gradient in float32;
# norse evaluates sqrt(pi) in float32 (heavi_erfc); sinabs builds sqrt(2 pi) as a float32
# tensor (Gaussian) and returns float32 gradients (Heaviside), as rockpool's StepPWL does;
# spikingjelly stays in float64.
NATIVE_TOLERANCE: dict[str, Tolerance] = {
    "spikingjelly": FP64_EXACT,
    "sinabs": FP32_VS_FP64,
    "snntorch": FP32_VS_FP64,
    "norse": FP32_VS_FP64,
    "rockpool": FP32_VS_FP64,
}

DETERMINISTIC = [s for s in SURROGATES.values() if s.kind is not Kind.STOCHASTIC]
CASES = [(s, a) for s in DETERMINISTIC for a in s.aliases if a.forward is Forward.HEAVISIDE]
BERNOULLI = [(s, a) for s in DETERMINISTIC for a in s.aliases if a.forward is Forward.BERNOULLI]


def native_and_config(surrogate, alias, drawn, threshold):
    """The framework's kwargs for a drawn canonical config, and the config it really computes."""
    native = alias.native_kwargs({**drawn, "theta": threshold})
    computed = alias.canonical_params({**native, "theta": threshold})
    assert set(computed) == {p.name for p in surrogate.all_params}, "to_canonical must give every parameter"
    return native, surrogate.configure(**computed)


@pytest.mark.parametrize(("surrogate", "alias"), CASES, ids=[f"{a.framework}-{a.native}" for _, a in CASES])
@given(data=st.data())
def test_native_spike_function_matches_canonical(surrogate, alias, data):
    plugin = plugin_or_skip(alias.framework)
    threshold = data.draw(st.sampled_from([1.0, 0.7]), label="threshold")
    drawn = data.draw(configs(surrogate), label="canonical")
    native, cfg = native_and_config(surrogate, alias, drawn, threshold)

    x = GRID.clone().requires_grad_(True)
    spikes = plugin.spike_function(alias.native, native, threshold)(x)
    spikes.backward(torch.ones_like(spikes))

    expected_forward = (GRID >= 0).to(GRID.dtype) if alias.h0 == 1.0 else (GRID > 0).to(GRID.dtype)
    assert torch.equal(spikes.detach().to(GRID.dtype), expected_forward)
    tol = NATIVE_TOLERANCE[alias.framework]
    torch.testing.assert_close(x.grad, cfg.grad(torch_math, GRID), atol=tol.atol, rtol=tol.rtol)


@pytest.mark.parametrize(("surrogate", "alias"), BERNOULLI, ids=[f"{a.framework}-{a.native}" for _, a in BERNOULLI])
def test_bernoulli_spike_function_fires_with_probability_primitive(surrogate, alias):
    # 20000 draws per point: the spike rate is within 5 standard errors of g(x), and the backward is exact
    plugin = plugin_or_skip(alias.framework)
    native, cfg = native_and_config(surrogate, alias, surrogate.defaults(), 1.0)
    points = torch.tensor([0.1, 0.3, 0.5, 0.8], dtype=torch.float64)
    x = points.repeat(20000, 1).requires_grad_(True)
    torch.manual_seed(0)
    spikes = plugin.spike_function(alias.native, native, 1.0)(x)
    spikes.sum().backward()
    p = surrogate.primitive(torch_math, points, **cfg.own)
    bound = 5 * torch.sqrt(p * (1 - p) / 20000)
    assert ((spikes.to(torch.float64).mean(0) - p).abs() <= bound).all()
    torch.testing.assert_close(x.grad[0], cfg.grad(torch_math, points), atol=FP32_VS_FP64.atol, rtol=FP32_VS_FP64.rtol)


def test_stochastic_uniform_gradient_lies_in_its_declared_range():
    # snntorch SSO: 1 above the threshold; (u - 1/2 + mean) variance, u ~ U[0, 1), at or below it
    surrogate = SURROGATES["stochastic_uniform"]
    (alias,) = surrogate.aliases
    plugin = plugin_or_skip(alias.framework)
    mean, variance = 0.3, 1.5
    x = GRID.clone().requires_grad_(True)
    torch.manual_seed(0)
    plugin.spike_function(alias.native, {"mean": mean, "variance": variance})(x).sum().backward()
    above, below = x.grad[GRID > 0], x.grad[GRID <= 0]
    assert torch.equal(above, torch.ones_like(above))
    assert below.min() >= (mean - 0.5) * variance and below.max() < (mean + 0.5) * variance
    declared = surrogate.configure(mean=mean, variance=variance).grad(torch_math, torch.tensor([-1.0]))
    assert abs(below.mean().item() - declared.item()) < 5 * variance / (12 * below.numel()) ** 0.5
