"""NIR files written by a newer nir than the one installed (1.0.4, sinabs's pin): nir 1.0.8 writes
a ``v_reset`` for every IF, LIF and CubaLIF node, which nir 1.0.4's ``nir.read`` refuses
("unexpected keyword argument 'v_reset'"): every current exporter's file holding such a neuron
(measured: spikingjelly 2.0.0's own export_to_nir with nir 1.0.8) was "not a readable NIR file"
(exit 7). The files are written here by the real nir 1.0.8 (``make setup`` installs it apart)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from snn_interop import cli, conversion as conv
from snn_interop.errors import ExitCode, InvalidGraph
from snn_interop.nir import files
from snn_interop.nir.graph import flatten
from snn_interop.nir.neurons import NirDefaults, neuron_from_node
from tests.conftest import plugin_or_skip
from tests.nir.test_neuron_nodes import NIR_CURRENT

WRITE = """
import sys
sys.path.insert(0, sys.argv[1])
import nir, numpy as np
n = 3
def lif(v_reset, r):
    return nir.LIF(tau=np.full(n, 0.01), r=np.full(n, r), v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.full(n, v_reset))
inner = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([n])}), "lif": lif(-0.25, 20.0),
                            "output": nir.Output(output_type={"output": np.array([n])})},
                     edges=[("input", "lif"), ("lif", "output")])
nodes = {"input": nir.Input(input_type={"input": np.array([n])}),
         "fc": nir.Affine(weight=np.eye(n) * 5.0, bias=np.zeros(n)),
         "lif": lif(-0.5, 1.0),
         "fc2": nir.Affine(weight=np.eye(n) * 3.0, bias=np.zeros(n)),
         "if": nir.IF(r=np.full(n, 1000.0), v_threshold=np.ones(n), v_reset=np.full(n, 0.125)),
         "fc3": nir.Affine(weight=np.eye(n) * 3.0, bias=np.zeros(n)),
         "cuba": nir.CubaLIF(tau_syn=np.full(n, 0.005), tau_mem=np.full(n, 0.01), r=np.full(n, 20.0), v_leak=np.zeros(n),
                             v_threshold=np.ones(n), v_reset=np.full(n, -0.75), w_in=np.ones(n)),
         "sub": inner,
         "output": nir.Output(output_type={"output": np.array([n])})}
if sys.argv[3] == "cuba_li":
    nodes["cuba"] = nir.CubaLI(tau_syn=np.full(n, 0.005), tau_mem=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n))
edges = [("input", "fc"), ("fc", "lif"), ("lif", "fc2"), ("fc2", "if"), ("if", "fc3"), ("fc3", "cuba"), ("cuba", "sub"),
         ("sub", "output")]
