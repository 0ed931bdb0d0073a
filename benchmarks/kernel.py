"""Fused kernel vs the frameworks' LIF layers: forward and forward+backward time, bytes moved.

    .venv/bin/python benchmarks/kernel.py                 # GPU: the issue's size (T=64, 131072 neurons)
    .venv/bin/python benchmarks/kernel.py --size tiny     # CPU: a smoke run (Triton interpreter)

For each framework whose plugin builds the neuron natively (spikingjelly with every backend
it has here: torch, cupy, triton; snntorch Leaky; norse LIFCell; sinabs LIF), the same
canonical LIF neuron runs through that layer and through the fused kernel on the same input,
in one process, one after the other. It also measures a device-to-device ``copy_`` of the
same byte count, and prints the bytes the kernel must move, its achieved bytes/s, and the
ratios the issue sets targets for (on an H100, float32, T=64, 131072 neurons: fwd+bwd at
>= 80% of copy bandwidth, >= 2x faster than spikingjelly's fastest backend, >= 20x faster
than snntorch, <= 2 bytes saved per neuron-step).

On CPU the kernel runs in Triton's interpreter (NumPy, one Python call per operation and
step): its times there say nothing about the targets, only that the script works.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from snn_interop import registry  # noqa: E402
from snn_interop.kernel import fused_run, plan, saved_bytes_per_step  # noqa: E402
from snn_interop.plugin_api import NotExpressible  # noqa: E402
from snn_interop.spec.neurons import Model, Neuron  # noqa: E402
from snn_interop_conformance.cases import case_id, neuron_cases  # noqa: E402

SIZES = {"issue": (64, 131072), "small": (16, 4096), "tiny": (4, 256)}
FRAMEWORKS = ("spikingjelly", "snntorch", "norse", "sinabs")


def timer(device: torch.device, fn: Callable[[], object], repeat: int, warmup: int = 1) -> float:
    """Median seconds of ``fn`` over ``repeat`` runs after ``warmup``, synchronised on GPU."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def traffic(neuron: Neuron, dtype: torch.dtype, save: str) -> tuple[int, int]:
    """Bytes per neuron-step the kernel must move: (forward, backward), the loss on the spikes only.

    Forward: read x, write spikes, membrane and the saved membrane. Backward: read the spikes'
    gradient, the saved membrane, the spikes when the reset needs them, write dx."""
    p, size = plan(neuron), torch.empty((), dtype=dtype).element_size()
    saved = saved_bytes_per_step(neuron, dtype, save)
    return 3 * size + saved, 2 * size + saved + (size if p.LOAD_S else 0)


def fwd_bwd(run: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor, g: torch.Tensor) -> Callable[[], None]:
    def go() -> None:
        xg = x.detach().requires_grad_(True)
        spikes, _ = run(xg)
        spikes.backward(g)
    return go


def builds(name: str, neuron: Neuron) -> bool:
    try:
        registry.get(name).build_neuron(neuron)
        return True
    except NotExpressible:
        return False


