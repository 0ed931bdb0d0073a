"""snn-interop compare: recording every node, and finding where two models part ways.

The expected first divergence comes from the float64 oracle run on the hidden layer's input,
never from the code under test: two NIR graphs differ in one hidden layer, and compare must
name that layer, the neuron and the first step at which it fires differently.
"""
from __future__ import annotations

import json
import subprocess
import sys

import nir
import numpy as np
import pytest
import torch

from snn_interop import compare, conversion as conv, inputs
from snn_interop.cli import main
from snn_interop.errors import ExitCode
from snn_interop.graph import NeuronInfo, _key
from snn_interop.nir.graph import from_nir
from snn_interop.nir.neurons import neuron_from_node, node_from_neuron
from snn_interop.plugin_api import NotExpressible
from snn_interop.spec import oracle
from snn_interop.spec.neurons import Compare, Decay, Model, ResetMode, ResetTiming, SynapseOrder
from snn_interop_conformance.cases import neuron_cases
from snn_interop_conformance.tolerances import CONVERT_FP32, CONVERT_FP64

from .conftest import ROOT, plugin_or_skip
from .nir import networks

FRAMEWORKS = ("snntorch", "spikingjelly", "sinabs", "norse")
STEPS = 50


def _lif():
    return next(n for n in neuron_cases() if n.model is Model.LIF and n.reset is ResetMode.SUBTRACT)


def _variant(graph: nir.NIRGraph, node: str, **changes) -> nir.NIRGraph:
    """``graph`` with ``node``'s neuron changed (the exact semantics travel in its metadata)."""
    neuron = neuron_from_node(graph.nodes[node]).with_(**changes)
    nodes = dict(graph.nodes)
    nodes[node] = node_from_neuron(neuron, tuple(int(s) for s in graph.nodes[node].input_type["input"]))
    return nir.NIRGraph(nodes=nodes, edges=list(graph.edges))


def _run(graph: nir.NIRGraph, x: torch.Tensor, framework: str | None = None) -> compare.Recording:
    plugin = None if framework is None else plugin_or_skip(framework)
    return compare.record(from_nir(graph, plugin, dtype=x.dtype), x, plugin, source=framework or "reference", graph=graph)


def _oracle_first_step(graph_a: nir.NIRGraph, graph_b: nir.NIRGraph, node: str, drive: torch.Tensor, field: str = "spikes"):
    """The first step (and batch, neuron) at which the oracle's runs of ``node``'s neuron in
    the two graphs differ on the same input ``drive`` [T, B, n]."""
    ta = oracle.simulate(neuron_from_node(graph_a.nodes[node]), drive)
    tb = oracle.simulate(neuron_from_node(graph_b.nodes[node]), drive)
    diff = (getattr(ta, field) - getattr(tb, field)).abs() > CONVERT_FP64.atol
    return diff.nonzero()[0].tolist()


def _fc1(graph: nir.NIRGraph, x: torch.Tensor) -> torch.Tensor:
    fc1 = graph.nodes["fc1"]
    return x.double() @ torch.as_tensor(fc1.weight).T + torch.as_tensor(fc1.bias)


# -- recording ---------------------------------------------------------------------------------
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_recording_never_changes_the_run(framework):
    plugin = plugin_or_skip(framework)
    try:
        cuba = networks.native_neuron(plugin, Model.CUBA_LIF, ResetMode.TO_VALUE)
    except LookupError:
        cuba = networks.native_neuron(plugin, Model.CUBA_LIF, ResetMode.SUBTRACT)
    graph = networks.recurrent(cuba)
    x = inputs.bernoulli_input(STEPS, (6,), 0, torch.float64)
    module = from_nir(graph, plugin, dtype=torch.float64)
    plain = module(x)
    rec = compare.record(module, x, plugin, graph=graph)
    assert torch.equal(rec.nodes["output"]["out"], plain)
    ref = _run(graph, x)
    # spikes, membrane and synaptic current, [T, B, ...] (norse's current is in its own units: not recorded)
    assert {"out", "v"} <= set(rec.nodes["lif1"]) and ("i" in rec.nodes["lif1"] or framework == "norse")
    assert ref.nodes["lif1"]["i"].shape == (STEPS, 2, 10)
    for node in ("lif1", "lif2"):
        for q in rec.nodes[node]:
            torch.testing.assert_close(rec.nodes[node][q], ref.nodes[node][q], atol=CONVERT_FP64.atol, rtol=CONVERT_FP64.rtol)
    assert rec.order.index("fc1") < rec.order.index("lif1") < rec.order.index("fc2") < rec.order.index("lif2")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_recording_native_models_by_layer_index(framework):
    plugin = plugin_or_skip(framework)
    model = plugin.example_mlp()
    x = inputs.bernoulli_input(STEPS, (12,), 0, torch.float32)
    y, membranes = plugin.run_model(model, x)
    rec = compare.record(model, x, plugin)
    assert torch.equal(rec.nodes["output"]["out"], y.to(x.dtype))  # the same spikes with and without recording
    for name, v in membranes.items():
        assert torch.equal(rec.nodes[name]["v"], v)
    last = max(membranes, key=int)
    assert torch.equal(rec.nodes[last]["out"], y.to(x.dtype))  # each layer's own output, time-major
    assert set(rec.neurons) == set(membranes)


