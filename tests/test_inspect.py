"""snn-interop inspect FILE.nir: every node as snn-interop reads it, the graph's notes, its reference."""
from __future__ import annotations

import json

import nir
import numpy as np
import pytest
import torch

from snn_interop import cli, conversion as conv
from snn_interop.errors import ExitCode
from tests.conftest import CORPUS, plugin_or_skip


def _lines(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_a_converted_csnn_shows_its_neurons_batchnorms_and_max_pools(tmp_path, capsys):
    plugin_or_skip("spikingjelly")
    from tests.nir.test_max_pool import csnn

    graph, _ = conv.convert(csnn(), "spikingjelly", "nir", torch.zeros(1, 2, 8, 8), verify_result=False)
    nir.write(tmp_path / "csnn.nir", graph)
    assert cli.main(["inspect", str(tmp_path / "csnn.nir")]) is ExitCode.OK
    lines = _lines(capsys)
    rows = {line.split()[0]: line for line in lines[1:] if line.startswith("  ")}
    assert lines[0].endswith(f"{len(graph.nodes)} nodes, {len(graph.edges)} edges")
    assert list(rows)[0] == "input" and list(rows)[-1] == "output", "in the order the data flows"
    assert "per-channel affine y = a x + c: a BatchNorm2d at inference" in rows["1"]
    assert "if, fires at v >= 1, resets to 0 (same step), surrogate atan(alpha=2" in rows["2"]  # IFNode(ATan()): >=, hard reset
    assert "max pool of spikes, 2x2 windows" in rows["3"] and rows["3_max"].endswith("<- 3")
    assert any(line.startswith("written as: layers 1, 5 (BatchNorm2d): the per-channel affine") for line in lines)
    assert lines[-1] == "no embedded reference"


def test_plain_nir_neurons_are_read_with_the_stated_defaults(capsys):
    tau = float(np.asarray(nir.read(CORPUS / "lif_norse.nir").nodes["1"].tau).ravel()[0])
    for dt in (None, 1e-3):
        assert cli.main(["inspect", str(CORPUS / "lif_norse.nir"), *(["--nir-dt", str(dt)] if dt else [])]) is ExitCode.OK
        lines = _lines(capsys)
        beta = np.exp(-(dt or 1e-4) / tau)  # the exact discretisation of the NIR LIF
        assert f"lif, beta {beta:g}, fires at v > " in lines[3] and "(read with the defaults below)" in lines[3]
        assert lines[-2].startswith("neurons without snn-interop metadata (1) are read as NIR says, with dt " + f"{dt or 1e-4:g} s")


def test_an_embedded_reference_is_named(tmp_path, capsys):
    plugin_or_skip("snntorch")
    out = tmp_path / "mlp.nir"
    (tmp_path / "nets.py").write_text("from snn_interop_plugins.snntorch import example_mlp as build\n")
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        assert cli.convert_main(["--from", "snntorch", "--to", "nir", "nets:build", "-o", str(out), "--verify", "--quiet"]) is ExitCode.OK
    finally:
        sys.path.remove(str(tmp_path))
    assert cli.main(["inspect", str(out), "--json"]) is ExitCode.OK
    described = json.loads(capsys.readouterr().out)
    assert described["reference"].startswith("reference from snntorch 1.0.0, float32, 50 steps x 2")
    assert [n["name"] for n in described["nodes"]][::len(described["nodes"]) - 1] == ["input", "output"]
    assert all(n["neuron_from"] == "snn-interop metadata" for n in described["nodes"] if n["type"] in ("LIF", "CubaLIF", "IF", "LI"))


def test_a_file_that_is_not_nir_gets_its_exit_code(tmp_path, capsys):
    (tmp_path / "bad.nir").write_text("not hdf5")
    assert cli.main(["inspect", str(tmp_path / "bad.nir")]) is ExitCode.BAD_NIR
    assert "bad.nir" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["cnn_sinabs.nir", "braille_noDelay_bias_zero.nir", "lif_norse.nir"])