nir.write(sys.argv[2], nir.NIRGraph(nodes=nodes, edges=edges))
"""

V_RESET = {"lif": -0.5, "if": 0.125, "cuba": -0.75, "sub.lif": -0.25}  #: as WRITE wrote them


def nir_current(tmp_path: Path, kind: str = "cuba_lif", if_reset: float = V_RESET["if"]) -> Path:
    """A graph written by nir 1.0.8 (WRITE; the IF node's v_reset ``if_reset``), in a fresh
    interpreter with it first on the path."""
    path = tmp_path / f"{kind}-{if_reset}.nir"
    write = WRITE.replace("v_reset=np.full(n, 0.125)", f"v_reset=np.full(n, {if_reset})")
    done = subprocess.run([sys.executable, "-c", write, str(NIR_CURRENT), str(path), kind], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return path


def _in_nir_current(code: str, *args: str) -> list[str]:
    """``code`` run with nir 1.0.8 imported instead of the installed one; its stdout lines."""
    done = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, sys.argv[1])\n{code}", str(NIR_CURRENT), *args],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_file_of_nir_1_0_8_reads_with_its_reset_potentials(tmp_path):
    graph = flatten(conv.read_nir(nir_current(tmp_path)))
    neurons = {name: neuron_from_node(graph.nodes[name]) for name in V_RESET}
    assert {name: n.v_reset for name, n in neurons.items()} == V_RESET
    assert {n.reset.value for n in neurons.values()} == {"to_value"}, "nir >= 1.0.7: v = v_reset after a spike"


def test_nir_1_0_8_itself_reads_our_reading_the_same(tmp_path):
    """The same file, through snn_interop with nir 1.0.8 (nir's own read) and 1.0.4 (ours)."""
    path = nir_current(tmp_path)
    theirs = _in_nir_current("from snn_interop.nir import files, neurons\nfrom snn_interop.nir.graph import flatten\n"
                             "g = flatten(files.read(sys.argv[2]))\n"
                             "print(*(neurons.neuron_from_node(g.nodes[k]).v_reset for k in ('lif', 'if', 'cuba', 'sub.lif')))", str(path))
    assert [float(v) for v in theirs] == list(V_RESET.values())


@pytest.mark.parametrize("target", ["snntorch", "spikingjelly", "sinabs", "norse", "rockpool"])
def test_it_converts_exactly_and_resets_to_its_potentials(target, tmp_path):
    plugin_or_skip(target)
    graph = conv.read_nir(nir_current(tmp_path))
    _, report = conv.convert(graph, "nir", target, torch.zeros(1, 3), steps=40, input_rate=0.9, defaults=NirDefaults(dt=1e-3))
    assert report.exact, report.table()
    assert min(report.forward["spikes_by_layer"].values()) > 0, report.forward["spikes_by_layer"]


def test_writing_it_back_keeps_the_newer_fields(tmp_path):
    graph = conv.read_nir(nir_current(tmp_path))
    files.write(tmp_path / "again.nir", graph)
    again = flatten(files.read(tmp_path / "again.nir"))
    assert {k: float(np.asarray(again.nodes[k].v_reset)[0]) for k in V_RESET} == V_RESET
    read_by_1_0_8 = _in_nir_current("import nir\ng = nir.read(sys.argv[2])\n"
                                    "print(*(float(g.nodes[k].v_reset[0]) for k in ('lif', 'if', 'cuba')), float(g.nodes['sub'].nodes['lif'].v_reset[0]))",
                                    str(tmp_path / "again.nir"))
    assert [float(v) for v in read_by_1_0_8] == list(V_RESET.values())


def test_an_embedded_reference_on_such_a_file_verifies(tmp_path, capsys):
    plugin_or_skip("norse")
    source = nir_current(tmp_path)
    out = tmp_path / "with-reference.nir"
    code = cli.convert_main(["--to", "nir", str(source), "-o", str(out), "--nir-dt", "1e-3", "--embed-reference", "--quiet"])
    assert code == ExitCode.OK, capsys.readouterr()
    assert cli.main(["verify", str(out)]) == ExitCode.OK, capsys.readouterr().out


def test_snn_convert_reads_it(tmp_path, capsys):
    plugin_or_skip("sinabs")
    code = cli.convert_main(["--to", "sinabs", str(nir_current(tmp_path)), "-o", str(tmp_path / "out"), "--nir-dt", "1e-3", "--verify"])
    out = capsys.readouterr().out
    assert code == ExitCode.OK and "EXACT" in out, out


def test_a_node_type_the_installed_nir_lacks_is_named(tmp_path, capsys):
    path = nir_current(tmp_path, "cuba_li")
    with pytest.raises(InvalidGraph, match="node 'cuba' is of type CubaLI, which the installed nir 1.0.4 does not define"):
        conv.read_nir(path)
    assert cli.main(["inspect", str(path)]) == ExitCode.INVALID_GRAPH
    assert "CubaLI" in capsys.readouterr().err


def test_compare_exports_a_repro_that_keeps_them(tmp_path, capsys):
    """Two files that differ only in the IF node's v_reset: compare finds the divergence there,
    and the exported repro, whose subgraphs snn-interop wrote, still holds the two potentials."""
    a, b = nir_current(tmp_path), nir_current(tmp_path, if_reset=0.5)
    args = ["compare", str(a), str(b), "--nir-dt", "1e-3", "--input-rate", "0.9", "--export-repro", str(tmp_path / "repro")]
    assert cli.main(args) == ExitCode.FAILED
    first = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("First divergence"))
    assert "node if" in first, first
    subgraphs = [flatten(files.read(tmp_path / "repro" / f"{side}.nir")) for side in "ab"]
    assert [float(np.asarray(g.nodes["if"].v_reset)[0]) for g in subgraphs] == [0.125, 0.5]
    done = subprocess.run([sys.executable, "replay.py"], cwd=tmp_path / "repro", capture_output=True, text=True, check=False)
    assert done.returncode == ExitCode.FAILED, done.stderr
    assert first in done.stdout.splitlines(), done.stdout
