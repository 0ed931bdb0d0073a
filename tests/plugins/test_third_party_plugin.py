"""A third-party plugin (docs/examples/example-plugin, its own pyproject) is pip-installed and
discovered through its entry point alone, then converts a model exactly like a built-in one."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

EXAMPLE = ROOT / "docs" / "examples" / "example-plugin"

CHECK = """
import sys, torch
sys.path.insert(0, sys.argv[1])
from snn_interop import registry
from tests.nir.networks import mlp, native_neuron
from snn_interop.spec.neurons import Model, ResetMode
assert "reference" in registry.names(), registry.names()
ref, snt = registry.get("reference"), registry.get("snntorch")
graph = mlp(native_neuron(snt, Model.LIF, ResetMode.SUBTRACT))
x = (torch.rand(50, 2, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64) < 0.3).double()
a = snt.from_nir(graph)
b = ref.from_nir(snt.to_nir(a, x[0]))
ya, yb = a(x), b(x)
assert ya.sum() > 0 and torch.equal(ya, yb)
print("ok", registry.info("reference").version)
"""


def install_example(tmp_path: Path) -> Path:
    """pip-install the example plugin into a folder of its own; returns that folder (for sys.path)."""
    source, target = tmp_path / "src", tmp_path / "site"
    shutil.copytree(EXAMPLE, source)  # the build leaves files beside the sources: not in the repo
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target), str(source)],
                   check=True, capture_output=True)
    return target


def test_example_plugin_is_discovered_and_converts(tmp_path):
    target = install_example(tmp_path)
    done = subprocess.run([sys.executable, "-c", CHECK, str(target)], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["ok", "0.1.0"]
