"""docs/tutorial.md runs as written: every `$ ` command exits 0 and prints what the page shows
(the verdict lines), and every python block runs and prints its shown output. So does the
README's demo (`make demo`'s recipe)."""
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


def test_the_readme_demo_prints_what_the_readme_shows(tmp_path):
    """`make demo` (the README's first command) runs the Makefile's recipe; CI runs `make test`, so
    this runs that recipe (snn-convert from the venv on PATH) and checks the README's command and output."""
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), flags=re.M).group(1)
    command = " ".join(line.strip().removesuffix("\\").strip() for line in recipe.splitlines()).replace("$(VENV)/bin/", "")
    readme = (ROOT / "README.md").read_text()
    use = readme[readme.index("## Use"):]
    shown_command, shown_output = re.findall(r"```\n(.*?)```", use, flags=re.S)[:2]
    assert " ".join(shown_command.replace("\\\n", " ").split()) == command.removesuffix(" --force")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(shlex.split(command), cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.strip().splitlines() == shown_output.strip().splitlines()
    assert (tmp_path / "build" / "demo-snntorch" / "model.py").is_file()