# -- localisation ------------------------------------------------------------------------------
def test_identical_graphs_report_a_match():
    graph = networks.mlp(_lif())
    x = inputs.bernoulli_input(STEPS, (12,), 0, torch.float64)
    result = compare.localise(_run(graph, x), _run(graph, x, "snntorch"))
    assert result.status == "match" and result.exit_code is ExitCode.OK and result.first is None
    assert result.smallest["spike_shift"] == 0
    assert "Every node matches" in result.text()


def test_changed_threshold_of_one_neuron_is_named():
    graph = networks.mlp(_lif())
    thresholds = [1.25] * 16
    thresholds[5] = 1.3
    other = _variant(graph, "lif1", threshold=tuple(thresholds))
    x = inputs.bernoulli_input(STEPS, (12,), 0, torch.float64)
    step, batch, neuron = _oracle_first_step(graph, other, "lif1", _fc1(graph, x))
    result = compare.localise(_run(graph, x), _run(other, x, "snntorch"))
    d = result.first_spike
    assert (d.node, d.step, d.batch, d.neuron) == ("lif1", step, batch, [neuron]) and neuron == 5
    assert result.first.node == "lif1" and result.first.neuron == [5]  # nothing upstream differs
    assert d.kind == "semantic difference" and "threshold 1.25 vs 1.3 (neuron 5)" in d.cause
    assert d.v["a_threshold"] == 1.25 and d.v["b_threshold"] == 1.3
    assert d.v["a_v_compared"] >= 1.25 > d.v["b_v_compared"] or d.v["b_v_compared"] >= 1.3 > d.v["a_v_compared"]
    assert result.exit_code is ExitCode.FAILED
    assert any(m.startswith("Spike trains differ: ") and f"first at step {step}, node lif1, neuron 5, batch {batch}" in m
               for m in result.messages)


@pytest.mark.parametrize("change, expect", [
    ({"reset": ResetMode.TO_VALUE}, "reset subtract vs to_value"),
    ({"decay": Decay(0.8)}, "decay 0.875 vs 0.8"),
])
def test_changed_reset_mode_and_time_constant_are_localised(change, expect):
    graph = networks.mlp(_lif())
    other = _variant(graph, "lif1", **change)
    x = inputs.bernoulli_input(STEPS, (12,), 0, torch.float64)
    drive = _fc1(graph, x)
    spike_step = _oracle_first_step(graph, other, "lif1", drive)
    v_step = _oracle_first_step(graph, other, "lif1", drive, field="v")
    result = compare.localise(_run(graph, x, "spikingjelly"), _run(other, x, "sinabs"))
    assert result.first_spike.node == "lif1" and [result.first_spike.step, result.first_spike.batch, *result.first_spike.neuron] == spike_step
    assert result.first.node == "lif1" and [result.first.step, result.first.batch, *result.first.neuron] == v_step
    assert expect in result.first_spike.cause
    fc1 = next(r for r in result.results if r.node == "fc1")
    assert fc1.status == "match"


def test_one_step_delay_is_localised_and_measured_as_a_shift():
    # a current-based neuron whose synaptic current all but vanishes each step (alpha = 1e-9; NIR
    # cannot store 0, an infinitely short time constant): with the
    # membrane seeing last step's current, the layer is the same layer one step late
    cuba = next(n for n in neuron_cases() if n.model is Model.CUBA_LIF and n.reset is ResetMode.SUBTRACT).with_(syn_decay=Decay(1e-9))
    graph = networks.mlp(cuba)
    late = _variant(graph, "lif1", synapse_order=SynapseOrder.MEMBRANE_FIRST)
    x = inputs.bernoulli_input(STEPS, (12,), 0, torch.float64)
    step, batch, neuron = _oracle_first_step(graph, late, "lif1", _fc1(graph, x))
    result = compare.localise(_run(graph, x), _run(late, x, "snntorch"))
    assert (result.first_spike.node, result.first_spike.step, result.first_spike.batch, result.first_spike.neuron) == ("lif1", step, batch, [neuron])
    assert result.first.node == "lif1" and result.first.step == 0  # the membrane is late from the first step
    assert "synapse_order current_first vs membrane_first" in result.first.cause
    lif1 = next(r for r in result.results if r.node == "lif1" and r.spikes)
    assert lif1.shift == 1 and result.smallest["spike_shift"] == 1


