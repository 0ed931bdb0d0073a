"""Fused kernel vs the frameworks' LIF layers: forward and forward+backward time, bytes moved.

    .venv/bin/python benchmarks/kernel.py                 # GPU: the issue's size (T=64, 131072 neurons)
    .venv/bin/python benchmarks/kernel.py --size tiny     # CPU: a smoke run (Triton interpreter)

For each installed framework, its default LIF layer (the plugin's ``default_neuron``:
snntorch Leaky, spikingjelly LIFNode, norse LIF, sinabs LIF) runs beside the fused kernel
computing that layer's canonical twin, on the same input, in one process, one after the other.
spikingjelly chooses its CUDA kernel once per process from ``SJ_LIF_CUDA_IMPLEMENTATION``
(auto: its native CUDA build, else Triton, else torch; the row is labelled with what ran): run
the script once per value to time each. Times are the host clock around a synchronised call
(what a training loop sees) and, on a GPU, one CUDA-graph replay (GPU time alone). It also
measures a device-to-device ``copy_`` of the same byte count, and prints the bytes the kernel
must move, its achieved bytes/s, and the ratios the issue sets targets for (on an H100,
float32, T=64, 131072 neurons: fwd+bwd at >= 80% of copy bandwidth, >= 2x faster than
spikingjelly's fastest backend, >= 20x faster than snntorch, <= 2 bytes saved per
neuron-step). ``--sweep`` times the spikes-only kernel over launch shapes (neurons per
program x warps x pipeline stages ``--stages``; ``--sweep-save`` picks the save modes, float16
by default), then the fastest forward's shape with the fastest backward's (each launch its own
settings, where they differ), and adds the best of each save mode to the spikes-only rows.

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
from snn_interop.kernel import SAVE_MODES, FusedNeuron, moved_bytes_per_step, saved_bytes_per_step  # noqa: E402
from snn_interop.spec.neurons import Neuron  # noqa: E402
from snn_interop_conformance.cases import case_id  # noqa: E402

SIZES = {"issue": (64, 131072), "small": (16, 4096), "tiny": (4, 256)}
#: (neurons per program, warps) the sweep tries: 1, 2, 4 and 8 neurons per thread; a thread's 4
#: neighbours move in one 16-byte access where N is a multiple of 16 (interop/kernel/kernels.py)
SWEEP_SHAPES = ((128, 4), (128, 2), (256, 4), (128, 1), (256, 2), (512, 4), (256, 1))
Shape = tuple[int, int, int]  #: (neurons per program, warps, stages)
FRAMEWORKS = ("spikingjelly", "snntorch", "norse", "sinabs")


def shape_name(shape: Shape) -> str:
    return "x".join(map(str, shape))


def spikes_only(layer: FusedNeuron) -> Callable[[torch.Tensor], tuple[torch.Tensor, None]]:
    """A ``membrane=False`` layer called as the benchmark calls every layer: ``(spikes, None)``."""
    return lambda x: (layer(x), None)


def best_split(times: dict[Shape, tuple[float, float]]) -> tuple[Shape, Shape] | None:
    """(the shape with the fastest forward, the shape with the fastest backward) from each shape's
    (forward, forward+backward) times, the backward's being the difference; None when one shape is
    fastest at both (then no pair of launch settings beats it, as far as the sweep can tell)."""
    if not times:
        return None
    fwd = min(times, key=lambda k: times[k][0])
    bwd = min(times, key=lambda k: times[k][1] - times[k][0])
    return None if fwd == bwd else (fwd, bwd)


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


def fwd_bwd(run: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor, g: torch.Tensor) -> Callable[[], None]:
    def go() -> None:
        xg = x.detach().requires_grad_(True)
        spikes, _ = run(xg)
        spikes.backward(g)
    return go


def graph_timer(fn: Callable[[], object], repeat: int) -> float | None:
    """Median seconds of one replay of ``fn`` captured as a CUDA graph (no host overhead), by events; None if it cannot be captured."""
    try:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                fn()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        graph.replay()
        torch.cuda.synchronize()
    except Exception:  # noqa: BLE001 - a layer that cannot be captured gets no graph column
        torch.cuda.synchronize()
        return None
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def implementation(name: str, device: torch.device) -> str:
    """The kernel a framework's LIF layer runs on ``device`` (spikingjelly picks one per process: SJ_LIF_CUDA_IMPLEMENTATION)."""
    if name != "spikingjelly" or device.type != "cuda":
        return name
    try:
        from spikingjelly.activation_based.functional.neuron import neuron_implementation

        return f"spikingjelly[{neuron_implementation('lif', device)['implementation']}]"
    except Exception as exc:  # noqa: BLE001 - the label is informative only
        return f"spikingjelly[? {type(exc).__name__}]"


