"""Where the host time of a fused-kernel training step goes, beside spikingjelly's layer.

    .venv/bin/python benchmarks/host_overhead.py            # GPU: the issue's size (T=64, 131072 neurons)

At the issue's size one forward+backward of the spikes-only kernel is ~0.07 ms of GPU time, but
a synchronised call takes ~0.5 ms of host clock (docs/performance.md): the launches, autograd
and Python around them, not the kernel, set what a training loop sees. For the fused layer
(spikingjelly's neuron, spikes only, both save modes) and spikingjelly's own layer (spikes only)
this prints, side by side in one run:

- ``synced``: median host clock of one forward+backward with a synchronise after each (what
  ``benchmarks/kernel.py`` calls wall);
- ``loop``: host clock of ``--calls`` forward+backward calls back to back, one synchronise at the
  end, per call (a training loop that does not wait on each step: launch-bound when it exceeds
  the GPU time);
- ``fwd loop ms``: the same for the forward alone;
- the fused layer's host profile over those calls (cProfile, by own time; the backward runs on the
  calling thread for it, ``torch.autograd.set_multithreading_enabled(False)``): which Python calls cost.

On CPU the kernel runs in Triton's interpreter, so the numbers there only show that the script works.
"""
from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from snn_interop import registry  # noqa: E402
from snn_interop.kernel import FusedNeuron  # noqa: E402

_spec = importlib.util.spec_from_file_location("benchmark_kernel", Path(__file__).with_name("kernel.py"))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def loop_time(device: torch.device, go: Callable[[], None], calls: int) -> float:
    """Seconds per call of ``calls`` back-to-back calls of ``go``, synchronised once at the end."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    go()
    sync()
    start = time.perf_counter()
    for _ in range(calls):
        go()
    sync()
    return (time.perf_counter() - start) / calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="host time of the fused kernel's forward+backward, beside spikingjelly's layer")
    parser.add_argument("--steps", type=int, help="T (default 64 on a GPU, 4 on CPU)")
    parser.add_argument("--neurons", type=int, help="neurons, batch folded in (default 131072 on a GPU, 256 on CPU)")
    parser.add_argument("--calls", type=int, help="back-to-back calls per loop (default 200 on a GPU, 3 on CPU)")
    parser.add_argument("--top", type=int, default=15, help="profile lines printed (default 15)")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.type == "cuda"
    steps, neurons = args.steps or (64 if cuda else 4), args.neurons or (131072 if cuda else 256)
    calls = args.calls or (200 if cuda else 3)
    print(f"device {torch.cuda.get_device_name() if cuda else 'cpu (Triton interpreter: times NOT meaningful)'}; "
          f"torch {torch.__version__}; T={steps}, neurons={neurons}, float32; loop of {calls} calls")
    module, neuron = registry.get("spikingjelly").default_neuron()
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = (torch.rand(steps, 1, neurons, generator=gen) * 1.6 * float(neuron.threshold) / float(neuron.input_gain)).to(device)
    g = torch.randn(steps, 1, neurons, generator=gen).to(device)
    layers = {f"fused kernel (save={save}, spikes only)": bench.spikes_only(FusedNeuron(neuron, save=save, membrane=False))
              for save in ("float16", "exact")}
    layers[bench.implementation("spikingjelly", device) + " store_v_seq=False"] = bench.spikes_only_spikingjelly(device, torch.float32)
    print(f"\n{'layer':52s} {'synced ms':>10s} {'loop ms':>8s} {'fwd loop ms':>11s}")
    for label, run in layers.items():
        go = bench.fwd_bwd(run, x, g)
        synced = bench.timer(device, go, max(calls // 4, 3))
        print(f"{label:52s} {synced * 1e3:10.4f} {loop_time(device, go, calls) * 1e3:8.4f} "
              f"{loop_time(device, lambda: run(x), calls) * 1e3:11.4f}")
    label, run = next(iter(layers.items()))
    go = bench.fwd_bwd(run, x, g)
    profile = cProfile.Profile()
    with torch.autograd.set_multithreading_enabled(False):  # the backward on this thread, where the profile sees it
        profile.enable()
        for _ in range(calls):
            go()
        if cuda:
            torch.cuda.synchronize()
        profile.disable()
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(args.top)
    print(f"\nhost profile of {label}, {calls} forward+backward calls, by own time:")
    print("\n".join(line for line in text.getvalue().splitlines() if line.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
