"""Command-line entry points: ``snn-interop``, ``snn-convert`` and ``snn-conformance``.

Each ``main(argv) -> ExitCode`` is callable from code and tests; the ``*console_main``
shims turn it into a process exit status. Users see no traceback unless ``--debug``.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from enum import IntEnum

from snn_interop import __version__, catalogue, registry


class ExitCode(IntEnum):
    """Process exit statuses, stable and documented in docs/cli.md."""

    OK = 0  #: success
    FAILED = 1  #: the command ran and found a problem (e.g. a mismatch)
    USAGE = 2  #: bad command line (argparse's own convention)
    NOT_BUILT = 3  #: the subcommand is planned but not built yet
    PLUGIN = 4  #: a plugin is missing, broken, or its framework is not installed
    INTERNAL = 70  #: an unexpected error (run with --debug for the traceback)


NOT_BUILT = {
    "convert": "issue 5 (snn-convert)",
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
    p.add_argument("--from", dest="source_fw", metavar="FW", help="source framework or 'nir'")
    p.add_argument("--to", dest="target_fw", metavar="FW", help="target framework or 'nir'")
    p.add_argument("source", nargs="?", help="a .nir file or module:callable")
    p.add_argument("-o", "--output", help="output path")
    p.add_argument("--verify", action="store_true", help="compare source and converted model")


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

    s = sub.add_parser("convert", help=f"convert a model (not built yet: {NOT_BUILT['convert']})")
    _add_convert_args(s)
    s.set_defaults(run=_not_built("convert"))

    s = sub.add_parser("conformance", help=f"run the conformance suite (not built yet: {NOT_BUILT['conformance']})")
    _add_conformance_args(s)
    s.set_defaults(run=_not_built("conformance"))
    return p


def _run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> ExitCode:
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return ExitCode(exc.code or 0) if exc.code in (0, 2, None) else ExitCode.USAGE
    try:
        return args.run(args)
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
    """``snn-convert`` (planned; issue 5)."""
    p = argparse.ArgumentParser(prog="snn-convert", description=f"Convert a model between frameworks. Not built yet: {NOT_BUILT['convert']}.")
    p.add_argument("--debug", action="store_true")
    _add_convert_args(p)
    p.set_defaults(run=_not_built("convert"))
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
