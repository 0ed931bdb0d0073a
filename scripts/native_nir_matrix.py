#!/usr/bin/env python3
"""The frameworks' own NIR export/import beside snn-interop's, on the same models.

    make native-nir-matrix     # builds .venv-nir-native (nir 1.0.8) and writes docs/native-nir.md

The same models in each framework (MODELS): an MLP with LIF (each plugin's ``example_mlp``), a conv
net with IF, pooling and LIF (``conv_net``) and a recurrent current-based net (``recurrent_net``,
snnTorch's RSynaptic: the only one snn-interop exports), each in A's own layers and idiom. For each
ordered pair (A, B): A's network runs natively (its plugin's ``run_model``) on a seeded input; then
it goes through
  - A's own NIR export and B's own NIR import (the frameworks' documented calls), and
  - snn-interop (A's plugin to_nir, B's plugin from_nir),
and each result runs on the same input. Each table (one per model, then the
NIR paper's files) gives the output spike mismatches (out of
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
        import sinabs.layers as sl

        # a Squeeze layer folds batch and time, [B * T, ...]: a one-sample input cannot fill its batch_size
        squeezed = any(isinstance(m, (sl.IAFSqueeze, sl.LIFSqueeze)) for m in model.modules())
        return sinabs.to_nir(model, x[0] if squeezed else x[0, :1])
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


def _seeded(layer: torch.nn.Module, gain: float, seed: int) -> torch.nn.Module:
    """``layer`` (a Linear or Conv) with seeded N(0, gain^2 / fan_in) weights and bias 0.1 gain."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        fan_in = layer.weight[0].numel()
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) * gain / fan_in**0.5)
        if layer.bias is not None:
            layer.bias.fill_(0.1 * gain)
    return layer


def conv_net(framework: str) -> torch.nn.Module:
    """Conv2d(2, 4, 3) -> IF -> 2x2 pooling -> Flatten -> Linear(36, 5) -> LIF on 2x8x8 input,
    written the way ``framework``'s users write it (its own layers, neurons and pooling)."""
    if framework == "snntorch":  # snnTorch has no IF neuron: Leaky(beta=1) is its IF
        import snntorch as snn

        return torch.nn.Sequential(_seeded(torch.nn.Conv2d(2, 4, 3), 1.5, 10), snn.Leaky(beta=1.0, init_hidden=True),
                                   torch.nn.AvgPool2d(2), torch.nn.Flatten(), _seeded(torch.nn.Linear(36, 5), 3.0, 11),
                                   snn.Leaky(beta=0.875, init_hidden=True, output=True))
    if framework == "spikingjelly":
        from spikingjelly.activation_based import layer, neuron

        # built in single-step mode as the MLP is; run_model switches the net to multi-step ("m") over x [T, B, ...]
        return torch.nn.Sequential(_seeded(layer.Conv2d(2, 4, 3), 1.5, 10), neuron.IFNode(), layer.AvgPool2d(2), layer.Flatten(),
                                  _seeded(layer.Linear(36, 5), 12.0, 11), neuron.LIFNode(tau=8.0))
    if framework == "sinabs":  # the DYNAP-CNN form: Squeeze neurons (batch and time folded) and SumPool2d
        import sinabs.layers as sl

        return torch.nn.Sequential(_seeded(torch.nn.Conv2d(2, 4, 3), 1.5, 10), sl.IAFSqueeze(batch_size=BATCH), sl.SumPool2d(2),
                                   torch.nn.Flatten(), _seeded(torch.nn.Linear(36, 5), 6.0, 11), sl.LIFSqueeze(tau_mem=8.0, batch_size=BATCH))
    import norse.torch as nt

    p = nt.LIFBoxParameters(tau_mem_inv=torch.tensor(125.0))
    return nt.SequentialState(_seeded(torch.nn.Conv2d(2, 4, 3), 1.5, 10), nt.IAFCell(), torch.nn.AvgPool2d(2), torch.nn.Flatten(),
                              _seeded(torch.nn.Linear(36, 5), 24.0, 11), nt.LIFBoxCell(p))


def recurrent_net(framework: str) -> torch.nn.Module | None:
    """A 12 -> 16 (recurrent current-based LIF) -> 5 (current-based LIF) network; only snnTorch has a
    recurrent CubaLIF layer snn-interop exports (RSynaptic with an all-to-all Linear recurrence).
    None for the others: spikingjelly and sinabs have no recurrent CubaLIF layer, and snn-interop's
    norse plugin does not export norse's LIFRecurrentCell (yet)."""
    if framework != "snntorch":
        return None
    import snntorch as snn

    rsyn = snn.RSynaptic(alpha=0.75, beta=0.875, linear_features=16, init_hidden=True)
    _seeded(rsyn.recurrent, 1.0, 12)
    return torch.nn.Sequential(_seeded(torch.nn.Linear(12, 16), 2.0, 0), rsyn, _seeded(torch.nn.Linear(16, 5), 2.0, 1),
                               snn.Synaptic(alpha=0.75, beta=0.875, init_hidden=True, output=True))


