"""Reference traces embedded in .nir files (docs/reference.md): every framework's model exported
with a reference verifies in all four; a changed weight, changed stored spikes and a missing
reference each get their own exit code; the reference fits its size budget; nir 1.0.8 reads it."""
from __future__ import annotations

import json
import subprocess
import sys

import h5py
import nir
import pytest
import torch

from snn_interop import cli, reference
from snn_interop.errors import ExitCode
from tests.conftest import CORPUS, ROOT, plugin_or_skip

FRAMEWORKS = ["snntorch", "spikingjelly", "sinabs", "norse"]
NIR_CURRENT = ROOT / ".venv" / "nir-current"  # nir 1.0.8, installed apart by `make setup`

MODELS = "from snn_interop import registry\n" + "".join(
    f"\ndef {fw}():\n    return registry.get({fw!r}).example_mlp()\n" for fw in FRAMEWORKS)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each framework's example network exported to NIR with --verify (so with a reference)."""
    work = tmp_path_factory.mktemp("reference")
    (work / "refmodels.py").write_text(MODELS)
    sys.path.insert(0, str(work))
    files = {}
    try:
        for fw in FRAMEWORKS:
            plugin_or_skip(fw)
            out = work / f"{fw}.nir"
            code = cli.convert_main(["--from", fw, "--to", "nir", "refmodels:" + fw, "-o", str(out), "--verify", "--quiet",
                                     "--report", str(work / f"{fw}.json")])
            assert code is ExitCode.OK
            files[fw] = out
    finally:
        sys.path.remove(str(work))
        sys.modules.pop("refmodels", None)
    return files