def spikes_only_spikingjelly(device: torch.device, dtype: torch.dtype) -> Callable[[torch.Tensor], tuple[torch.Tensor, None]]:
    """spikingjelly's default node as its users call it: ``store_v_seq=False`` (its default: the
    membrane sequence is never written, and its backward reads no membrane gradient), spikes out."""
    from spikingjelly.activation_based import functional

    node = registry.get("spikingjelly").default_neuron()[0].to(device, dtype)
    node.store_v_seq, node.step_mode = False, "m"

    def run(x: torch.Tensor) -> tuple[torch.Tensor, None]:
        functional.reset_net(node)
        return node(x), None
    return run


def plan_runs(frameworks: list[str]) -> list[tuple[str, torch.nn.Module, Neuron]]:
    """(framework, its default LIF layer, that layer's canonical twin) for each installed framework."""
    out = []
    for f in frameworks:
        info = registry.info(f)
        if info.unavailable:
            print(f"  {f}: not installed ({info.unavailable})")
            continue
        module, neuron = registry.get(f).default_neuron()
        out.append((f, module, neuron))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fused kernel vs the frameworks' default LIF layers")
    parser.add_argument("--size", choices=list(SIZES), default=None, help="issue (GPU default), small, tiny (CPU default)")
    parser.add_argument("--steps", type=int, help="override T")
    parser.add_argument("--neurons", type=int, help="override the neuron count")
    parser.add_argument("--dtype", choices=["float32", "float16", "bfloat16", "float64"], default="float32")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--framework", action="append", choices=FRAMEWORKS, help="only these frameworks (repeatable; default all)")
    parser.add_argument("--sweep", action="store_true", help="also time the spikes-only kernel over launch shapes (block x warps x stages) and compare its best")
    parser.add_argument("--stages", type=int, nargs="+", default=[4, 5, 6, 7, 8], help="pipelining depths the sweep tries (default 4 5 6 7 8)")
    parser.add_argument("--sweep-save", action="append", choices=SAVE_MODES, help="save modes the sweep times (repeatable; default float16)")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    steps, neurons = SIZES[args.size or ("issue" if device.type == "cuda" else "tiny")]
    steps, neurons = args.steps or steps, args.neurons or neurons
    dtype = getattr(torch, args.dtype)
    repeat = args.repeat or (20 if device.type == "cuda" else 3)
    cuda = device.type == "cuda"
    print(f"device {torch.cuda.get_device_name() if cuda else 'cpu (Triton interpreter: times NOT meaningful for the targets)'}")
    print(f"torch {torch.__version__}, T={steps}, neurons={neurons} (batch folded in), {args.dtype}, median of {repeat}")
    print("wall: host clock around the call, synchronised (what a training loop sees); graph: one CUDA-graph replay (GPU time only)")
    runs = plan_runs(args.framework or list(FRAMEWORKS))
    gen = torch.Generator(device="cpu").manual_seed(0)
    base = torch.rand(steps, 1, neurons, generator=gen)
    g = torch.randn(steps, 1, neurons, generator=gen).to(device, dtype)

    rows: list[tuple[str, str, float, float, float | None]] = []  # (group, label, forward s, fwd+bwd s, fwd+bwd graph s)
    modes = {"spikes+membrane": True, "spikes only": False}

    def measure(group: str, label: str, run: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor) -> None:
        try:
            go = fwd_bwd(run, x, g)
            rows.append((group, label, timer(device, lambda: run(x), repeat), timer(device, go, repeat),
                         graph_timer(go, repeat) if cuda else None))
        except Exception as exc:  # noqa: BLE001 - a layer failing at this size is reported, not fatal
            print(f"  {label}: failed at this size ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")

    for name, module, neuron in runs:
        print(f"\n{name}'s default layer {type(module).__name__} = {case_id(neuron)}")
        x = (base * 1.6 * float(neuron.threshold) / float(neuron.input_gain)).to(device, dtype)
        for mode, membrane in modes.items():
            for save in ("exact", "float16"):
                layer = FusedNeuron(neuron, save=save, membrane=membrane)
                measure(f"{name}|{mode}", f"fused kernel (save={save})", layer if membrane else spikes_only(layer), x)
        plugin = registry.get(name)
        layer = module.to(device, dtype)
        measure(f"{name}|spikes+membrane", implementation(name, device), (lambda m: (lambda xx: plugin.run(m, xx)))(layer), x)
        if name == "spikingjelly":  # its layer as users call it: store_v_seq=False, spikes out, no membrane written
            measure(f"{name}|spikes only", implementation(name, device) + " store_v_seq=False", spikes_only_spikingjelly(device, dtype), x)

    if args.sweep and runs:  # the spikes-only kernel: the one the 2x target rests on
        name, _, neuron = runs[0]
        x = (base * 1.6 * float(neuron.threshold) / float(neuron.input_gain)).to(device, dtype)
        # GPU time on a GPU; on CPU the host clock (the interpreter ignores warps and stages: a check that the sweep runs)
        sweep_timer = (lambda fn: graph_timer(fn, repeat)) if cuda else (lambda fn: timer(device, fn, repeat))
        for save in args.sweep_save or ["float16"]:
            print(f"\nlaunch shapes, fused kernel on {name}'s neuron, spikes only, save={save}, "
                  f"{'graph replay' if cuda else 'wall (interpreter)'} ms, forward / fwd+bwd:")
            print(f"  {'block':>5s} {'warps':>5s} " + " ".join(f"{'stages ' + str(st):>17s}" for st in args.stages))
            best: tuple[float, float, float, str] | None = None  # (fwd+bwd graph s, forward wall s, fwd+bwd wall s, shape)
            times: dict[Shape, tuple[float, float]] = {}  # (forward, fwd+bwd) graph s of each shape timed

            def consider(fb: float, layer: FusedNeuron, run: Callable, label: str) -> None:
                nonlocal best
                if best is None or fb < best[0]:
                    best = (fb, timer(device, lambda: layer(x), repeat), timer(device, fwd_bwd(run, x, g), repeat), label)

            for block, warps in SWEEP_SHAPES:
                cells = []
                for stages in args.stages:
                    layer = FusedNeuron(neuron, save=save, membrane=False, block=block, warps=warps, stages=stages)
                    run = spikes_only(layer)
                    f = sweep_timer(lambda: layer(x))
                    fb = sweep_timer(fwd_bwd(run, x, g))
                    cells.append(f"{f * 1e3:8.4f}/{fb * 1e3:8.4f}" if f and fb else f"{'n/a':>17s}")
                    if f and fb:
                        times[(block, warps, stages)] = (f, fb)
                        consider(fb, layer, run, shape_name((block, warps, stages)))
                print(f"  {block:5d} {warps:5d} " + " ".join(cells))
            split = best_split(times)
            if split:  # the fastest forward and the fastest backward differ in shape: each launch with its own
                fwd, bwd = split
                layer = FusedNeuron(neuron, save=save, membrane=False, block=(fwd[0], bwd[0]), warps=(fwd[1], bwd[1]),
                                    stages=(fwd[2], bwd[2]))
                run = spikes_only(layer)
                fb = sweep_timer(fwd_bwd(run, x, g))
                predicted = times[fwd][0] + times[bwd][1] - times[bwd][0]
                pair = f"forward {shape_name(fwd)}, backward {shape_name(bwd)}"
                print(f"  {pair}: {fb * 1e3:.4f} ms fwd+bwd (their sweep times add up to {predicted * 1e3:.4f})" if fb
                      else f"  {pair}: could not be timed")
                if fb:
                    consider(fb, layer, run, pair)
            if best:  # the best shape joins the spikes-only comparison, named as such
                rows.append((f"{name}|spikes only", f"fused kernel (save={save}, best shape {best[3]})", best[1], best[2],
                             best[0] if cuda else None))

    size = torch.empty((), dtype=dtype).element_size()
    print()
    copy_bw = None
    for name, _, neuron in runs:
        cells = ", ".join(f"{mode} {'+'.join(map(str, moved_bytes_per_step(neuron, dtype, save, membrane)))} (save={save})"
                          for mode, membrane in modes.items() for save in ("exact", "float16"))
        print(f"bytes the kernel must move per neuron-step, forward+backward, {name}'s neuron: {cells}")
        print(f"  saved for backward per neuron-step: {saved_bytes_per_step(neuron, dtype, 'exact')} B (exact), "
              f"{saved_bytes_per_step(neuron, dtype, 'float16')} B (float16); target <= 2")
    if runs:
        total = sum(moved_bytes_per_step(runs[0][2], dtype)) * steps * neurons
        src = torch.empty(total // 2 // size, dtype=dtype, device=device)
        dst = torch.empty_like(src)
        copy_s = timer(device, lambda: dst.copy_(src), repeat)
        copy_graph = graph_timer(lambda: dst.copy_(src), repeat) if cuda else None
        copy_bw = 2 * src.numel() * size / (copy_graph or copy_s)  # read + write
        print(f"device-to-device copy_ of {total / 1e6:.3f} MB (read + write): wall {copy_s * 1e3:.4f} ms"
              + (f", graph {copy_graph * 1e3:.4f} ms" if copy_graph else "") + f": {copy_bw / 1e9:.1f} GB/s\n")
    print(f"{'group':13s} {'outputs':15s} {'layer':46s} {'fwd wall ms':>11s} {'f+b wall ms':>11s} {'f+b graph ms':>12s} {'fused x faster':>14s}")
    groups = list(dict.fromkeys(r[0] for r in rows))
    for key in groups:
        group = [r for r in rows if r[0] == key]
        fused = min((r for r in group if r[1].startswith("fused")), key=lambda r: r[3], default=None)
        name, mode = key.split("|")
        for _, label, f, fb, fbg in group:
            ratio = f"{fb / fused[3]:14.2f}" if fused else f"{'-':>14s}"
            graph = f"{fbg * 1e3:12.4f}" if fbg else f"{'-':>12s}"
            print(f"{name:13s} {mode:15s} {label:46s} {f * 1e3:11.4f} {fb * 1e3:11.4f} {graph} {ratio}")
    for name, _, neuron in runs:
        for key in (k for k in groups if k.startswith(name + "|")):
            membrane = modes[key.split("|")[1]]
            for _, label, _, fb, fbg in (r for r in rows if r[0] == key and r[1].startswith("fused")):
                save = "float16" if "float16" in label else "exact"
                moved = sum(moved_bytes_per_step(neuron, dtype, save, membrane)) * steps * neurons
                for kind, t in (("wall", fb), ("graph", fbg)):
                    if t and copy_bw:
                        bw = moved / t
                        print(f"{key} {label} {kind}: fwd+bwd moves {moved / 1e6:.3f} MB at {bw / 1e9:.1f} GB/s = "
                              f"{100 * bw / copy_bw:.0f}% of copy (target >= 80%)")
    for name, target in (("spikingjelly", 2), ("snntorch", 20)):
        for key in (k for k in groups if k.startswith(name + "|")):
            group = [r for r in rows if r[0] == key]
            for col, kind in ((3, "wall"), (4, "graph")):
                fused = min((r[col] for r in group if r[1].startswith("fused") and r[col]), default=None)
                theirs = [r[col] for r in group if not r[1].startswith("fused") and r[col]]
                if fused and theirs:
                    print(f"fused vs {name}, {key.split('|')[1]}, fwd+bwd {kind}: {min(theirs) / fused:.2f}x faster (target >= {target}x)")
    if not cuda:
        print("\nCPU run: the kernel ran in Triton's interpreter; these numbers do not measure the GPU targets.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
