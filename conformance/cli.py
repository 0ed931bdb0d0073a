"""``snn-conformance`` (also ``snn-interop conformance``): run the suite, write the reports.

Exit status: 0 when every run conforms or differs only as declared, 1 on any unexpected
mismatch or error, 2 on a bad command line, 4 when a named plugin is unusable, 6 for a device
this machine lacks, 11 when DIR already holds reports and --force is not given, or is a file.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from snn_interop import __version__, registry
from snn_interop.errors import ExitCode
from snn_interop_conformance import report as report_mod
from snn_interop_conformance.cases import DTYPES, default_dtypes
from snn_interop_conformance.cases import cases as make_cases
from snn_interop_conformance.runner import KERNEL, backends_not_run, environment, implementations, run_cases, trace

TRACES = 4  #: worst cases plotted in report.html


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="snn-conformance",
        description="Run identical seeded inputs (threshold-edge, random, silent and saturating phases) through every "
                    "framework's native neuron layers and the float64 oracle, for every canonical neuron x reset x "
                    "surrogate x dtype x shape x T, and report spike, membrane and gradient mismatches.",
        epilog="Reports: DIR/report.json (every case and metric), report.md (summary for a CI step), junit.xml, "
               "report.html (heat map and traces). Exit 1 on any unexpected mismatch. See docs/conformance.md.")
    p.add_argument("--version", action="version", version=f"snn-interop {__version__}")
    p.add_argument("--framework", action="append", metavar="FW",
                   help="a plugin to test, or 'kernel' for the fused reference kernel (repeatable; default: every installed plugin and the kernel)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the frameworks run (default cpu)")
    p.add_argument("--quick", action="store_true", help="the quick suite: small shape, T=48 (380 cases per dtype)")
    p.add_argument("--dtype", action="append", choices=list(DTYPES), metavar="DTYPE",
                   help="a dtype to run (repeatable; default float64 and float32, and on --device cuda also float16 and bfloat16; "
                        f"choices: {', '.join(DTYPES)})")
    p.add_argument("--backends", choices=("default", "all"), default="all",
                   help="each framework's default backend only, or also every further backend its plugin selects per "
                        "process (e.g. spikingjelly's torch and native CUDA kernels, run as spikingjelly[torch]; default all)")
    p.add_argument("--out", metavar="DIR", default="conformance-report", help="report directory (default ./conformance-report)")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="worker processes (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the inputs and loss weights (default 0)")
    p.add_argument("--deviations", metavar="FILE.toml", help="declared deviations (default: the suite's deviations.toml)")
    p.add_argument("--match", metavar="TEXT", help="only cases whose id contains TEXT")
    p.add_argument("--force", action="store_true", help="replace reports already in DIR")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    return p


def main(argv: Sequence[str] | None = None) -> ExitCode:
    args = parser().parse_args(argv)
    if args.jobs < 1:
        print("error: -j must be at least 1", file=sys.stderr)
        return ExitCode.USAGE
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no CUDA device on this machine", file=sys.stderr)
        return ExitCode.UNSUPPORTED
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"error: {out} is a file, where the reports' directory is written: name another path", file=sys.stderr)
        return ExitCode.OUTPUT_EXISTS
    existing = [out / f for f in report_mod.FILES if (out / f).exists()]
    if existing and not args.force:
        print(f"error: {existing[0]} exists; pass --force to replace the reports in {out}", file=sys.stderr)
        return ExitCode.OUTPUT_EXISTS
    frameworks = args.framework or [n for n in registry.names() if registry.load(n).available() is None] + [KERNEL]
    try:
        for fw in frameworks:
            if fw != KERNEL:
                registry.get(fw)
    except registry.PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.PLUGIN
    dtypes = tuple(dict.fromkeys(args.dtype)) if args.dtype else default_dtypes(args.device)
    all_cases = [c for c in make_cases(args.quick, args.seed, dtypes) if args.match is None or args.match in c.id]
    if not all_cases:
        print(f"error: no case id contains {args.match!r}", file=sys.stderr)
        return ExitCode.USAGE
    all_backends = args.backends == "all"
    impls = implementations(frameworks, args.device, all_backends)
    notes = backends_not_run([fw for fw in frameworks if fw != KERNEL], args.device, all_backends)
    notes += [f"{i.name}: no parameter gradients compared (" + ("its parameters are compile-time constants" if i.framework == KERNEL
              else "its plugin exposes no parameters(module)") + ")" for i in impls if i.parameters is None]
    if KERNEL in frameworks and not any(i.framework == KERNEL for i in impls):
        notes.append("fused reference kernel: Triton does not import here (pip install 'snn-interop[kernel]'), so its column is absent")
    elif KERNEL in frameworks and impls[-1].backend == "triton-interpreter":
        notes.append("fused reference kernel: run in Triton's CPU interpreter (no GPU): a check of its correctness, not of its speed")
    start = time.perf_counter()
    results = []
    from tqdm import tqdm

    with tqdm(total=len(all_cases) * len(impls), unit="run", disable=args.quiet, file=sys.stderr,
              mininterval=0.5 if sys.stderr.isatty() else 15) as bar:
        for row in run_cases(all_cases, frameworks, args.device, args.jobs, args.deviations, all_backends=all_backends):
            results.append(row)
            bar.update(1)
    by_id = {c.id: c for c in all_cases}
    by_name = {i.name: i for i in impls}
    # an implementation that needs its own process environment cannot be re-run here for its trace
    traceable = [r for r in results if r["metrics"] and not by_name[r["implementation"]].env]
    traces = [trace(by_id[r["case"]], by_name[r["implementation"]], r["metrics"]["first_neuron"]) for r in report_mod.worst(traceable, TRACES)]
    settings = {"quick": args.quick, "dtypes": list(dtypes), "backends": args.backends, "seed": args.seed, "device": args.device, "jobs": args.jobs, "match": args.match,
                "frameworks": frameworks, "cases": len(all_cases), "seconds": round(time.perf_counter() - start, 1)}
    rep = report_mod.build(results, environment(frameworks, args.device), settings, notes, traces)
    paths = report_mod.write(rep, out)
    if not args.quiet:
        for impl, counts in rep["summary"].items():
            print(f"{impl:14s} " + "  ".join(f"{k} {counts.get(k, 0)}" for k in report_mod.STATUSES))
        for r in results:
            if r["status"] in ("fail", "error"):
                print(f"FAIL {r['implementation']} {r['case']}: {(r['failures'] or [r['reason']])[0]}")
        print(f"{rep['unexpected']} unexpected mismatches in {len(results)} runs ({settings['seconds']} s); reports: "
              + ", ".join(str(p) for p in paths))
    return ExitCode.FAILED if rep["unexpected"] else ExitCode.OK


def console_main() -> None:
    sys.exit(int(main()))