@pytest.fixture()
def workdir_models(tmp_path, monkeypatch):
    (tmp_path / "refmodels.py").write_text(MODELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("refmodels", None)
    yield tmp_path
    sys.modules.pop("refmodels", None)


def verify(*argv: str) -> ExitCode:
    return cli.main(["verify", *map(str, argv)])


def verify_json(capsys, *argv: str) -> tuple[ExitCode, dict]:
    capsys.readouterr()
    code = verify(*argv, "--json")
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("source", FRAMEWORKS)
def test_reference_from_each_framework_verifies_in_all_four(exported, source, capsys):
    code, result = verify_json(capsys, exported[source])
    assert code is ExitCode.OK and result["params_match"] is True
    # every installed framework verifies: the four, and rockpool where installed (checked ok below too)
    assert set(FRAMEWORKS) <= {c["framework"] for c in result["frameworks"]} <= set(FRAMEWORKS) | {"rockpool"}
    assert all(c["ok"] and c["mismatches"] == 0 and c["gradient_rel_err"] is not None for c in result["frameworks"])
    ref = reference.read_reference(nir.read(exported[source]))
    assert ref.data["source"]["framework"] == source and ref.data["dtype"] == "float32"
    assert ref.output().sum() > 0, "the reference input makes the output spike, so the comparison is not vacuous"


def test_verify_prints_a_row_per_framework(exported, capsys):
    assert verify(exported["snntorch"], "--framework", "sinabs", "--framework", "norse") is ExitCode.OK
    out = capsys.readouterr().out
    assert "reference from snntorch" in out and "match" in out and "reproduced in 2 of 2 frameworks" in out
    assert [line.split()[0] for line in out.splitlines()[3:5]] == ["sinabs", "norse"]


def test_changed_weight_is_parameters_changed(exported, tmp_path, capsys):
    path = tmp_path / "m.nir"
    path.write_bytes(exported["spikingjelly"].read_bytes())
    with h5py.File(path, "r+") as f:
        f["node/nodes/0/weight"][0, 0] += 0.25
    code, result = verify_json(capsys, path)
    assert code is ExitCode.PARAMS_CHANGED and result["params_match"] is False
    assert verify(path, "--framework", "norse") is ExitCode.PARAMS_CHANGED
    assert "CHANGED" in capsys.readouterr().out


def test_changed_stored_spikes_is_behaviour_differs_at_that_step(exported, tmp_path, capsys):
    path = tmp_path / "m.nir"
    path.write_bytes(exported["norse"].read_bytes())
    with h5py.File(path, "r+") as f:
        group = f["node/metadata"]
        data = json.loads(group[reference.KEY][()].decode())
        spikes = reference.unpack(data["output"])
        spikes[17, 1, 3] = 1 - spikes[17, 1, 3]
        data["output"] = {**data["output"], **reference.pack(spikes, data["dtype"])}
        del group[reference.KEY]
        group.create_dataset(reference.KEY, data=json.dumps(data), dtype=h5py.string_dtype())
    code, result = verify_json(capsys, path)
    assert code is ExitCode.BEHAVIOUR_DIFFERS and result["params_match"] is True
    for c in result["frameworks"]:
        assert not c["ok"] and c["mismatches"] == 1
        assert (c["first_mismatch"]["step"], c["first_mismatch"]["sample"], c["first_mismatch"]["neuron"]) == (17, 1, [3])
    assert verify(path, "--framework", "snntorch") is ExitCode.BEHAVIOUR_DIFFERS
    assert "step 17, 3[3]" in capsys.readouterr().out  # step 17, output layer '3', neuron 3


def test_file_without_reference_gets_its_code_and_one_line(tmp_path, capsys):
    for path in (CORPUS / "lif_norse.nir",):
        capsys.readouterr()
        assert verify(path) is ExitCode.NO_REFERENCE
        captured = capsys.readouterr()
        assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
        assert "no embedded reference" in captured.err and "NO_REFERENCE" in captured.err


def test_stated_size_is_measured_and_within_the_default_budget(exported, tmp_path):
    report = json.loads(exported["snntorch"].with_suffix(".json").read_text())["reference"]
    assert report["key"] == reference.KEY and report["gradient"] == "full"
    assert report["bytes"] <= max(report["file_bytes_without"] // 10, 1 << 20) == report["budget_bytes"]
    assert exported["snntorch"].stat().st_size == report["file_bytes"]  # the stated size is the file's
    graph = nir.read(exported["snntorch"])
    nir.write(tmp_path / "bare.nir", nir.NIRGraph(nodes=graph.nodes, edges=graph.edges))
    assert (tmp_path / "bare.nir").stat().st_size == report["file_bytes_without"]


def test_no_embed_reference_takes_none_and_keeps_a_source_files_own(exported, workdir_models, tmp_path):
    plain = tmp_path / "plain.nir"
    assert cli.convert_main(["--from", "norse", "--to", "nir", "refmodels:norse", "-o", str(plain), "--verify",
                             "--no-embed-reference", "--quiet"]) is ExitCode.OK
    assert reference.KEY not in nir.read(plain).metadata
    kept = tmp_path / "kept.nir"
    assert cli.convert_main(["--from", "nir", "--to", "nir", str(exported["norse"]), "-o", str(kept), "--quiet"]) is ExitCode.OK
    assert verify(kept) is ExitCode.OK  # the same parameters, so the source's reference still holds


def test_small_budget_stores_a_gradient_projection_that_still_verifies(exported, tmp_path, capsys):
    full = json.loads(exported["sinabs"].with_suffix(".json").read_text())["reference"]["bytes"]
    out, rep = tmp_path / "small.nir", tmp_path / "small.json"
    budget = str(full - 1)
    assert cli.convert_main(["--from", "nir", "--to", "nir", str(exported["sinabs"]), "-o", str(out), "--embed-reference",
                             "--reference-budget", budget, "--quiet", "--report", str(rep)]) is ExitCode.OK
    info = json.loads(rep.read_text())["reference"]
    assert info["gradient"] == "projection" and info["bytes"] <= int(budget) == info["budget_bytes"]
    code, result = verify_json(capsys, out)
    assert code is ExitCode.OK and all(c["gradient_rel_err"] is not None for c in result["frameworks"])


def test_budget_too_small_is_an_error_and_nothing_is_written(exported, tmp_path):
    out = tmp_path / "tiny.nir"
    assert cli.convert_main(["--from", "nir", "--to", "nir", str(exported["sinabs"]), "-o", str(out), "--verify",
                             "--reference-budget", "1KiB", "--quiet"]) is ExitCode.REFERENCE_TOO_LARGE
    assert not out.exists()
    assert cli.convert_main(["--from", "nir", "--to", "nir", str(exported["sinabs"]), "-o", str(out), "--verify",
                             "--reference-budget", "lots", "--quiet"]) is ExitCode.USAGE


@pytest.mark.parametrize("text, limit", [("2MiB", 2 << 20), ("500KiB", 500 << 10), ("123456", 123456), ("25%", 25_000), ("1.5MB", 1_500_000)])
def test_budget_parses_sizes_and_percentages(text, limit):
    assert reference.Budget.parse(text).limit(100_000) == limit
    assert reference.Budget().limit(100_000) == 1 << 20 and reference.Budget().limit(20 << 20) == 2 << 20


def test_file_with_reference_reads_in_the_current_nir_release(exported):
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import nir, json\n"
            "assert nir.version == '1.0.8', nir.version\n"
            "g = nir.read(sys.argv[2]); raw = g.metadata[sys.argv[3]]\n"
            "raw = raw.decode() if isinstance(raw, bytes) else raw\n"
            "d = json.loads(raw); print(d['schema'], d['version'], d['source']['framework'], len(g.nodes))")
    done = subprocess.run([sys.executable, "-c", code, str(NIR_CURRENT), str(exported["spikingjelly"]), reference.KEY],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.split() == [reference.SCHEMA, str(reference.VERSION), "spikingjelly", "6"]


def test_parameter_hash_ignores_graph_metadata_and_matches_the_file(exported):
    path = exported["snntorch"]
    graph = nir.read(path)
    digest = reference.params_hash(path)
    assert reference.params_hash(graph) == digest == reference.read_reference(graph).data["params_sha256"]
    bare = nir.NIRGraph(nodes=graph.nodes, edges=graph.edges, metadata={"someone_else": "note"})
    assert reference.params_hash(bare) == digest


def test_check_callable_takes_any_model_with_or_without_gradient(exported):
    # what a hardware target does: run its own (here: the reference semantics, without autograd) model
    from snn_interop.nir import graph as nir_graph

    graph = nir.read(exported["spikingjelly"])
    ref = reference.read_reference(graph)
    run = reference.graph_run(nir_graph.from_nir(graph, None, dtype=ref.dtype))
    no_grad = lambda x: tuple(t.detach() if isinstance(t, torch.Tensor) else t for t in run(x.detach()))  # noqa: E731
    assert reference.check_callable(ref, no_grad, require_gradient=False).reproduces
    assert not reference.check_callable(ref, no_grad).reproduces  # the reference has a gradient to compare
    shifted = lambda x: run(torch.roll(x, 1, dims=0))  # noqa: E731 - the input one step late
    check = reference.check_callable(ref, shifted)
    assert not check.reproduces and check.first_mismatch is not None
    spikes_only = lambda x: (no_grad(x)[0], {})  # noqa: E731 - a target that exposes no membrane
    assert not reference.check_callable(ref, spikes_only, require_gradient=False).reproduces
    check = reference.check_callable(ref, spikes_only, require_gradient=False, require_membrane=False)
    assert check.reproduces and check.max_membrane_abs_err is None and check.gradient_rel_err is None


def test_float64_nir_source_and_framework_target_carry_a_reference(tmp_path, capsys):
    out = tmp_path / "braille"
    assert cli.convert_main(["--from", "nir", "--to", "sinabs", str(CORPUS / "braille_noDelay_bias_zero.nir"), "-o", str(out),
                             "--verify", "--embed-reference", "--steps", "20", "--quiet"]) is ExitCode.OK
    code, result = verify_json(capsys, out / "model.nir", "--framework", "spikingjelly", "--framework", "snntorch")
    assert code is ExitCode.OK and result["dtype"] == "float64" and result["source"]["framework"] == "nir"
    assert all(c["max_membrane_abs_err"] <= 1e-6 for c in result["frameworks"])


def test_worked_example_in_the_docs_runs_as_written(tmp_path):
    # docs/reference.md: the sender's snn-convert and the receiver's snn-interop verify print what the page shows
    import os
    import re
    import shlex
    import shutil

    page = (ROOT / "docs" / "reference.md").read_text()
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(tmp_path)}
    for block in re.findall(r"```console\n(.*?)```", page, flags=re.S)[:2]:
        command, *shown = block.strip().splitlines()
        done = subprocess.run(shlex.split(command.removeprefix("$ ")), cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr[-1500:]
        assert done.stdout.strip().splitlines() == shown, f"output of {command!r} differs from docs/reference.md"
