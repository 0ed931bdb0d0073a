"""Command-line entry points: ``snn-interop``, ``snn-convert`` and ``snn-conformance``.

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

from snn_interop import __version__, catalogue, registry
from snn_interop.errors import ExitCode, InteropError


NOT_BUILT = {
    "conformance": "issue 6 (conformance suite)",
}


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


def _not_built(what: str) -> Callable[[argparse.Namespace], ExitCode]:
    def run(_: argparse.Namespace) -> ExitCode:
        print(f"error: '{what}' is not built yet ({NOT_BUILT[what]}).", file=sys.stderr)
        return ExitCode.NOT_BUILT

    return run


def _add_convert_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="source_fw", metavar="FW", help="source framework (an installed plugin) or 'nir'")
    p.add_argument("--to", dest="target_fw", metavar="FW", help="target framework (an installed plugin) or 'nir'")
    p.add_argument("source", nargs="?", help="a .nir file, or module:callable returning a torch.nn.Module "
                                             "(importable from the working directory or PYTHONPATH)")
    p.add_argument("-o", "--output", metavar="OUT", help="a .nir file for --to nir; else a directory (model.py, model.nir, weights.pt)")
    p.add_argument("--weights", metavar="FILE", help="a state dict for module:callable, loaded with weights_only=True")
    p.add_argument("--input-shape", type=int, nargs="+", metavar="N", help="one step's input shape without batch (inferred when possible)")
    p.add_argument("--steps", type=int, default=50, metavar="T", help="time steps of the verification input (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the verification input (default 0)")
    p.add_argument("--verify", action="store_true", help="run source and converted model on the same input; exit 1 unless exact")
    p.add_argument("--report", metavar="FILE.json", help="write the verification report as JSON")
    p.add_argument("--force", action="store_true", help="replace an existing OUT (and report)")
    p.add_argument("--list", action="store_true", help="list installed plugins with versions and capabilities, then exit")
    p.add_argument("--quiet", action="store_true", help="no progress or table on the terminal")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")


def _cmd_convert(args: argparse.Namespace) -> ExitCode:
    """snn-convert: load, convert, verify, write (see docs/cli.md)."""
    from snn_interop import convert as conv

    if args.list:
        args.verbose = True
        return _cmd_plugins(args)
    missing = [flag for flag, value in (("--from", args.source_fw), ("--to", args.target_fw), ("SOURCE", args.source), ("-o", args.output)) if not value]
    if missing:
        print(f"error: snn-convert needs {', '.join(missing)} (see snn-convert --help)", file=sys.stderr)
        return ExitCode.USAGE
    say = (lambda m: None) if args.quiet or args.json else (lambda m: print(f"[snn-convert] {m} ...", file=sys.stderr, flush=True))
    for path in (args.output, args.report):
        if path and Path(path).exists() and not args.force:
            raise conv.OutputExists(f"{path} exists; pass --force to replace it (nothing was written).")
    conv.resolve(args.source_fw), conv.resolve(args.target_fw)
    say(f"loading {args.source}")
    is_file = args.source.endswith(".nir") or Path(args.source).is_file()
    model = conv.read_nir(args.source) if is_file else conv.load_callable(args.source, args.weights)
    graph, built, report = conv.convert_full(model, args.source_fw, args.target_fw, steps=args.steps, seed=args.seed,
                                             verify_result=args.verify, progress=say,
                                             input_shape_=tuple(args.input_shape) if args.input_shape else None)
    say(f"writing {args.output}")
    conv.write_output(graph if args.target_fw == conv.NIR else built, graph, args.output, report, force=args.force)
    if args.report:
        _write_json(Path(args.report), report.to_dict())
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif not args.quiet and report.exact is not None:
        print(report.table())
    if not args.quiet and not args.json:
        print(f"wrote {args.output}" + ("" if args.target_fw == conv.NIR else f" (load it with: from model import load, in {args.output})"))
    return ExitCode.FAILED if report.exact is False else ExitCode.OK


def _write_json(path: Path, data: dict) -> None:
    """Atomically: a temporary file beside the target, then rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def _add_conformance_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--framework", action="append", help="restrict to a framework (repeatable)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--quick", action="store_true", help="the small case set")
    p.add_argument("--out", metavar="DIR", help="report directory")


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

    s = sub.add_parser("conformance", help=f"run the conformance suite (not built yet: {NOT_BUILT['conformance']})")
    _add_conformance_args(s)
    s.set_defaults(run=_not_built("conformance"))
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
    return _run(_parser(), argv)


def convert_main(argv: Sequence[str] | None = None) -> ExitCode:
    """``snn-convert --from FW --to FW SOURCE -o OUT [--verify] ...``."""
    p = argparse.ArgumentParser(
        prog="snn-convert",
        description="Convert a spiking network between frameworks through NIR, carrying every semantic NIR lacks "
                    "(surrogate, reset mode and timing, threshold compare) so the result behaves the same. "
                    "With --verify, run both on the same seeded input and report spike, membrane and gradient differences.",
        epilog="exit codes: 0 ok, 1 not exact, 2 usage, 4 plugin, 5 unknown framework, 6 unsupported, 7 bad .nir, "
               "8 invalid graph, 9 NaN/Inf weights, 10 bad source, 11 output exists (docs/cli.md)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    _add_convert_args(p)
    p.set_defaults(run=_cmd_convert, verbose=True)
    return _run(p, argv)


def conformance_main(argv: Sequence[str] | None = None) -> ExitCode:
    """``snn-conformance`` (planned; issue 6)."""
    p = argparse.ArgumentParser(prog="snn-conformance", description=f"Run the conformance suite. Not built yet: {NOT_BUILT['conformance']}.")
    p.add_argument("--debug", action="store_true")
    _add_conformance_args(p)
    p.set_defaults(run=_not_built("conformance"))
    return _run(p, argv)


def console_main() -> None:
    sys.exit(int(main()))


def convert_console_main() -> None:
    sys.exit(int(convert_main()))


def conformance_console_main() -> None:
    sys.exit(int(conformance_main()))