Cells = dict[tuple[str, str], tuple[str, str, int]]
MODELS: dict[str, tuple[Callable[[str], torch.nn.Module | None], tuple[int, ...]]] = {
    "mlp": (lambda fw: registry.get(fw).example_mlp(), (12,)),
    "conv": (conv_net, (2, 8, 8)),
    "recurrent": (recurrent_net, (12,)),
}


def measure(model: str = "mlp") -> Cells:
    """Every ordered pair (A, B) for one of MODELS: A's network natively (its plugin's run_model)
    against the frameworks' own export + import and against snn-interop. A source without the
    model (the builder gives None) has no rows."""
    build, shape = MODELS[model]
    x = (torch.rand(T, BATCH, *shape, generator=torch.Generator().manual_seed(3)) < 0.4).float()
    cells = {}
    for a in FRAMEWORKS:
        if build(a) is None:
            continue
        source = registry.get(a)
        with torch.no_grad():
            reference, _ = source.run_model(build(a), x)
        print(f"{model}: {a} native output spikes {int(reference.sum())} of {reference.numel()}", file=sys.stderr, flush=True)
        assert reference.sum() > 0, f"{model}: {a}'s own run gives no output spikes"
        for b in FRAMEWORKS:
            target = registry.get(b)
            print(f"{model}: {a} -> {b}", file=sys.stderr, flush=True)
            theirs = _cell(lambda: _import_and_run(b, _export(a, build(a), x), x), reference)
            ours = _cell(lambda: target.from_nir(source.to_nir(build(a), x[0]), dtype=torch.float32)(x), reference)
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


MODEL_TEXT: dict[str, tuple[str, list[str], list[str]]] = {
    "mlp": ("An MLP with LIF neurons", [
        "Each source framework's example network (its plugin's `example_mlp`: 12 -> 16 -> 5, its own LIF",
        f"layers and a non-default surrogate, float32) runs natively on one seeded input (T = {T}, batch {BATCH},",
        "Bernoulli(0.4) spikes); the converted model runs on the same input."], [
        "What the frameworks' own files lose, whatever the pair: the surrogate gradient (NIR has none),",
        "the reset mode and timing, the threshold comparison at equality and the discretisation; each",
        "framework reads the file with its own conventions (docs/frameworks/). snn-interop carries all of",
        "them in node metadata (docs/nir-metadata.md)."]),
    "conv": ("A conv net with IF, pooling and LIF", [
        "Each source framework's conv net (`conv_net` in scripts/native_nir_matrix.py, written in its own idiom:",
        "Conv2d(2, 4, 3) -> IF -> 2x2 pooling -> Flatten -> Linear(36, 5) -> LIF, seeded weights, float32):",
        "snnTorch: torch layers, `snn.Leaky(beta=1)` as its IF and `nn.AvgPool2d`, `init_hidden=True`;",
        "SpikingJelly: `layer.Conv2d/AvgPool2d/Flatten/Linear`, `IFNode`, `LIFNode(tau=8)`, run multi-step;",
        "sinabs: `IAFSqueeze`/`LIFSqueeze` (batch and time folded, the DYNAP-CNN form) and `sl.SumPool2d`;",
        "norse: a `SequentialState` of `Conv2d`, `IAFCell`, `AvgPool2d`, `Flatten`, `Linear`, `LIFBoxCell`.",
        f"Input: 2x8x8 Bernoulli(0.4) spikes, T = {T}, batch {BATCH}; each source runs natively through its",
        "plugin's `run_model`. sinabs' own export gets a batch-2 sample (a Squeeze layer cannot take one sample)."], [
        "What the frameworks' own paths lose on a conv net: only SpikingJelly's round trip gives the",
        "source's spikes. snnTorch's `export_to_nir` fails in nir's type inference of the Conv2d node with",
        "the batched sample (the batch taken for a spatial dimension); with an unbatched sample its trace",
        "fails instead at the Linear (Flatten(start_dim=1) of a sample without batch). norse's `to_nir`",
        "writes no node for `AvgPool2d` and `Flatten` (None), which every import refuses. SpikingJelly's",
        "import of sinabs' and norse's files fails as for the MLP (numpy arrays expected). snnTorch's import",
        "refuses SpikingJelly's IF (`r != 1`) and hands its IF layer's (spike, membrane) tuple to sinabs'",
        "SumPool2d. sinabs' and norse's imports of SpikingJelly's file pick the \"first\" of several input",
        "nodes, an order that changes from run to run: they feed the Linear a wrong-sized vector or return an",
        "inner layer's output, and which of the two can change between runs; norse's import of sinabs' file",
        "also feeds the Linear a wrong-sized vector (the Flatten's input shape misread). sinabs' own round",
        "trip runs but its import gives the IAF a lower membrane bound (min_v_mem = -1) the source did not",
        "have and drops the LIF's `norm_input`, so spikes differ. snn-interop maps Conv2d, IF, both pooling",
        "kinds and Flatten bit for bit and gives the source's spikes in every pair."]),
    "recurrent": ("A recurrent current-based (CubaLIF) net", [
        "Only snnTorch writes a recurrent current-based layer that snn-interop exports: `recurrent_net` is",
        "Linear(12, 16) -> `snn.RSynaptic(alpha=0.75, beta=0.875, linear_features=16, init_hidden=True)` ->",
        "Linear(16, 5) -> `snn.Synaptic(output=True)`, seeded weights (the recurrent Linear too), float32, on",
        f"the MLP's input (T = {T}, batch {BATCH}, Bernoulli(0.4)). snn-interop exports the RSynaptic recurrence",
        "as a NIR cycle (CubaLIF -> Affine -> CubaLIF). SpikingJelly and sinabs have no recurrent CubaLIF",
        "layer of their own to export from; norse has `LIFRecurrentCell`, but snn-interop's norse plugin",
        "does not export it yet, so the rows are snnTorch's only."], [
        "What snnTorch's own path loses: its `export_to_nir` raises for this net, with the batched sample its",
        "docs show (the same input-type error as for the MLP) and also with an unbatched sample (nir's type",
        "inference then stops at the Synaptic node), so no framework's own import gets a file. snn-interop",
        "carries the recurrence, both decays and the reset in the NIR cycle and reproduces the spikes exactly."]),
}


