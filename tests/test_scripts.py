"""The shell scripts parse (``bash -n``): two of them run only on a lent GPU machine, in minutes of
device time a syntax error would waste, and the CPU suite is the last place to catch one."""
from __future__ import annotations

import subprocess

import pytest

from tests.conftest import ROOT

SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))


def test_the_gpu_scripts_are_among_those_checked():
    assert {"gpu_checks.sh", "build_sj_native.sh"} <= {p.name for p in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_parses(script):
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
