"""The checked-in spec reference (docs/spec/) is exactly what the generator makes now."""
from __future__ import annotations

import runpy

from tests.conftest import ROOT


def test_spec_docs_are_up_to_date():
    generator = runpy.run_path(str(ROOT / "scripts" / "gen_spec_docs.py"))
    assert generator["main"](["--check"]) == 0, "docs/spec is stale: run `make docs`"