def test_float_noise_at_threshold_is_told_apart():
    # ten inputs of 0.1 reach the threshold 1.0 exactly on paper: float64 sums to 0.9999999999999999
    # (no spike), float32 to 1.0000001 (a spike); the same graph, run in two dtypes
    if_ = Model.IF
    neuron = next(n for n in neuron_cases() if n.model is if_ and n.reset is ResetMode.SUBTRACT).with_(
        threshold=1.0, compare=Compare.GE)
    graph = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([1])}),
        "fc": nir.Linear(weight=np.array([[0.1]])),
        "if1": node_from_neuron(neuron, (1,)),
        "output": nir.Output(output_type={"output": np.array([1])}),
    }, edges=[("input", "fc"), ("fc", "if1"), ("if1", "output")])
    x = torch.ones(20, 1, 1, dtype=torch.float64)
    result = compare.localise(_run(graph, x), _run(graph, x.float()))
    d = result.first_spike
    assert (d.node, d.step) == ("if1", 9)
    assert d.kind == "float noise at threshold"
    assert abs(d.v["a_distance"]) < 1e-6 and abs(d.v["b_distance"]) < 1e-6
    assert "float noise at threshold" in result.messages[0] and "at threshold 1" in result.messages[0]
    assert result.dtype == "float32"


def _approximated(graph: nir.NIRGraph, node: str, framework: str):
    """``graph`` in ``framework`` with ``node`` built natively from the nearest neuron the
    framework expresses (a reset-timing change): an allowed approximation, made on purpose."""
    plugin = plugin_or_skip(framework)
    module = from_nir(graph, plugin, dtype=torch.float64)
    exact = module.neuron_info[node].neuron
    timing = ResetTiming.NEXT_STEP if exact.reset_timing is ResetTiming.SAME_STEP else ResetTiming.SAME_STEP
    other = Compare.GT if exact.compare is Compare.GE else Compare.GE
    for changes in ({"reset_timing": timing}, {"reset_timing": timing, "compare": other}, {"reset": ResetMode.TO_VALUE, "v_reset": 0.0}):
        variant = exact.with_(**changes)
        try:
            layer = plugin.build_neuron(variant)
            break
        except NotExpressible:
            continue
    else:
        pytest.fail(f"{framework} builds no reset-timing variant of {exact} natively: the test needs one")
    module.neuron_layers[_key(node)], module.steps[node] = layer, plugin.step
    module.neuron_info[node] = NeuronInfo(variant, framework, True, "approximated: " + ", ".join(changes))
    return module, plugin, changes


def test_allowed_approximation_is_localised_to_the_approximated_layer():
    graph = networks.mlp(_lif())
    module, plugin, changes = _approximated(graph, "lif2", "snntorch")
    x = inputs.bernoulli_input(STEPS, (12,), 0, torch.float64)
    result = compare.localise(_run(graph, x), compare.record(module, x, plugin, graph=graph))
    assert result.status == "mismatch"
    assert result.first.node == "lif2" and next(iter(changes)) in result.first.cause, result.first
    assert all(r.status == "match" for r in result.results if r.node in ("fc1", "lif1", "fc2"))
    # snn-convert --verify reports the same localisation in its table
    located = conv._localise(graph, None, from_nir(graph, None, dtype=torch.float64), module, plugin, x, graph)
    assert located["first_divergence"]["node"] == "lif2"
    report = conv.Report("nir", "snntorch", False, STEPS, 0, "float64",
                         forward={"spike_mismatches": 1, "outputs": 1, "spikes_source": 1, "first_mismatch": None,
                                  "max_membrane_abs_err": 1.0, "localisation": located},
                         gradient={"input_rel_err": 0.0, "max_weight_rel_err": 0.0}, tolerance={"atol": 1e-6, "rtol": 1e-6})
    table = report.table()
    assert "first divergence" in table and "node lif2" in table and "Spike trains differ" in table