def layers(name: str, neuron: Neuron, device: torch.device, dtype: torch.dtype) -> list[tuple[str, Callable]]:
    """(label, run) for framework ``name``'s layer for ``neuron``, once per backend it has here."""
    plugin = registry.get(name)
    probe = plugin.build_neuron(neuron)
    out = []
    for backend in (getattr(probe, "supported_backends", None) if name == "spikingjelly" else None) or (None,):
        label = f"{name}[{backend}]" if backend else name
        module = plugin.build_neuron(neuron).to(device, dtype)
        run = (lambda m: (lambda x: plugin.run(m, x)))(module)
        try:
            if backend:
                module.backend = backend
            run(torch.zeros(2, 1, 8, device=device, dtype=dtype))  # builds its kernels, or fails here
        except Exception as exc:  # noqa: BLE001 - a backend missing here is reported, not fatal
            print(f"  {label}: unavailable ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
            continue
        out.append((label, run))
    return out


def plan_runs() -> list[tuple[Neuron, list[str]]]:
    """Neurons to time and the frameworks run on each: the generated LIF case that most installed
    frameworks build natively (soft reset preferred), then, for any framework left out, its own first LIF case."""
    installed = [f for f in FRAMEWORKS if not registry.info(f).unavailable]
    for f in FRAMEWORKS:
        if f not in installed:
            print(f"  {f}: not installed ({registry.info(f).unavailable})")
    lif = sorted((n for n in neuron_cases() if n.model is Model.LIF), key=lambda n: n.reset.value != "subtract")
    table = {case_id(n): (n, [f for f in installed if builds(f, n)]) for n in lif}
    first = max(table.values(), key=lambda entry: len(entry[1]))
    runs = [first]
    for f in installed:
        if f not in first[1]:
            own = next((n for n, fs in table.values() if f in fs), None)
            if own is None:
                print(f"  {f}: builds none of the generated LIF cases natively")
            else:
                runs.append((own, [f]))
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fused kernel vs framework LIF layers")
    parser.add_argument("--size", choices=list(SIZES), default=None, help="issue (GPU default), small, tiny (CPU default)")
    parser.add_argument("--steps", type=int, help="override T")
    parser.add_argument("--neurons", type=int, help="override the neuron count")
    parser.add_argument("--dtype", choices=["float32", "float16", "bfloat16", "float64"], default="float32")
    parser.add_argument("--repeat", type=int, default=None)
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    steps, neurons = SIZES[args.size or ("issue" if device.type == "cuda" else "tiny")]
    steps, neurons = args.steps or steps, args.neurons or neurons
    dtype = getattr(torch, args.dtype)
    repeat = args.repeat or (20 if device.type == "cuda" else 3)
    print(f"device {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu (Triton interpreter: times NOT meaningful for the targets)'}")
    print(f"T={steps}, neurons={neurons}, {args.dtype}, median of {repeat}")
    runs = plan_runs()
    neuron = runs[0][0]
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = (torch.rand(steps, 1, neurons, generator=gen) * 1.6 * float(neuron.threshold) / float(neuron.input_gain)).to(device, dtype)
    g = torch.randn(steps, 1, neurons, generator=gen).to(device, dtype)

    rows: list[tuple[int, str, float, float]] = []  # (neuron index, label, forward s, fwd+bwd s)
    for k, (n, names) in enumerate(runs):
        print(f"\nneuron {case_id(n)}: fused kernel and {', '.join(names) or 'no framework'}")
        for save in ("exact", "float16"):
            run = (lambda s, nn: (lambda xx: fused_run(nn, xx, save=s)))(save, n)
            label = f"fused kernel (save={save})" + (f" on {names[0]}'s neuron" if k else "")
            rows.append((k, label, timer(device, lambda: run(x), repeat), timer(device, fwd_bwd(run, x, g), repeat)))
        for name in names:
            for label, run in layers(name, n, device, dtype):
                try:
                    rows.append((k, label, timer(device, lambda: run(x), repeat), timer(device, fwd_bwd(run, x, g), repeat)))
                except Exception as exc:  # noqa: BLE001
                    print(f"  {label}: failed at this size ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")

    size = x.element_size()
    fwd_bytes, bwd_bytes = traffic(neuron, dtype, "exact")
    f16_fwd, f16_bwd = traffic(neuron, dtype, "float16")
    total = {"exact": (fwd_bytes + bwd_bytes) * steps * neurons, "float16": (f16_fwd + f16_bwd) * steps * neurons}
    src = torch.empty(total["exact"] // 2 // size, dtype=dtype, device=device)
    dst = torch.empty_like(src)
    copy_s = timer(device, lambda: dst.copy_(src), repeat)
    copy_bw = 2 * src.numel() * size / copy_s  # read + write
    print(f"\nbytes the kernel must move per neuron-step: forward {fwd_bytes}, backward {bwd_bytes} (save=exact); "
          f"{f16_fwd}, {f16_bwd} (save=float16)")
    print(f"saved for backward per neuron-step: {saved_bytes_per_step(neuron, dtype, 'exact')} B (exact), "
          f"{saved_bytes_per_step(neuron, dtype, 'float16')} B (float16); target <= 2")
    print(f"device-to-device copy_ of {total['exact'] / 1e6:.3f} MB: {copy_s * 1e3:.3f} ms, {copy_bw / 1e9:.1f} GB/s\n")
    print(f"{'layer':50s} {'forward ms':>11s} {'fwd+bwd ms':>11s} {'fused is x faster':>18s}")
    fused = {k: min(fb for kk, label, _, fb in rows if kk == k and label.startswith("fused")) for k in range(len(runs))}
    for k, label, f, fb in rows:
        print(f"{label:50s} {f * 1e3:11.3f} {fb * 1e3:11.3f} {fb / fused[k]:18.2f}")
    for k, label, _, fb in rows[:2]:
        save = "float16" if "float16" in label else "exact"
        bw = total[save] / fb
        print(f"{label}: fwd+bwd moves {total[save] / 1e6:.3f} MB at {bw / 1e9:.3f} GB/s = {100 * bw / copy_bw:.0f}% of copy (target >= 80%)")
    sj = [(fb, k) for k, label, _, fb in rows if label.startswith("spikingjelly")]
    st = [(fb, k) for k, label, _, fb in rows if label == "snntorch"]
    if sj:
        fb, k = min(sj)
        print(f"fused vs spikingjelly's fastest backend, fwd+bwd: {fb / fused[k]:.2f}x faster (target >= 2x)")
    if st:
        fb, k = st[0]
        print(f"fused vs snntorch, fwd+bwd: {fb / fused[k]:.2f}x faster (target >= 20x)")
    if device.type != "cuda":
        print("\nCPU run: the kernel ran in Triton's interpreter; these numbers do not measure the GPU targets.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
