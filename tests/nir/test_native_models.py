"""Models written the way each framework's users write them, exported by snn-interop and
imported into every framework: the same output spikes as the framework's own run.

In float32, the dtype users run: snnTorch and sinabs return float32 spikes whatever the input,
so their float64 models break at the next layer (docs/frameworks). The importing side runs in
float32 too, so equal spikes here also show that no framework's arithmetic order flips one."""
from __future__ import annotations

import pytest
import torch
from tests.conftest import plugin_or_skip


FRAMEWORKS = ["snntorch", "spikingjelly", "sinabs", "norse"]
DTYPE = torch.float32



@pytest.mark.parametrize("source", FRAMEWORKS)
def test_users_model_converts_exactly_into_every_framework(source):
    a = plugin_or_skip(source)
    model = a.example_mlp(DTYPE)
    x = (torch.rand(60, 2, 12, generator=torch.Generator().manual_seed(3), dtype=DTYPE) < 0.4).to(DTYPE)
    with torch.no_grad():
        y_native, membranes = a.run_model(model, x)
    assert y_native.mean() > 0.02, "the model must spike"
    assert sorted(membranes) == ["1", "3"] and all(v.shape[:2] == x.shape[:2] for v in membranes.values())
    graph = a.to_nir(model, x[0])
    for target in FRAMEWORKS:
        b = plugin_or_skip(target)
        with torch.no_grad():
            y, rec = b.from_nir(graph, dtype=DTYPE)(x, record=True)
        assert torch.equal(y, y_native.to(y.dtype)), f"{source} -> {target}: {(y != y_native).sum().item()} spikes differ"
        for name, v in membranes.items():  # each framework's own membrane, end of step, float32
            torch.testing.assert_close(rec[name]["v"], v.to(DTYPE), atol=1e-5, rtol=0, msg=f"{source} -> {target}: membrane {name}")