def _table(title: str, model: str, cells: Cells) -> list[str]:
    """One model's section: what ran, the exact counts, the table, what the frameworks' own path lost."""
    heading, intro, lost = MODEL_TEXT[model]
    exact_theirs = sum(v[0].startswith("exact") for v in cells.values())
    exact_ours = sum(v[1].startswith("exact") for v in cells.values())
    lines = [f"## {title}{heading}", "", *intro,
             "Cells: output spikes that differ from the source's own run (of all output entries), or the error the",
             "documented call raised.", "",
             f"**Exact: {exact_theirs} of {len(cells)} ordered pairs (round trips included) through the frameworks' own paths;"
             f" {exact_ours} of {len(cells)} through snn-interop.**", "",
             "| source -> target | frameworks' own export + import | snn-interop | source's output spikes |", "|---|---|---|---|"]
    lines += [f"| {a} -> {b} | {theirs} | {ours} | {n} |" for (a, b), (theirs, ours, n) in cells.items()]
    return [*lines, "", *lost, ""]


def report(tables: dict[str, Cells], corpus: Cells) -> str:
    """docs/native-nir.md: one table per model in MODELS, then the NIR paper's files."""
    versions = ", ".join(f"{n} {version(n)}" for n in ("torch", "nir", "nirtorch", *FRAMEWORKS))
    lines = [
        "<!-- generated by scripts/native_nir_matrix.py (make native-nir-matrix): do not edit by hand -->",
        "# The frameworks' own NIR paths beside snn-interop", "",
        f"Measured {date.today().isoformat()} on CPU with {versions}.", "",
        "The same models through each framework's own documented NIR export and import, and through",
        "snn-interop (the source plugin's `to_nir`, the target plugin's `from_nir`): an MLP with LIF, a conv",
        "net with IF, pooling and LIF, and a recurrent current-based net.", "",
    ]
    for i, (model, cells) in enumerate(tables.items(), 1):
        lines += _table(f"{i}. ", model, cells)
    lines += [f"## {len(tables) + 1}. The NIR paper's files, imported", "",
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
              "whose reference output has no spikes on this input only shows that nothing fires.", "",
              "The Braille network with bias has a recurrent Affine (lif1.w_rec) whose bias snnTorch, which trained",
              "it, adds from the first step on (RSynaptic adds V(S[-1] = 0)); the reference does too. A framework",
              "that delivers a recurrent edge only from the second step on drops that bias once, and its first",
              "steps differ (spikingjelly's own import above)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "native-nir.md")
    args = parser.parse_args(argv)
    text = report({model: measure(model) for model in MODELS}, measure_corpus())
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(args.out)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
