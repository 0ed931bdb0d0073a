"""snn-convert --to speck: DYNAP-CNN design rules, sinabs discretisation, the discretised forward
against the float model (docs/hardware-speck.md)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nir
import numpy as np
import pytest
import torch
from torch import nn

from snn_interop import hardware
from snn_interop.cli import convert_main
from snn_interop.conversion import convert_full, read_nir
from tests.conftest import plugin_or_skip, seeded_weights

pytest.importorskip("sinabs")
from snn_interop_plugins import speck  # noqa: E402 - after the skip: this target needs sinabs
SHAPE = (2, 8, 8)
STEPS, RATE = 40, 0.3


def _weights(model: nn.Sequential) -> nn.Sequential:
    """Seeded weights, a quarter for Linear: every layer fires on 30 % input spikes, the outputs about once in five steps."""
    return seeded_weights(model, linear=0.25)


def _net(neuron) -> nn.Sequential:
    """2x8x8 -> Conv2d(4, 3x3) -> IF -> SumPool2d(2) -> Flatten -> Linear(36, 5) -> IF, no biases."""
    import sinabs.layers as sl

    return _weights(nn.Sequential(nn.Conv2d(2, 4, 3, bias=False), neuron(), sl.SumPool2d(2), nn.Flatten(),
                                  nn.Linear(36, 5, bias=False), neuron()))


def _sinabs() -> nn.Sequential:
    import sinabs.layers as sl

    return _net(lambda: sl.IAF(spike_threshold=1.0))  # >=, subtract, several spikes per step


def _snntorch() -> nn.Sequential:
    import snntorch as snn

    return _net(lambda: snn.Leaky(beta=1.0, reset_mechanism="zero", init_hidden=True))  # >, to 0 this step


def _spikingjelly() -> nn.Sequential:
    from spikingjelly.activation_based import neuron

    return _net(lambda: neuron.IFNode(v_reset=0.0, step_mode="m"))  # >=, to 0


def _norse() -> nn.Sequential:
    import norse.torch as nt

    return _net(lambda: nt.IAFCell(nt.IAFParameters(v_th=torch.tensor(1.0))))  # >, to 0


@pytest.mark.parametrize("framework,make", [("sinabs", _sinabs), ("snntorch", _snntorch), ("spikingjelly", _spikingjelly),
                                            ("norse", _norse)])
def test_framework_models_go_through(framework: str, make, tmp_path: Path) -> None:
    plugin_or_skip(framework)
    graph, _, _ = convert_full(make(), framework, "nir", verify_result=False, input_shape_=SHAPE)
    report = hardware.handoff(graph, "speck", tmp_path / "out", steps=STEPS, rate=RATE)
    f = report.forward
    assert report.within_bound and f["mismatch_fraction"] <= speck.BOUND, report.table()
    assert f["spikes_float"] >= 20 and f["spikes_target"] >= 20, report.table()  # 40 steps x 5 outputs: the outputs fire
    assert report.figures["layer_to_core"] and len(report.figures["scales"]) == 2
    model, meta = speck.load(tmp_path / "out")
    x = hardware.spike_input(graph, STEPS, 0, RATE)
    assert torch.equal(speck.run(model, x), speck.build(graph).simulate(x))  # the saved model is the one simulated
    assert all(float(p).is_integer() for p in torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert meta["layers"][0]["max_abs_weight"] <= 128 and abs(meta["layers"][0]["threshold_high"]) < 2**15
    assert "samna" not in sys.modules
    # 'weights alone': each weight the chip's integer over s g, within half a step of the float weight
    deployment = speck.build(graph)
    back = deployment.chip_weights(graph)
    weights = [m.weight.detach().double().numpy() for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    for key, w_int, layer in zip(deployment.applied, weights, meta["layers"]):
        original, chip = (np.asarray(g.nodes[key].weight, np.float64) for g in (graph, back))
        gain = float(np.abs(w_int).max() / layer["scale"] / np.abs(chip).max())
        assert np.allclose(chip * layer["scale"] * gain, w_int, atol=1e-4), key
        assert np.abs(chip - original).max() <= 0.5 / (layer["scale"] * gain) * (1 + 1e-5), key
    assert "weights_alone" in f and f["weights_alone"]["spike_mismatches"] <= f["outputs"]


def _graph(*layers: tuple[str, nir.NIRNode], shape: tuple[int, ...] = SHAPE) -> nir.NIRGraph:
    names = ["input", *(n for n, _ in layers), "output"]
    nodes = {"input": nir.Input(input_type={"input": np.array(shape)}), **dict(layers), "output": nir.Output(output_type={"output": np.array([5])})}
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])))


def _if(n: int) -> nir.IF:
    return nir.IF(r=np.full(n, 1e4), v_threshold=np.ones(n))


def _conv(c_in: int, c_out: int, k: int, size: int = SHAPE[1]) -> nir.Conv2d:
    return nir.Conv2d(input_shape=(size, size), weight=np.full((c_out, c_in, k, k), 0.1), stride=1, padding=0, dilation=1, groups=1,
                      bias=np.zeros(c_out))


def _rules(graph: nir.NIRGraph) -> set[tuple[str, str]]:
    return {(v.node, v.rule) for v in speck.check(graph)}


def test_planted_violations_name_the_node_and_limit(tmp_path: Path) -> None:
    lif = nir.LIF(tau=np.full(5, 1e-3), r=np.ones(5), v_leak=np.zeros(5), v_threshold=np.ones(5))
    padded = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([1, 1]))  # 6x6 -> 4x4
    graph = _graph(("conv", _conv(2, 4, 3)), ("if", _if(144)), ("pool", padded),
                   ("flat", nir.Flatten(start_dim=0, input_type={"input": np.array([4, 4, 4])})), ("fc", nir.Linear(weight=np.ones((5, 64)))), ("lif", lif))
    assert {("lif", "neuron: IF"), ("pool", "pooling: shape")} <= _rules(graph)
    big = _graph(("conv", _conv(2, 64, 31, 32)), ("if", _if(256)), ("flat", nir.Flatten(start_dim=0, input_type={"input": np.array([64, 2, 2])})),
                 ("fc", nir.Linear(weight=np.ones((5, 256)))), ("if2", _if(5)), shape=(2, 32, 32))  # a 31 x 31 kernel
    bad = [v for v in speck.check(big) if v.node == "conv"]
    assert [v.rule for v in bad] == ["memory"] and "kernel 131072" in bad[0].found and "65536" in bad[0].limit
    deep = [("flat", nir.Flatten(start_dim=0, input_type={"input": np.array(SHAPE)}))]
    for i in range(10):
        deep += [(f"fc{i}", nir.Linear(weight=np.ones((128 if i < 9 else 5, 128)))), (f"if{i}", _if(128 if i < 9 else 5))]
    assert _rules(_graph(*deep)) == {("graph", "cores")}
    with pytest.raises(hardware.ConstraintViolation, match="node 'lif': neuron: IF: lif neuron") as raised:
        hardware.handoff(graph, "speck", tmp_path / "never")
    limits = {v.node: v.limit for v in raised.value.violations}
    assert "without leak" in limits["lif"] and limits["pool"].startswith("square kernel, stride = kernel")
    assert not (tmp_path / "never").exists()
    source = tmp_path / "planted.nir"
    nir.write(source, graph)
    code = convert_main(["--from", "nir", "--to", "speck", str(source), "-o", str(tmp_path / "cli"), "--quiet"])
    assert int(code) == 17 and not (tmp_path / "cli").exists()


def test_cnn_sinabs_corpus_network(corpus: Path, tmp_path: Path) -> None:
    """As NIR reads it (dt = 1e-4 s, input gain dt r = 1e-4) the network is silent; with
    --nir-dt 1 (sinabs' own IAF: the input added unscaled) it fires, and the discretisation
    shifts some spikes."""
    graph = read_nir(corpus / "cnn_sinabs.nir")
    assert speck.check(graph) == []
    silent = hardware.handoff(graph, "speck", tmp_path / "nir", steps=20, rate=0.2)
    assert silent.forward["spike_mismatches"] == 0 and silent.figures["layer_to_core"] == {i: i for i in range(5)}
    assert silent.forward["spikes_float"] == 0 and len(silent.nir_defaults["nodes"]) == 5 and silent.nir_defaults["dt"] == 1e-4
    assert [n.split(",")[0] for n in silent.notes] == ["the float model fired no output spike on this input",
                                                      "5 neuron nodes of the source file carry no snn-interop metadata"]
    assert "note: the float model fired no output spike" in silent.table() and "--nir-dt 1" in silent.table()
    out = tmp_path / "cli"
    code = convert_main(["--from", "nir", "--to", "speck", str(corpus / "cnn_sinabs.nir"), "-o", str(out), "--nir-dt", "1",
                         "--steps", "30", "--input-rate", "0.05", "--quiet"])
    report = json.loads((out / "report.json").read_text())
    f = report["forward"]
    assert int(code) == 0 and report["within_bound"] and f["spikes_float"] > 0, report
    assert report["nir_defaults"] is None  # --nir-dt 1 annotated every neuron before the hand-off
    assert (f["spike_mismatches"], f["spikes_float"], f["spikes_target"]) == (7, 4, 5)  # measured: 7 of 300 outputs
    model, meta = speck.load(out)
    assert meta["layer_to_core"] == {str(i): i for i in range(5)} and max(layer["max_weight_error"] for layer in meta["layers"]) < 0.01
    assert [m.weight.shape for m in model if isinstance(m, (nn.Conv2d, nn.Linear))] == [
        (16, 2, 5, 5), (16, 16, 3, 3), (8, 16, 3, 3), (256, 128), (10, 256)]
