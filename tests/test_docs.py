"""The checked-in spec reference (docs/spec/) is exactly what the generator makes now."""
from __future__ import annotations

import runpy

import pytest

from snn_interop import registry
from tests.conftest import ROOT


def test_spec_docs_are_up_to_date():
    # the neuron page runs each framework's default neuron, so it needs all four
    missing = [n for n in ("snntorch", "spikingjelly", "sinabs", "norse") if registry.info(n).unavailable]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    generator = runpy.run_path(str(ROOT / "scripts" / "gen_spec_docs.py"))
    assert generator["main"](["--check"]) == 0, "docs/spec is stale: run `make docs`"