def test_declared_deviation_exits_16(tmp_path):
    tolerances = tmp_path / "tol.toml"
    tolerances.write_text((compare.TOLERANCES_FILE.read_text()) + '\n[[override]]\nnode = "lif1"\nquantity = "v"\natol = 100.0\n'
                          'rtol = 0.0\nreason = "lif1 runs with another time constant on purpose"\n')
    graph = networks.mlp(_lif())
    other = _variant(graph, "lif1", decay=Decay(0.8))
    x = inputs.bernoulli_input(STEPS, (12,), 0, torch.float64)
    result = compare.localise(_run(graph, x), _run(other, x), compare.Tolerances.load(tolerances))
    lif1_v = next(r for r in result.results if r.node == "lif1" and r.quantity == "v")
    assert lif1_v.status == "declared" and result.status == "mismatch"  # the spikes still differ: not declared
    only_v = compare.localise(_run(graph, x), _run(graph, x), compare.Tolerances.load(tolerances))
    assert only_v.exit_code is ExitCode.OK


def test_tolerance_file_defaults_are_the_named_tolerances():
    tols = compare.Tolerances.load()
    for dtype, named in ((torch.float64, CONVERT_FP64), (torch.float32, CONVERT_FP32)):
        t = tols.default(dtype)
        assert (t.atol, t.rtol, t.spike_shift) == (named.atol, named.rtol, 0) and t.reason


@pytest.mark.parametrize("a, b, k", [
    ([0, 1, 0, 1, 0], [0, 1, 0, 1, 0], 0),
    ([0, 1, 0, 1, 0], [0, 0, 1, 0, 1], 1),
    ([1, 0, 0, 0, 0], [0, 0, 1, 0, 0], 2),
    ([0, 0, 0, 0, 1], [0, 0, 0, 0, 0], 1),  # a spike shifted past the last step
])
def test_spike_shift_is_the_smallest_passing_shift(a, b, k):
    t = lambda v: torch.tensor(v, dtype=torch.float64)[:, None]  # noqa: E731
    assert compare.spike_shift(t(a), t(b)) == k == compare.spike_shift(t(b), t(a))


# -- the command -------------------------------------------------------------------------------
@pytest.fixture()
def two_files(tmp_path):
    graph = networks.mlp(_lif())
    thresholds = [1.25] * 16
    thresholds[5] = 1.3
    nir.write(tmp_path / "a.nir", graph)
    nir.write(tmp_path / "b.nir", _variant(graph, "lif1", threshold=tuple(thresholds)))
    return tmp_path / "a.nir", tmp_path / "b.nir"


def test_cli_compare_reports_and_exits(two_files, tmp_path, capsys):
    a, b = two_files
    assert main(["compare", str(a), str(a)]) == ExitCode.OK
    assert "Verdict: MATCH" in capsys.readouterr().out
    assert main(["compare", str(a), str(b), "--framework", "snntorch", "--json", "--save-inputs", str(tmp_path / "x.pt")]) == ExitCode.FAILED
    report = json.loads(capsys.readouterr().out)
    assert report["first_spike_divergence"]["node"] == "lif1" and report["first_spike_divergence"]["neuron"] == [5]
    assert report["exit"] == 1 and report["status"] == "mismatch"
    # the same input again, and a saved recording standing in for B
    assert main(["compare", str(b), "--load-inputs", str(tmp_path / "x.pt"), "--save-outputs", str(tmp_path / "b.pt")]) == ExitCode.OK
    capsys.readouterr()
    assert main(["compare", str(a), "--load-outputs", str(tmp_path / "b.pt"), "--fail-fast", "--json"]) == ExitCode.FAILED
    report = json.loads(capsys.readouterr().out)
    assert report["first_divergence"]["node"] == "lif1" and [n["node"] for n in report["nodes"]][-1] == "lif1"


def test_cli_compare_usage_and_nested_graphs(two_files, tmp_path, capsys):
    a, _ = two_files
    assert main(["compare", str(a)]) == ExitCode.USAGE
    assert main(["compare", str(a), str(a), "--framework", "snntorch", "--framework", "norse", "--framework", "sinabs"]) == ExitCode.USAGE
    inner = networks.mlp(_lif())
    nested = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([12])}), "net": inner,
                                 "output": nir.Output(output_type={"output": np.array([5])})},
                          edges=[("input", "net"), ("net", "output")])
    nir.write(tmp_path / "nested.nir", nested)
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "nested.nir"), str(tmp_path / "nested.nir"), "--json"]) == ExitCode.OK
    nodes = {n["node"] for n in json.loads(capsys.readouterr().out)["nodes"]}
    assert {"net.fc1", "net.lif1", "net.fc2", "net.lif2"} <= nodes  # a nested subgraph's nodes, recorded by their nested names


