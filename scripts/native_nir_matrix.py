#!/usr/bin/env python3
"""The frameworks' own NIR export/import beside snn-interop's, on the same models.

    make native-nir-matrix     # builds .venv-nir-native (nir 1.0.8) and writes docs/native-nir.md

For each ordered pair (A, B): A's example network (its plugin's ``example_mlp``: A's own layers,
written in A's idiom) runs natively on a seeded input; then it goes through
  - A's own NIR export and B's own NIR import (the frameworks' documented calls), and
  - snn-interop (A's plugin to_nir, B's plugin from_nir),
and each result runs on the same input. The table gives the output spike mismatches (out of
all output spikes of the source), or the error the frameworks' own path raised.

The frameworks' own NIR code needs nir >= 1.0.7 (sinabs pins nir <= 1.0.4 for its package but
its NIR functions run on 1.0.8), so this runs in its own environment, not the test one.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from datetime import date
from importlib.metadata import version
from pathlib import Path

import torch

from snn_interop import registry

FRAMEWORKS = ("snntorch", "spikingjelly", "sinabs", "norse")
T, BATCH = 60, 2


def _export(framework: str, model: torch.nn.Module, x: torch.Tensor):
    """The framework's own documented export call, with the sample its docs show."""
    if framework == "snntorch":
        from snntorch.export_nir import export_to_nir

        return export_to_nir(model, x[0, :1])
    if framework == "spikingjelly":
        from spikingjelly.activation_based.nir_exchange import export_to_nir

        return export_to_nir(model, x[0, :1])
    if framework == "sinabs":
        import sinabs

        return sinabs.to_nir(model, x[0, :1])
    import norse.torch

    return norse.torch.to_nir(model, x[0, :1])