def test_every_corpus_file_is_described(name, capsys):
    assert cli.main(["inspect", str(CORPUS / name)]) is ExitCode.OK
    out = capsys.readouterr().out
    assert "(no torch layer in snn-interop)" not in out


def test_pooling_windows_given_as_one_number_are_described(tmp_path, capsys):
    """spikingjelly's export_to_nir writes an AvgPool2d's kernel_size as one number: inspect failed
    on it ("iteration over a 0-d array", exit 70) though the file converts."""
    n = 4
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([1, n, n])}),
                                "pool": nir.AvgPool2d(kernel_size=np.array(2), stride=np.array(2), padding=np.array(0)),
                                "sum": nir.SumPool2d(kernel_size=np.array(1), stride=np.array(1), padding=np.array(0)),
                                "output": nir.Output(output_type={"output": np.array([1, n // 2, n // 2])})},
                         edges=[("input", "pool"), ("pool", "sum"), ("sum", "output")])
    nir.write(tmp_path / "pool.nir", graph)
    assert cli.main(["inspect", str(tmp_path / "pool.nir")]) == ExitCode.OK
    lines = _lines(capsys)
    assert any(line.split()[:2] == ["pool", "AvgPool2d"] and line.endswith("average pooling, 2x2 windows  <- input") for line in lines), lines
    assert any(line.split()[:2] == ["sum", "SumPool2d"] and "sum pooling, 1x1 windows" in line for line in lines), lines
    plugin_or_skip("snntorch")
    module = conv.resolve("snntorch").from_nir(graph, dtype=torch.float32)
    x = torch.arange(16.0).reshape(1, 1, 1, n, n)  # [T, B, C, H, W]: the 2x2 windows average to these
    assert module(x).flatten().tolist() == [2.5, 4.5, 10.5, 12.5]


def test_target_checks_the_design_rules_and_writes_nothing(tmp_path, capsys):
    """--target CHIP: the rules snn-convert --to CHIP checks, nothing built; exit 17 when one is broken."""
    pytest.importorskip("sinabs")
    from tests.hardware.test_speck_graph import _downsampling

    nodes, edges = _downsampling()
    nir.write(tmp_path / "down.nir", nir.NIRGraph(nodes=nodes, edges=edges))
    assert cli.main(["inspect", str(tmp_path / "down.nir"), "--target", "speck"]) is ExitCode.OK
    assert _lines(capsys)[-1] == "fits Speck / DYNAP-CNN (--to speck): yes"
    nir.write(tmp_path / "merged.nir", nir.NIRGraph(nodes=nodes, edges=edges + [("input", "c2")]))
    assert cli.main(["inspect", str(tmp_path / "merged.nir"), "--target", "speck", "--target", "loihi"]) is ExitCode.CONSTRAINT
    lines = _lines(capsys)
    speck_line = lines.index("fits Speck / DYNAP-CNN (--to speck): no, 2 design rule(s) broken:")
    assert lines[speck_line + 1].startswith("  - node 'c2': graph: merge: inputs of shapes (2, 8, 8), (4, 8, 8)")
    assert lines[speck_line + 2].startswith("  - node 'c2': graph: merge: the input summed with a layer's spikes")
    assert any(line.startswith("fits Loihi 2 (--to loihi): no") for line in lines)
    assert cli.main(["inspect", str(tmp_path / "merged.nir"), "--target", "speck", "--json"]) is ExitCode.CONSTRAINT
    found = json.loads(capsys.readouterr().out)["targets"]["speck"]
    assert found["chip"] == "Speck / DYNAP-CNN" and [(v["node"], v["rule"]) for v in found["violations"]] == [("c2", "graph: merge")] * 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["down.nir", "merged.nir"]
    assert cli.main(["inspect", str(tmp_path / "down.nir"), "--target", "nochip"]) is ExitCode.UNKNOWN_FRAMEWORK