def test_cli_compare_native_model_against_its_nir_file(tmp_path, capsys):
    plugin_or_skip("spikingjelly")
    out = tmp_path / "sj.nir"
    assert conv_main(["--from", "spikingjelly", "--to", "nir", "examples.sj_mlp.model:build", "--weights",
                      str(ROOT / "examples/sj_mlp/weights.pt"), "-o", str(out), "--quiet"]) == ExitCode.OK
    code = main(["compare", "examples.sj_mlp.model:build", str(out), "--from", "spikingjelly", "--weights",
                 str(ROOT / "examples/sj_mlp/weights.pt"), "--framework", "spikingjelly", "--dtype", "float32"])
    text = capsys.readouterr().out
    assert code == ExitCode.OK, text


def conv_main(argv):
    from snn_interop.cli import convert_main

    return convert_main(argv)


def test_export_repro_replays_standalone(two_files, tmp_path, capsys):
    a, b = two_files
    repro = tmp_path / "repro"
    assert main(["compare", str(a), str(b), "--framework", "snntorch", "--framework", "sinabs", "--export-repro", str(repro)]) == ExitCode.FAILED
    assert {p.name for p in repro.iterdir()} == {"a.nir", "b.nir", "repro.pt", "replay.py"}
    sub = nir.read(repro / "b.nir")
    assert "lif1" in sub.nodes and "fc1" not in sub.nodes  # from the first divergent node on
    data = torch.load(repro / "repro.pt", weights_only=True)
    assert data["node"] == "lif1" and data["x"].shape == (STEPS, 2, 16)
    done = subprocess.run([sys.executable, str(repro / "replay.py")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == ExitCode.FAILED, done.stderr
    assert "first at step 7, node lif1, neuron 5, batch 1" in done.stdout


def test_its_outputs_are_not_overwritten_without_force(two_files, tmp_path, capsys):
    """--save-inputs/--save-outputs replaced a file silently, and named a directory or (--export-repro) a
    file, failed with an internal error; now each is refused as snn-convert refuses, exit 11."""
    a, b = two_files
    (tmp_path / "x.pt").write_bytes(b"precious")
    (tmp_path / "repro").mkdir()
    (tmp_path / "repro" / "notes.txt").write_bytes(b"precious")
    for option, path, words in [("--save-inputs", "x.pt", "x.pt exists; pass --force"),
                                ("--save-outputs", "repro", "repro is a directory, where a file is written"),
                                ("--export-repro", "x.pt", "x.pt is a file, where a directory is written"),
                                ("--export-repro", "repro", "repro exists and is not empty; pass --force")]:
        assert main(["compare", str(a), str(b), option, str(tmp_path / path)]) == ExitCode.OUTPUT_EXISTS, option
        assert words in capsys.readouterr().err, option
    assert (tmp_path / "x.pt").read_bytes() == b"precious" and {p.name for p in (tmp_path / "repro").iterdir()} == {"notes.txt"}
    assert main(["compare", str(a), str(b), "--save-inputs", str(tmp_path / "x.pt"), "--export-repro", str(tmp_path / "repro"),
                 "--force"]) == ExitCode.FAILED
    assert torch.load(tmp_path / "x.pt", weights_only=True)["x"].shape[0] == STEPS
    assert {p.name for p in (tmp_path / "repro").iterdir()} == {"notes.txt", "a.nir", "b.nir", "repro.pt", "replay.py"}


def test_docs_worked_example_prints_what_the_page_shows(tmp_path, monkeypatch, capsys):
    plugin_or_skip("snntorch"), plugin_or_skip("sinabs")
    page = (ROOT / "docs" / "compare.md").read_text()
    example = page[page.index("## Worked example"):]
    script = example.split("```python\n", 1)[1].split("```", 1)[0]
    console = example.split("```console\n", 1)[1].split("```", 1)[0].splitlines()
    command, shown = console[0].removeprefix("$ ").split(), console[1:]
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    exec(compile(script, "docs/compare.md", "exec"), {})
    assert main(command[1:]) == ExitCode.FAILED
    assert capsys.readouterr().out.splitlines() == shown
    done = subprocess.run([sys.executable, "repro/replay.py"], capture_output=True, text=True)
    assert done.returncode == ExitCode.FAILED and "node lif1, neuron 5, batch 1" in done.stdout
