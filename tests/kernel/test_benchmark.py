"""benchmarks/kernel.py runs (here on CPU, at a tiny size) and prints every figure the issue asks for."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

from tests.conftest import ROOT


def _benchmark_module():
    spec = importlib.util.spec_from_file_location("benchmark_kernel", ROOT / "benchmarks" / "kernel.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def test_benchmark_sweeps_launch_shapes_and_pairs_the_fastest_forward_with_the_fastest_backward():
    # on CPU the sweep runs in the interpreter (warps and stages ignored there): that it runs,
    # every shape, the pair of launch settings and the best row, not what it finds
    done = subprocess.run([sys.executable, "benchmarks/kernel.py", "--steps", "2", "--neurons", "64", "--repeat", "1",
                           "--framework", "spikingjelly", "--sweep", "--stages", "4", "6"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    clock = "wall (interpreter)" if "device cpu" in out else "graph replay"  # compiled on a GPU: GPU time
    assert f"launch shapes, fused kernel on spikingjelly's neuron, spikes only, save=float16, {clock} ms" in out, out
    for block, warps in _benchmark_module().SWEEP_SHAPES:
        assert f"{block:5d} {warps:5d} " in out, out
    assert "fused kernel (save=float16, best shape " in out, out


def test_best_split_pairs_the_fastest_forward_with_the_fastest_backward():
    best_split = _benchmark_module().best_split
    # (forward, forward+backward): A has the fastest forward, B the fastest backward (0.030 against 0.031 and 0.034)
    times = {(128, 2, 6): (0.036, 0.067), (128, 2, 5): (0.038, 0.068), (256, 4, 6): (0.035, 0.069)}
    assert best_split(times) == ((256, 4, 6), (128, 2, 5))
    times[(128, 1, 6)] = (0.033, 0.060)  # now fastest both ways: no pair can beat it
    assert best_split(times) is None
    assert best_split({}) is None


def test_host_overhead_prints_both_layers_clocks_and_a_profile_of_the_fused_one():
    done = subprocess.run([sys.executable, "benchmarks/host_overhead.py", "--steps", "2", "--neurons", "64", "--calls", "2", "--top", "1000"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for expected in ("fused kernel (save=float16, spikes only)", "fused kernel (save=exact, spikes only)", "store_v_seq=False",
                     "synced ms", "loop ms", "fwd loop ms", "host profile of fused kernel (save=float16, spikes only), 2 forward+backward calls",
                     "Ordered by: internal time"):
        assert expected in out, out
    # the fused kernel's backward runs in the profile (on the calling thread): its launch is in it
    assert "fused.py" in out and "(backward)" in out, out