def _stateful(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Step an imported executor that takes (input, state) and returns (output, state)."""
    state, outputs = None, []
    for x_t in x:
        out, state = module(x_t, state) if state is not None else module(x_t)
        outputs.append(out)
    return torch.stack(outputs)


def _import_and_run(framework: str, graph, x: torch.Tensor) -> torch.Tensor:
    """The framework's own documented import call, run the way its docs run the result."""
    if framework == "snntorch":
        from snntorch.import_nir import import_from_nir

        return _stateful(import_from_nir(graph), x)
    if framework == "spikingjelly":
        from spikingjelly.activation_based.nir_exchange import import_from_nir

        return _stateful(import_from_nir(graph), x)
    if framework == "sinabs":  # *Squeeze layers: batch and time folded, [B * T, ...]
        import sinabs

        steps, batch = x.shape[:2]
        model = sinabs.from_nir(graph, batch_size=batch)
        out = model(x.transpose(0, 1).reshape(batch * steps, *x.shape[2:]))
        out = out[0] if isinstance(out, tuple) else out
        return out.reshape(batch, steps, *out.shape[1:]).transpose(0, 1)
    import norse.torch

    return _stateful(norse.torch.from_nir(graph), x)


def _cell(run: Callable[[], torch.Tensor], reference: torch.Tensor) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.no_grad():
                y = run()
    except Exception as exc:  # noqa: BLE001 - a failure of the frameworks' path is a result
        return f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
    if y.shape != reference.shape:
        return f"output shape {tuple(y.shape)} (expected {tuple(reference.shape)})"
    mismatches = int((y.to(reference.dtype) != reference).sum())
    return "exact (0)" if mismatches == 0 else f"{mismatches} / {reference.numel()}"


def measure() -> dict[tuple[str, str], tuple[str, str, int]]:
    x = (torch.rand(T, BATCH, 12, generator=torch.Generator().manual_seed(3)) < 0.4).float()
    cells = {}
    for a in FRAMEWORKS:
        source = registry.get(a)
        model = source.example_mlp()
        with torch.no_grad():
            reference, _ = source.run_model(model, x)
        for b in FRAMEWORKS:
            target = registry.get(b)
            print(f"{a} -> {b}", file=sys.stderr, flush=True)
            theirs = _cell(lambda: _import_and_run(b, _export(a, source.example_mlp(), x), x), reference)
            ours = _cell(lambda: target.from_nir(source.to_nir(source.example_mlp(), x[0]), dtype=torch.float32)(x), reference)
            cells[(a, b)] = (theirs, ours, int(reference.sum()))
    return cells


CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "nir-paper"


def measure_corpus() -> dict[tuple[str, str], tuple[str, str, int]]:
    """Each NIR-paper file through each framework's own import and through snn-interop, against
    the file's reference semantics (snn-interop's canonical run with the defaults its authors used,
    tests/nir/corpus.py), on one seeded Bernoulli(0.3) input."""
    import nir

    from snn_interop.nir.graph import from_nir

    sys.path.insert(0, str(CORPUS.parents[2]))  # the repository, for the corpus tests' documented defaults
    from tests.nir.corpus import DEFAULTS, FILES, corpus_input

    cells = {}
    for name in FILES:
        try:
            graph = nir.read(CORPUS / name)
        except Exception as exc:  # noqa: BLE001 - the installed nir refusing a file is a result
            failed = f"nir {version('nir')} nir.read: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
            cells.update({(name, fw): (failed, failed, -1) for fw in FRAMEWORKS})
            continue
        x = corpus_input(graph).float()
        defaults = DEFAULTS.get(name)
        options = {} if defaults is None else {"defaults": defaults}
        with torch.no_grad():
            reference = from_nir(graph, None, dtype=torch.float32, **options)(x)
        for fw in FRAMEWORKS:
            print(f"{name} -> {fw}", file=sys.stderr, flush=True)
            theirs = _cell(lambda: _import_and_run(fw, nir.read(CORPUS / name), x), reference)
            ours = _cell(lambda: registry.get(fw).from_nir(graph, dtype=torch.float32, **options)(x), reference)
            cells[(name, fw)] = (theirs, ours, int(reference.sum()))
    return cells


def report(cells: dict[tuple[str, str], tuple[str, str, int]], corpus: dict[tuple[str, str], tuple[str, str, int]]) -> str:
    versions = ", ".join(f"{n} {version(n)}" for n in ("torch", "nir", "nirtorch", *FRAMEWORKS))
    exact_theirs = sum(v[0].startswith("exact") for v in cells.values())
    exact_ours = sum(v[1].startswith("exact") for v in cells.values())
    lines = [
        "<!-- generated by scripts/native_nir_matrix.py (make native-nir-matrix): do not edit by hand -->",
        "# The frameworks' own NIR paths beside snn-interop", "",
        f"Measured {date.today().isoformat()} on CPU with {versions}.", "",
        "Each source framework's example network (its plugin's `example_mlp`: 12 -> 16 -> 5, its own LIF",
        f"layers and a non-default surrogate, float32) runs natively on one seeded input (T = {T}, batch {BATCH},",
        "Bernoulli(0.4) spikes); the converted model runs on the same input. Cells: output spikes that differ",
        "from the source's own run (of all output entries), or the error the documented call raised.", "",
        f"**Exact: {exact_theirs} of {len(cells)} ordered pairs (round trips included) through the frameworks' own paths;"
        f" {exact_ours} of {len(cells)} through snn-interop.**", "",
        "| source -> target | frameworks' own export + import | snn-interop |", "|---|---|---|",
    ]
    lines += [f"| {a} -> {b} | {theirs} | {ours} |" for (a, b), (theirs, ours, _) in cells.items()]
    lines += ["", "What the frameworks' own files lose, whatever the pair: the surrogate gradient (NIR has none),",
              "the reset mode and timing, the threshold comparison at equality and the discretisation; each",
              "framework reads the file with its own conventions (docs/frameworks/). snn-interop carries all of",
              "them in node metadata (docs/nir-metadata.md).", "",
              "## The NIR paper's files, imported", "",
              "Each file in tests/data/nir-paper through each framework's own documented import call and through",
              "snn-interop, float32, on one seeded Bernoulli(0.3) input (T = 100, batch 2), against the file's",
              "reference run: snn-interop's canonical semantics with what its authors ran it with (Braille: Euler at",
              "dt = 1e-4, reset as named; cnn_sinabs: dt = 1, subtract; the rest: NIR's own semantics). Cells:",
              "output entries that differ, or the error the call raised.", "",
              f"**Exact: {sum(v[0].startswith('exact') for v in corpus.values())} of {len(corpus)} through the frameworks' own imports; "
              f"{sum(v[1].startswith('exact') for v in corpus.values())} of {len(corpus)} through snn-interop.**", "",
              "| file -> framework | framework's own import | snn-interop | reference output spikes |", "|---|---|---|---|"]
    lines += [f"| {f} -> {fw} | {theirs} | {ours} | {n if n >= 0 else ''} |" for (f, fw), (theirs, ours, n) in corpus.items()]
    lines += ["", "A file the installed nir cannot read fails both paths here; in the test environment (nir 1.0.4)",
              "snn-interop runs every corpus file identically in every framework (tests/nir/test_corpus.py). A file",
              "whose reference output has no spikes on this input only shows that nothing fires."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "native-nir.md")
    args = parser.parse_args(argv)
    text = report(measure(), measure_corpus())
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(args.out)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
