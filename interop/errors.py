"""Exit codes and the errors that carry them: one class per kind of bad input.

Every error's message is one paragraph naming the culprit and the way out; the CLI prints it
and exits with the error's code (docs/cli.md), without a traceback unless --debug.
"""
from __future__ import annotations

from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """Process exit statuses, stable and documented in docs/cli.md."""

    OK = 0  #: success
    FAILED = 1  #: the command ran and found a problem: a conversion not exact within tolerance
    USAGE = 2  #: bad command line (argparse's own convention)
    PLUGIN = 4  #: a plugin is missing or broken, or its framework is not installed
    UNKNOWN_FRAMEWORK = 5  #: --from/--to names no installed plugin (nor nir)
    UNSUPPORTED = 6  #: a layer or semantic the conversion cannot carry
    BAD_NIR = 7  #: the .nir file is not readable NIR (not HDF5, truncated, unknown structure)
    INVALID_GRAPH = 8  #: a readable NIR graph that is wrong: unknown node types, dangling edges, inconsistent shapes
    BAD_WEIGHTS = 9  #: NaN or Inf in the model's parameters
    BAD_SOURCE = 10  #: the source cannot be loaded (module:callable missing, raising, or not returning a module), or does not run in its framework
    OUTPUT_EXISTS = 11  #: the output exists and --force was not given
    NO_REFERENCE = 12  #: snn-interop verify: the .nir file carries no embedded reference
    PARAMS_CHANGED = 13  #: snn-interop verify: the graph's parameters differ from those the reference was taken with
    BEHAVIOUR_DIFFERS = 14  #: snn-interop verify: a framework does not reproduce the embedded reference within tolerance
    REFERENCE_TOO_LARGE = 15  #: snn-convert --embed-reference: the reference does not fit the size budget
    DECLARED_DEVIATIONS = 16  #: snn-interop compare: the runs differ only where the tolerance file declares a deviation
    CONSTRAINT = 17  #: snn-convert --to a chip: the graph breaks the chip's design rules (each violation named)
    INTERNAL = 70  #: an unexpected error; rerun with --debug


class InteropError(Exception):
    """A user-facing error with its exit code."""

    code: ExitCode = ExitCode.INTERNAL


class UnknownFramework(InteropError):
    code = ExitCode.UNKNOWN_FRAMEWORK


class Unsupported(InteropError):
    code = ExitCode.UNSUPPORTED


class BadNir(InteropError):
    code = ExitCode.BAD_NIR


class InvalidGraph(InteropError):
    code = ExitCode.INVALID_GRAPH


class BadWeights(InteropError):
    code = ExitCode.BAD_WEIGHTS


class BadSource(InteropError):
    code = ExitCode.BAD_SOURCE


class OutputExists(InteropError):
    code = ExitCode.OUTPUT_EXISTS


def check_output(path: str | Path, kind: str, force: bool, empty_ok: bool = False) -> None:
    """Refuse an output ``path`` that exists, unless ``force`` (or, with ``empty_ok``, it is an
    empty directory); and always one of the other ``kind`` ("file": a .nir file, a report;
    "directory": a converted model, a chip's artifacts): --force replaces an output, never a
    directory by a file or the other way round."""
    path = Path(path)
    if not path.exists():
        return
    if path.is_dir() != (kind == "directory"):
        raise OutputExists(f"{path} is {'a directory' if path.is_dir() else 'a file'}, where a {kind} is written: name another "
                           "path (nothing was written).")
    if empty_ok and path.is_dir() and not any(path.iterdir()):
        return
    if not force:
        raise OutputExists(f"{path} exists{' and is not empty' if empty_ok else ''}; pass --force to replace it "
                           "(nothing was written).")


class PluginUnavailable(InteropError):
    code = ExitCode.PLUGIN


class NoReference(InteropError):
    code = ExitCode.NO_REFERENCE


class ReferenceTooLarge(InteropError):
    code = ExitCode.REFERENCE_TOO_LARGE
