"""docs/tutorial.md runs as written: every `$ ` command exits 0 and prints what the page shows
(the verdict lines), and every python block runs and prints its shown output."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys

from tests.conftest import ROOT

PAGE = (ROOT / "docs" / "tutorial.md").read_text()


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", PAGE, flags=re.S)


def test_tutorial_runs_as_written(tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / "tests" / "data").mkdir(parents=True)
    shutil.copytree(ROOT / "tests" / "data" / "nir-paper", tmp_path / "tests" / "data" / "nir-paper")
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(tmp_path)}
    for block in blocks("console"):
        command, *shown = block.strip().splitlines()
        assert command.startswith("$ ")
        done = subprocess.run(shlex.split(command[2:]), cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr[-1500:]
        assert done.stdout.strip().splitlines() == shown, f"output of {command!r} differs from the page"
    code = blocks("python")[0]
    expected = re.search(r"prints\n\n```\n(.*?)```", PAGE, flags=re.S).group(1)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.strip().splitlines() == expected.strip().splitlines()
