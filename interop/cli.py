"""Command-line entry points: ``snn-interop`` and ``snn-convert`` (``snn-conformance`` lives in snn_interop_conformance.cli).

Each ``main(argv) -> ExitCode`` is callable from code and tests; the ``*console_main``
shims turn it into a process exit status. Users see no traceback unless ``--debug``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

from snn_interop import __version__, catalogue, hardware, inputs, registry
from snn_interop.errors import ExitCode, InteropError, InvalidGraph, check_output
from snn_interop.nir.neurons import NirDefaults
from snn_interop.spec.neurons import Discretisation, ResetMode
from snn_interop.spec.schema import SpecError

if TYPE_CHECKING:  # torch is imported by the commands that need it: --help stays fast
    import torch


def _cmd_spec(args: argparse.Namespace) -> ExitCode:
    if args.json:
        print(json.dumps(catalogue.as_dict(), indent=2))
    else:
        print(catalogue.as_text())
    return ExitCode.OK


def _cmd_plugins(args: argparse.Namespace) -> ExitCode:
    infos = [registry.info(name) for name in registry.names()]
    if args.json:
        print(json.dumps([vars(i) for i in infos], indent=2))
        return ExitCode.OK
    if not infos:
        print("no plugins registered (entry-point group snn_interop.plugins)")
    for i in infos:
        state = f"{i.name} {i.version}" if i.unavailable is None else f"unavailable: {i.unavailable}"
        hint = f"  (pip install 'snn-interop[{i.extra}]')" if i.unavailable and i.extra else ""
        print(f"{i.name:14s} {i.target:32s} {state}{hint}")
        if args.verbose and i.capabilities:
            caps = i.capabilities
            print("    neurons:    " + ", ".join(f"{k} -> {v}" for k, v in caps["neurons"].items()))
            for k, v in caps["conventions"].items():
                print(f"    {k}: {v}")
            print(f"    surrogates: {caps['surrogates']}")
            print("    backends:   " + "; ".join(f"{d}: {', '.join(b)}" for d, b in caps["backends"].items()))
    return ExitCode.OK


def _rate(text: str) -> float:
    """An --input-rate: a spike probability in (0, 1]."""
    try:
        return inputs.check_rate(float(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _add_nir_default_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nir-dt", type=float, metavar="SECONDS",
                   help="a .nir file from elsewhere (no snn-interop metadata): its time step (default 1e-4 s, the NIR paper's)")
    p.add_argument("--nir-discretisation", choices=[d.value for d in Discretisation],
                   help="... and how its ODEs are stepped (default exact)")
    p.add_argument("--nir-reset", choices=[r.value for r in ResetMode if r is not ResetMode.NONE],
                   help="... and its reset (default to_value, as nir >= 1.0.7 documents; nir <= 1.0.4 documented subtract)")


def _add_convert_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="source_fw", metavar="FW", help="source framework (an installed plugin) or 'nir' (the default for a .nir SOURCE)")
    p.add_argument("--to", dest="target_fw", metavar="FW", help="target framework (an installed plugin), 'nir', or a chip: "
                                                               "xylo, speck, loihi (docs/hardware.md)")
    p.add_argument("source", nargs="?", help="a .nir file, or module:callable returning a torch.nn.Module "
                                             "(importable from the working directory or PYTHONPATH): an nn.Sequential of "
                                             "the framework's neurons and torch layers, blocks nested as you like, or a class "
                                             "whose forward runs its layers on time-major input, as a chain or as a graph with "
                                             "skip connections (sums of layer outputs); in eval mode when "
                                             "it has BatchNorm or Dropout (docs/cli.md)")
    p.add_argument("-o", "--output", metavar="OUT", help="a .nir file for --to nir; else a directory (model.py, model.nir, weights.pt)")
    p.add_argument("--weights", metavar="FILE", help="a state dict for module:callable, loaded with weights_only=True")
    p.add_argument("--input-shape", type=int, nargs="+", metavar="N", help="one step's input shape without batch (inferred when possible)")
    p.add_argument("--steps", type=int, default=50, metavar="T", help="time steps of the verification input (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the verification input, Bernoulli spikes at --input-rate (default 0)")
    p.add_argument("--verify", action="store_true", help="run source and converted model on the same input; exit 1 unless exact")
    p.add_argument("--report", metavar="FILE.json", help="write the verification report as JSON")
    _add_nir_default_args(p)
    p.add_argument("--load-inputs", metavar="F", help="verify (and embed the reference) on your own input: F holds a time-major "
                                                      "tensor [T, B, ...] as torch.save({'x': x}, F) writes it (snn-interop compare "
                                                      "--save-inputs too), instead of --steps of seeded spikes")
    p.add_argument("--input-rate", type=_rate, metavar="P",
                   help=f"spike probability per step and input channel of the seeded input (default {inputs.SPIKE_P:g}; "
                        f"--to a chip {hardware.SPIKE_P:g})")
    p.add_argument("--force", action="store_true", help="replace an existing OUT (and report)")
    p.add_argument("--list", action="store_true", help="list installed plugins with versions and capabilities, then exit")
    p.add_argument("--quiet", action="store_true", help="no progress or table on the terminal")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    neurons = p.add_mutually_exclusive_group()
    neurons.add_argument("--native-only", dest="neurons", action="store_const", const="native",
                         help="refuse (exit 6) when a neuron cannot be the target framework's own layer, instead of running it as "
                              "the exact canonical layer")
    neurons.add_argument("--allow-approximation", dest="neurons", action="store_const", const="approximate",
                         help="build such a neuron as the target's own layer for the nearest neuron it expresses; the changed "
                              "conventions are listed and --verify measures them (exit 0 when only they differ)")
    p.add_argument("--embed-reference", action=argparse.BooleanOptionalAction, default=None,
                   help="store a reference run of the source model in the written graph's metadata, for snn-interop verify "
                        "(default: on with --verify and --to nir)")
    p.add_argument("--reference-budget", metavar="SIZE", help="most bytes the reference may add to the file: 2MiB, 500KiB, "
                                                               "100000 or 25%% (default: 10%% of the file or 1 MiB, whichever is larger)")


def _cmd_convert(args: argparse.Namespace) -> ExitCode:
    """snn-convert: load, convert, verify, write (see docs/cli.md)."""
    from snn_interop import conversion as conv, reference

    if args.list:
        args.verbose = True
        return _cmd_plugins(args)
    if args.source_fw is None and args.source and args.source.endswith(".nir"):
        args.source_fw = conv.NIR
    missing = [flag for flag, value in (("--from", args.source_fw), ("--to", args.target_fw), ("SOURCE", args.source), ("-o", args.output)) if not value]
    if missing:
        print(f"error: snn-convert needs {', '.join(missing)} (see snn-convert --help)", file=sys.stderr)
        return ExitCode.USAGE
    say = (lambda m: None) if args.quiet or args.json else (lambda m: print(f"[snn-convert] {m} ...", file=sys.stderr, flush=True))
    check_output(args.output, "file" if args.target_fw == conv.NIR else "directory", args.force)
    if args.report:
        check_output(args.report, "file", args.force)
    if args.input_rate is not None and args.load_inputs:
        print("error: give --input-rate (seeded spikes) or --load-inputs (your input), not both", file=sys.stderr)
        return ExitCode.USAGE
    x = inputs.load_inputs(args.load_inputs) if args.load_inputs else None
    if hardware.is_target(args.target_fw):
        return _cmd_handoff(args, say, x)
    conv.resolve(args.source_fw)
    try:
        conv.resolve(args.target_fw)
    except conv.UnknownFramework as exc:  # --to also takes a chip
        raise conv.UnknownFramework(f"{exc} --to also takes a hardware target: {', '.join(hardware.names()) or 'none installed'}.") from exc
    embed = args.embed_reference if args.embed_reference is not None else (args.verify and args.target_fw == conv.NIR)
    try:
        budget = reference.Budget.parse(args.reference_budget) if args.reference_budget else reference.Budget()
    except ValueError as exc:
        print(f"error: --reference-budget: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    for flag, value in (("--input-rate", args.input_rate), ("--load-inputs", args.load_inputs)):
        if value is not None and not (args.verify or embed):
            print(f"warning: {flag} sets the input of --verify and of an embedded reference; without either it has no effect",
                  file=sys.stderr)
    say(f"loading {args.source}")
    is_file = args.source.endswith(".nir") or Path(args.source).is_file()
    model = conv.read_nir(args.source) if is_file else conv.load_callable(args.source, args.weights, conv.resolve(args.source_fw))
    graph, built, report = conv.convert_full(model, args.source_fw, args.target_fw, steps=args.steps, seed=args.seed,
                                             input_rate=args.input_rate or inputs.SPIKE_P, x=x, verify_result=args.verify,
                                             progress=say, embed_reference=embed, reference_budget=budget,
                                             neurons=args.neurons or "exact", input_shape_=tuple(args.input_shape) if args.input_shape else None,
                                             defaults=_nir_defaults(args))
    say(f"writing {args.output}")
    conv.write_output(graph if args.target_fw == conv.NIR else built, graph, args.output, report, force=args.force)
    if args.report:
        _write_json(Path(args.report), report.to_dict())
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif not args.quiet and report.exact is not None:
        print(report.table())
    if not args.quiet and not args.json and report.reference:
        r = report.reference
        where = Path(args.output) / "model.nir" if args.target_fw != conv.NIR else args.output
        print(f"embedded reference: {r['bytes']} bytes added ({r['file_bytes_without']} -> {r['file_bytes']}, budget {r['budget_bytes']}; "
              f"gradient {r['gradient']}); check it with: snn-interop verify {where}")
    if not args.quiet and not args.json:
        print(f"wrote {args.output}" + ("" if args.target_fw == conv.NIR else f" (load it with: from model import load, in {args.output})"))
    if not args.quiet and not args.json:
        for line in report.written_as_notes:
            print(f"written as: {line}")
    if not args.quiet and not args.json and report.approximated and not args.verify:
        print("approximated (allowed): " + "; ".join(report.approximated) + " (measure the effect with --verify)")
    return ExitCode.FAILED if report.exact is False and not report.approximated else ExitCode.OK


def _nir_defaults(args: argparse.Namespace) -> NirDefaults | None:
    """The --nir-* options as NirDefaults, None when none was given."""
    given = {"dt": args.nir_dt, "discretisation": args.nir_discretisation and Discretisation(args.nir_discretisation),
             "reset": args.nir_reset and ResetMode(args.nir_reset)}
    given = {k: v for k, v in given.items() if v is not None}
    return NirDefaults(**given) if given else None


def _cmd_handoff(args: argparse.Namespace, say: Callable[[str], None], x: torch.Tensor | None) -> ExitCode:
    """snn-convert --to xylo|speck|loihi: check the chip's rules, quantise, map, simulate (docs/hardware.md);
    on ``x`` (--load-inputs) when given, else on seeded spikes."""
    from snn_interop import conversion as conv

    hardware.get(args.target_fw)  # an unusable toolchain fails before the model is loaded
    say(f"loading {args.source}")
    is_file = args.source.endswith(".nir") or Path(args.source).is_file()
    model = conv.read_nir(args.source) if is_file else conv.load_callable(args.source, args.weights, conv.resolve(args.source_fw))
    graph, _, _ = conv.convert_full(model, args.source_fw, conv.NIR, steps=args.steps, seed=args.seed, x=x, verify_result=False,
                                    progress=say, input_shape_=tuple(args.input_shape) if args.input_shape else None,
                                    defaults=_nir_defaults(args))
    report = hardware.handoff(graph, args.target_fw, args.output, steps=args.steps, seed=args.seed,
                              rate=args.input_rate or hardware.SPIKE_P, x=None if x is None else x.double(), force=args.force, source=f"{args.source_fw}:{args.source}",
                              progress=say)
    if args.report:
        _write_json(Path(args.report), report.to_dict())
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif not args.quiet:
        print(report.table())
        print(f"wrote {args.output}")
    return ExitCode.OK if report.within_bound else ExitCode.FAILED


def _cmd_inspect(args: argparse.Namespace) -> ExitCode:
    """snn-interop inspect FILE.nir: every node as snn-interop reads it (snn_interop.describe)."""
    from snn_interop import conversion as conv, describe

    graph = conv.read_nir(args.file)
    defaults = _nir_defaults(args) or NirDefaults()
    try:
        description = describe.describe(graph, defaults)
    except SpecError as exc:
        raise InvalidGraph(f"{args.file}: {exc}") from exc
    fits = {}
    for target in args.target or []:
        t = hardware.get(target)
        fits[target] = {"chip": t.CHIP, "violations": [asdict(v) for v in hardware.fits(graph, target, defaults)]}
    if fits:
        description["targets"] = fits
    print(json.dumps(description, indent=2) if args.json else describe.text(description, args.file))
    return ExitCode.CONSTRAINT if any(f["violations"] for f in fits.values()) else ExitCode.OK


def _cmd_verify(args: argparse.Namespace) -> ExitCode:
    """snn-interop verify FILE.nir: rebuild in each framework, run the embedded input, compare (docs/reference.md)."""
    from snn_interop import conversion as conv, reference

    graph = conv.read_nir(args.file)
    ref = reference.read_reference(graph)
    if ref is None:
        message = (f"{args.file} carries no embedded reference (no metadata[{reference.KEY!r}]); embed one with "
                   f"snn-convert --from FW --to nir ... --embed-reference (exit {int(ExitCode.NO_REFERENCE)}: NO_REFERENCE)")
        if args.json:
            print(json.dumps({"file": args.file, "exit": int(ExitCode.NO_REFERENCE), "error": message}, indent=2))
        print(f"error: {message}", file=sys.stderr)
        return ExitCode.NO_REFERENCE
    frameworks = args.framework or reference.installed_frameworks()
    for fw in frameworks:
        conv.resolve(fw)
    digest = reference.params_hash(args.file)
    checks = [reference.check_reference(graph, fw, params_sha256=digest) for fw in frameworks]
    params_match = digest == ref.data["params_sha256"]
    code = (ExitCode.PARAMS_CHANGED if not params_match else ExitCode.BEHAVIOUR_DIFFERS if not all(c.ok for c in checks)
            else ExitCode.OK)
    tol = ref.tolerance
    if args.json:
        print(json.dumps({"file": args.file, "exit": int(code), "verdict": code.name, "params_match": params_match,
                          "params_sha256": {"reference": ref.data["params_sha256"], "file": digest}, "source": ref.data["source"],
                          "dtype": ref.data["dtype"], "input": {k: v for k, v in ref.data["input"].items() if k != "data"},
                          "tolerance": {"atol": tol.atol, "rtol": tol.rtol}, "frameworks": [c.to_dict() for c in checks]}, indent=2))
        return code
    print(f"{args.file}: {ref.summary()}")
    print(f"  parameters sha256 {ref.data['params_sha256'][:16]}... " + ("match" if params_match else f"CHANGED (file has {digest[:16]}...)"))
    print(f"  {'framework':<14}{'spike mismatches':<20}{'first mismatch':<32}{'membrane err':<14}{'gradient err':<14}verdict")
    for c in checks:
        if c.error:
            print(f"  {c.framework:<14}{'-':<20}{'-':<32}{'-':<14}{'-':<14}NOT REPRODUCED: {c.error}")
            continue
        first = ("none" if c.first_mismatch is None else
                 f"step {c.first_mismatch['step']}, {c.first_mismatch['layer']}[{','.join(map(str, c.first_mismatch['neuron']))}]")
        num = lambda v: "n/a" if v is None else f"{v:.3g}"  # noqa: E731
        print(f"  {c.framework:<14}{f'{c.mismatches} of {c.outputs}':<20}{first:<32}{num(c.max_membrane_abs_err):<14}"
              f"{num(c.gradient_rel_err):<14}{'reproduced' if c.reproduces else 'DIFFERS'}")
    verdict = {ExitCode.OK: f"reproduced in {len(checks)} of {len(checks)} frameworks",
               ExitCode.PARAMS_CHANGED: "the parameters changed since the reference was taken",
               ExitCode.BEHAVIOUR_DIFFERS: f"behaviour differs in {sum(not c.reproduces for c in checks)} of {len(checks)} frameworks"}[code]
    print(f"  verdict: {verdict} (tolerance {tol.atol:g} abs, {tol.rtol:g} rel; exit {int(code)}: {code.name})")
    if not ref.output().any():
        print("  note: the reference's output is all zeros, so matching it tests no spike; re-embed it with a denser "
              "--input-rate or more --steps (snn-convert ... --to nir --verify)")
    return code


def _cmd_compare(args: argparse.Namespace) -> ExitCode:
    """snn-interop compare A B: both on one input, every node recorded, the first divergence (docs/compare.md)."""
    import torch

    from snn_interop import compare

    if args.b is None and not args.load_outputs and not args.save_outputs:
        print("error: snn-interop compare needs B (a .nir file, module:callable or saved outputs), --load-outputs F, "
              "or --save-outputs F to only record A (see snn-interop compare --help)", file=sys.stderr)
        return ExitCode.USAGE
    if args.b is not None and args.load_outputs:
        print("error: give B or --load-outputs F, not both (--load-outputs F stands for B)", file=sys.stderr)
        return ExitCode.USAGE
    for flag, values in (("--framework", args.framework), ("--from", args.source_fw), ("--weights", args.weights)):
        if values and len(values) > 2:
            print(f"error: {flag} takes one value (both sides) or two (A, then B)", file=sys.stderr)
            return ExitCode.USAGE
    for path, kind in ((args.save_inputs, "file"), (args.save_outputs, "file"), (args.export_repro, "directory")):
        if path:
            check_output(path, kind, args.force, empty_ok=kind == "directory")
    dtype = {"float32": torch.float32, "float64": torch.float64}[args.dtype]
    tolerances = compare.Tolerances.load(args.tolerances) if args.tolerances else compare.Tolerances.load()
    specs = [args.a, args.b if args.b is not None else args.load_outputs]
    operands = [compare.Operand.open(spec, i, args.framework, args.source_fw, args.weights, dtype, _nir_defaults(args))
                for i, spec in enumerate(specs) if spec]
    if args.load_inputs:
        x = inputs.load_inputs(args.load_inputs)
    else:
        x = next((o.recording.x for o in operands if o.recording is not None), None)
        if x is None:
            shape = operands[0].input_shape(tuple(args.input_shape) if args.input_shape else None)
            x = inputs.bernoulli_input(args.steps, shape, args.seed, dtype, p=args.input_rate)
    if args.save_inputs:
        inputs.save_inputs(x, args.save_inputs)
    runs = [o.run(x) for o in operands]
    if args.save_outputs:
        runs[0].save(args.save_outputs)
    if len(runs) == 1:
        if not args.json:
            print(f"recorded {runs[0].source} ({runs[0].framework}) on input {tuple(x.shape)}; wrote {args.save_outputs}")
        return ExitCode.OK
    result = compare.localise(runs[0], runs[1], tolerances, fail_fast=args.fail_fast)
    repro = None
    if args.export_repro and result.first is not None:
        repro = compare.export_repro(result, runs[0], runs[1], args.export_repro)
    if args.json:
        print(json.dumps(result.to_dict() | {"repro": None if repro is None else str(repro)}, indent=2))
    else:
        print(result.text())
        if repro is not None:
            print(f"wrote {repro}: a.nir, b.nir (from node {result.first.node} on), repro.pt, replay.py (python {repro}/replay.py)")
    return result.exit_code


def _write_json(path: Path, data: dict) -> None:
    """Atomically: a temporary file beside the target, then rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def _cmd_conformance(args: argparse.Namespace) -> ExitCode:
    """snn-interop conformance ...: the same as snn-conformance (docs/conformance.md)."""
    from snn_interop_conformance import cli as conformance_cli

    return conformance_cli.main(args.args)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="snn-interop",
        description="Canonical SNN semantics and exact conversion between frameworks via NIR.",
    )
    p.add_argument("--version", action="version", version=f"snn-interop {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser("spec", help="print the canonical spec catalogue (surrogates, neurons, resets)")
    s.add_argument("--json", action="store_true", help="machine-readable catalogue")
    s.set_defaults(run=_cmd_spec)

    s = sub.add_parser("plugins", help="list registered framework plugins and their availability")
    s.add_argument("--json", action="store_true", help="machine-readable list, with capabilities")
    s.add_argument("-v", "--verbose", action="store_true", help="also what each plugin expresses natively")
    s.set_defaults(run=_cmd_plugins)

    s = sub.add_parser("convert", help="convert a model between frameworks (same as snn-convert)")
    _add_convert_args(s)
    s.set_defaults(run=_cmd_convert)

    s = sub.add_parser("verify", help="check that installed frameworks reproduce the reference embedded in a .nir file")
    s.add_argument("file", metavar="FILE.nir", help="a .nir file written with snn-convert --embed-reference")
    s.add_argument("--framework", action="append", metavar="FW", help="a framework to check (repeatable; default: every installed plugin)")
    s.add_argument("--json", action="store_true", help="the results as JSON on stdout")
    s.set_defaults(run=_cmd_verify)

    s = sub.add_parser("inspect", help="what a .nir file holds, as snn-interop reads it: every node, neuron semantics, notes",
                       description="Print each node of a .nir file with its type, its inputs and what it computes: a neuron as "
                                   "its canonical model and conventions (from snn-interop's metadata, or the defaults a plain NIR "
                                   "node is read with), a layer with its sizes, and the node groups snn-interop writes for what NIR "
                                   "has no node for; then the graph's notes and its embedded reference.")
    s.add_argument("file", metavar="FILE.nir")
    _add_nir_default_args(s)
    s.add_argument("--target", action="append", metavar="CHIP",
                   help=f"also check a chip's design rules, as snn-convert --to CHIP does, building and writing nothing "
                        f"({', '.join(hardware.names()) or 'no target installed'}; repeatable); exit 17 when the graph breaks any")
    s.add_argument("--json", action="store_true", help="the description as JSON on stdout")
    s.set_defaults(run=_cmd_inspect)

    s = sub.add_parser("compare", help="run two models on the same input with every node recorded; report where they part ways",
                       description="Run A and B on one seeded input with every NIR node recorded per step and report, node by node "
                                   "in topological order, the first divergence, membranes around it, mismatches per node and the "
                                   "smallest tolerances that would have passed (docs/compare.md).",
                       epilog="exit codes: 0 match, 1 mismatch, 16 only declared deviations, 2 usage, 6 unsupported, "
                              "4/5/7/8/10 plugin, unknown framework, bad .nir, invalid graph or recording, bad source")
    s.add_argument("a", metavar="A", help="a .nir file, module:callable (with --from), or outputs saved with --save-outputs")
    s.add_argument("b", metavar="B", nargs="?", help="the same kinds as A")
    s.add_argument("--framework", action="append", metavar="FW",
                   help="the plugin that runs a .nir operand (default: nir, snn-interop's reference semantics); once for both, twice for A then B")
    s.add_argument("--from", dest="source_fw", action="append", metavar="FW", help="the framework of a module:callable operand; once or twice")
    s.add_argument("--weights", action="append", metavar="FILE", help="a state dict for a module:callable operand; once or twice")
    s.add_argument("--input-shape", type=int, nargs="+", metavar="N", help="one step's input shape without batch (inferred when possible)")
    s.add_argument("--steps", type=int, default=50, metavar="T", help="time steps of the seeded input (default 50)")
    s.add_argument("--seed", type=int, default=0, help="seed of the input, Bernoulli spikes at --input-rate (default 0)")
    s.add_argument("--input-rate", type=_rate, default=inputs.SPIKE_P, metavar="P",
                   help=f"spike probability per step and input channel of the seeded input (default {inputs.SPIKE_P:g})")
    s.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="dtype .nir operands run in (default float64)")
    _add_nir_default_args(s)
    s.add_argument("--tolerances", metavar="FILE.toml", help="tolerances and declared deviations (default: the shipped compare_tolerances.toml)")
    s.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    s.add_argument("--fail-fast", action="store_true", help="report nodes only up to the first divergent one")
    s.add_argument("--save-inputs", metavar="F", help="write the input to F (torch.save of {'x': tensor})")
    s.add_argument("--load-inputs", metavar="F", help="run on the input in F instead of the seeded one")
    s.add_argument("--save-outputs", metavar="F", help="write A's recording to F (B may then be omitted)")
    s.add_argument("--load-outputs", metavar="F", help="B is the recording in F (written by --save-outputs)")
    s.add_argument("--export-repro", metavar="DIR", help="on a divergence: the subgraph from the divergent node on, its input and "
                                                         "state, and replay.py")
    s.add_argument("--force", action="store_true", help="replace existing --save-inputs/--save-outputs files and a non-empty "
                                                        "--export-repro directory")
    s.set_defaults(run=_cmd_compare)

    s = sub.add_parser("conformance", add_help=False, help="run the conformance suite (same as snn-conformance; see its --help)")
    s.add_argument("args", nargs=argparse.REMAINDER, help="snn-conformance's arguments")
    s.set_defaults(run=_cmd_conformance)
    return p


