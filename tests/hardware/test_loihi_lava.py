"""Lava's own run of the netx file we write equals our fixed-point model, L steps later for L
layers. Needs the optional lava environment (scripts/lava_env.sh); skips when it is not installed."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nir
import numpy as np
import pytest

from snn_interop import hardware
from snn_interop.conversion import convert_full
from snn_interop.spec import loihi
from snn_interop_plugins import loihi as target
from tests.conftest import ROOT
from tests.hardware.test_loihi import BRAILLE, N_IN, _model, cnn_graph, csnn_graph, membrane_first_graph, recurrent_norse_graph

LAVA = Path(os.environ.get("SNN_INTEROP_LAVA_PYTHON", ROOT / ".venv-lava" / "bin" / "python"))


@pytest.mark.skipif(not LAVA.exists(), reason=f"lava not installed: no {LAVA} (scripts/lava_env.sh makes it)")
@pytest.mark.parametrize("fw", ["snntorch", "norse", "membrane-first", "braille", "norse-recurrent", "cnn", "csnn"])
def test_lavas_run_of_our_netx_file_is_our_fixed_point_model_a_step_per_layer_later(fw: str, tmp_path, corpus) -> None:
    """LIF layers with bias; a CubaLIF layer; a netx delay; the NIR paper's recurrent Braille network
    and a norse recurrent cell (dense_rec blocks: Lava's recurrent Dense adds its step inside the
    layer's shifted time, so the whole network still lags one step per layer); the NIR paper's
    N-MNIST CNN (three conv blocks with the pooling folded in, a flatten, two dense blocks);
    spikingjelly's CSNN example (per-channel biases from its BatchNorms, which charge during the
    latency steps; each max pool a conv block of its own)."""
    if fw == "membrane-first":
        graph = membrane_first_graph()
    elif fw == "braille":
        graph = nir.read(corpus / BRAILLE)
    elif fw == "norse-recurrent":
        graph = recurrent_norse_graph()
    elif fw == "cnn":
        graph = cnn_graph(corpus)
    elif fw == "csnn":
        graph = hardware._for_chip(csnn_graph(), hardware.NirDefaults())[1]
    else:
        graph, _, _ = convert_full(_model(fw), fw, "nir", verify_result=False, input_shape_=(N_IN,))
    deployment = target.build(graph)
    deployment.save(tmp_path)
    x = hardware.spike_input(graph, 100 if fw == "cnn" else 200, 0, 0.3)  # Lava's conv runs ~0.1 s a step
    np.save(tmp_path / "x.npy", x[:, 0].numpy())
    subprocess.run([str(LAVA), str(ROOT / "scripts" / "lava_run_netx.py"), str(tmp_path / "network.net"), str(tmp_path / "x.npy"),
                    str(tmp_path / "lava.npy")], check=True, timeout=300)
    lava = np.load(tmp_path / "lava.npy")
    ours = deployment.simulate(x)[:, 0].numpy()
    latency = len(deployment.layers)
    assert lava[latency:].sum() > 20
    assert np.array_equal(lava[latency:], ours[:-latency])
    # before any input arrives, a layer fires only from its bias: the CSNN's output layer does (the hand-off reads from step L on)
    assert lava[:latency].any() == (fw == "csnn")


@pytest.mark.skipif(not LAVA.exists(), reason=f"lava not installed: no {LAVA} (scripts/lava_env.sh makes it)")
def test_lava_runs_the_nir_paper_integers_from_our_netx_file_into_the_papers_spikes(corpus, tmp_path) -> None:
    trace = np.loadtxt(corpus / "lif_lava_loihi_fixed.csv", delimiter=",")
    paper = loihi.LoihiCuba(np.array([[10]]), 4095, 163, 25, np.array([0]))  # as tests/spec/test_loihi.py recovers them
    target.write_netx(tmp_path / "paper.net", [paper], ["1"], [16000.0])
    np.save(tmp_path / "x.npy", trace[:, :1])
    subprocess.run([str(LAVA), str(ROOT / "scripts" / "lava_run_netx.py"), str(tmp_path / "paper.net"), str(tmp_path / "x.npy"),
                    str(tmp_path / "lava.npy")], check=True, timeout=300)
    assert np.array_equal(np.load(tmp_path / "lava.npy")[:, 0], trace[:, 2])
