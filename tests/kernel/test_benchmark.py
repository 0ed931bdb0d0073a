"""benchmarks/kernel.py runs (here on CPU, at a tiny size) and prints every figure the issue asks for."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_benchmark_prints_times_bytes_and_ratios():
    done = subprocess.run([sys.executable, "benchmarks/kernel.py", "--steps", "2", "--neurons", "64", "--repeat", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for expected in ("fused kernel (save=exact)", "fused kernel (save=float16)", "bytes the kernel must move per neuron-step",
                     "saved for backward per neuron-step: 4 B (exact), 2 B (float16)", "device-to-device copy_", "% of copy",
                     "target >= 2x", "target >= 20x", "spikes only", "store_v_seq=False"):
        assert expected in out, out
    # on CPU the kernel is interpreted, and the script says its times mean nothing for the targets
    assert ("NOT meaningful" in out) == ("device cpu" in out), out