def _run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> ExitCode:
    # torch logs "Triton not available" when spikingjelly imports on a machine without a GPU:
    # noise for a converter's user, so it is silenced here (and only in the command-line tools).
    logging.getLogger("torch._library.triton").setLevel(logging.ERROR)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return ExitCode(exc.code or 0) if exc.code in (0, 2, None) else ExitCode.USAGE
    try:
        return args.run(args)
    except InteropError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"error: {exc}\n(exit {int(exc.code)}: {exc.code.name})", file=sys.stderr)
        return exc.code
    except registry.PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.PLUGIN
    except Exception as exc:  # noqa: BLE001 - last line of defence for users
        if getattr(args, "debug", False):
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug)", file=sys.stderr)
        return ExitCode.INTERNAL


def main(argv: Sequence[str] | None = None) -> ExitCode:
    """``snn-interop COMMAND ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["conformance"]:  # its options are snn-conformance's own: argparse would claim them here
        return _cmd_conformance(argparse.Namespace(args=argv[1:]))
    return _run(_parser(), argv)


def convert_main(argv: Sequence[str] | None = None) -> ExitCode:
    """``snn-convert --from FW --to FW SOURCE -o OUT [--verify] ...``."""
    p = argparse.ArgumentParser(
        prog="snn-convert",
        description="Convert a spiking network between frameworks through NIR, carrying every semantic NIR lacks "
                    "(surrogate, reset mode and timing, threshold compare) so the result behaves the same. "
                    "With --verify, run both on the same seeded input and report spike, membrane and gradient differences.",
        epilog="exit codes: 0 ok, 1 not exact, 2 usage, 4 plugin, 5 unknown framework, 6 unsupported, 7 bad .nir, "
               "8 invalid graph, 9 NaN/Inf weights, 10 bad source, 11 output exists, 15 reference too large, "
               "17 breaks the chip's design rules (docs/cli.md)")
    p.add_argument("--version", action="version", version=f"snn-interop {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    _add_convert_args(p)
    p.set_defaults(run=_cmd_convert, verbose=True)
    return _run(p, argv)


def console_main() -> None:
    sys.exit(int(main()))


def convert_console_main() -> None:
    sys.exit(int(convert_main()))

