"""snn-convert --to loihi: real models of four frameworks through the netx hand-off, planted design
rule violations, the netx file read back, and the NIR paper's Lava trace."""
from __future__ import annotations

import dataclasses
import json

import nir
import numpy as np
import pytest
import torch

from snn_interop import hardware
from snn_interop.cli import convert_main
from snn_interop.conversion import convert_full
from snn_interop.errors import ExitCode
from snn_interop.nir.graph import flatten
from snn_interop.spec import loihi
from snn_interop_plugins import loihi as target
from tests.conftest import plugin_or_skip

N_IN, N_HID, N_OUT = 20, 16, 4


def _linear(n_in: int, n_out: int, lo: float, hi: float, seed: int, bias: bool = True) -> torch.nn.Linear:
    layer = torch.nn.Linear(n_in, n_out, bias=bias)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.weight.copy_(lo + (hi - lo) * torch.rand(n_out, n_in, generator=gen))
        if bias:
            layer.bias.copy_(0.05 * torch.rand(n_out, generator=gen))
    return layer


def _model(fw: str) -> torch.nn.Sequential:
    """Two layers of the framework's own LIF neurons set to Loihi's conventions (reset to zero in the same step)."""
    plugin_or_skip(fw)
    if fw == "snntorch":
        import snntorch as snn
        neuron = lambda: snn.Leaky(beta=0.9, reset_mechanism="zero", reset_delay=False, init_hidden=True)  # noqa: E731
    elif fw == "spikingjelly":
        from spikingjelly.activation_based import neuron as sj
        neuron = lambda: sj.LIFNode(tau=2.0, v_reset=0.0)  # noqa: E731
    elif fw == "sinabs":
        import sinabs.activation as sa
        import sinabs.layers as sl
        neuron = lambda: sl.LIF(tau_mem=10.0, spike_fn=sa.SingleSpike, reset_fn=sa.MembraneReset())  # noqa: E731
    else:
        import norse.torch as nt
        return torch.nn.Sequential(_linear(N_IN, N_HID, -0.2, 0.6, 1), nt.LIFBoxCell(),
                                   _linear(N_HID, N_OUT, 0.0, 2.0, 2, bias=False), nt.LIFCell())  # current-based, no bias into it
    return torch.nn.Sequential(_linear(N_IN, N_HID, -0.2, 0.6, 1), neuron(), _linear(N_HID, N_OUT, 0.0, 2.0, 2), neuron())


@pytest.mark.parametrize("fw", ["snntorch", "spikingjelly", "sinabs", "norse"])
def test_a_model_of_each_framework_runs_on_loihis_fixed_point_within_the_bound(fw: str, tmp_path) -> None:
    graph, _, _ = convert_full(_model(fw), fw, "nir", verify_result=False, input_shape_=(N_IN,))
    report = hardware.handoff(graph, "loihi", tmp_path / "out", steps=300, seed=0, rate=0.3)
    f = report.forward
    bound = (target.BOUND_CUBA if fw == "norse" else target.BOUND)["mismatch_fraction"]  # norse's LIFCell is current-based
    assert report.within_bound and report.bound["mismatch_fraction"] == bound and f["mismatch_fraction"] <= bound, report.table()
    assert f["spikes_float"] > 50 and f["spikes_target"] > 50, report.table()  # the output neurons do fire
    assert report.figures["weight_error_max"] <= 0.5 / 127 + 1e-9 and report.figures["threshold_error_max"] < 0.01
    assert json.loads((tmp_path / "out" / "report.json").read_text())["target"] == "loihi"
    layers, scales = target.read_netx(tmp_path / "out" / "network.net")
    deployment = target.build(graph)
    assert scales == deployment.scales and len(layers) == 2
    for read, built in zip(layers, deployment.layers):
        assert (read.du, read.dv, read.vth_mant, read.delay) == (built.du, built.dv, built.vth_mant, built.delay)
        assert np.array_equal(read.weight, built.weight) and np.array_equal(read.bias_mant, np.broadcast_to(built.bias_mant, read.bias_mant.shape))
    x = hardware.spike_input(graph, 300, 0, 0.3).numpy()
    reference = hardware.float_model(graph)(torch.from_numpy(x)).numpy()
    assert np.array_equal(loihi.simulate_float(deployment.floats, x), reference)  # the mapping is exact before rounding
    assert np.array_equal(loihi.simulate(layers, x), deployment.simulate(torch.from_numpy(x)).numpy())  # the file runs as built
    # 'weights alone': the graph with the chip's weights runs as the float chain with the integers' weights, nothing else rounded
    chip_floats = [dataclasses.replace(f, weight=loihi.from_loihi(p, s).weight) for f, p, s in zip(deployment.floats, deployment.layers, scales)]
    alone = hardware.float_model(deployment.chip_weights(graph))(torch.from_numpy(x)).numpy()
    assert np.array_equal(loihi.simulate_float(chip_floats, x), alone)
    assert f["weights_alone"]["spike_mismatches"] == int(np.sum(alone != reference))
    # per layer: the hidden layer against the float model's, the last layer is the output
    assert list(f["layers"]) == deployment.names and f["layers"][deployment.names[-1]]["spike_mismatches"] == f["spike_mismatches"]
    assert f["layers"][deployment.names[0]]["outputs"] == 300 * N_HID  # one batch entry


def test_the_netx_file_has_the_groups_and_datasets_netx_reads(tmp_path) -> None:
    import h5py

    graph, _, _ = convert_full(_model("norse"), "norse", "nir", verify_result=False, input_shape_=(N_IN,))
    target.build(graph).save(tmp_path)
    with h5py.File(tmp_path / "network.net") as f:
        assert sorted(f["layer"]) == ["0", "1", "2"]
        assert f["layer/0/type"][0] == b"input" and f["layer/0/shape"][()].tolist() == [N_IN]
        dense = f["layer/2"]
        assert dense["type"][0] == b"dense" and dense["shape"][()].tolist() == [N_OUT] and dense["weight"].shape == (N_OUT, N_HID)
        assert dense["neuron/type"][()] == b"CUBA" and 0 < dense["neuron/iDecay"][()] <= 4096 and dense["neuron/vThMant"][()] >= 1
        assert "delay" not in dense  # norse's LIFCell charges with this step's current
        assert np.abs(dense["weight"][()]).max() == 127 and "bias" not in dense


def membrane_first_graph() -> nir.NIRGraph:
    """Linear(5 -> 3) into a current-based neuron whose membrane sees last step's current."""
    from snn_interop.nir.neurons import node_from_neuron
    from snn_interop.spec.neurons import Compare, Decay, Neuron, ResetMode, SynapseOrder
    from snn_interop.spec.surrogates import SURROGATES

    neuron = Neuron.cuba_lif(SURROGATES["atan"].configure(), Decay(0.9), Decay(0.7), synapse_order=SynapseOrder.MEMBRANE_FIRST,
                             reset=ResetMode.TO_VALUE, compare=Compare.GT, threshold=0.5)
    weight = np.random.default_rng(0).uniform(0.0, 0.4, (3, 5))
    return nir.NIRGraph.from_list(nir.Linear(weight=weight), node_from_neuron(neuron, (3,)))


def test_a_membrane_first_current_becomes_a_one_step_netx_delay(tmp_path) -> None:
    graph = membrane_first_graph()
    deployment = target.build(graph)
    assert deployment.layers[0].delay == 1
    x = hardware.spike_input(graph, 200, 1, 0.4)
    reference = hardware.float_model(graph)(x).numpy()
    assert reference.sum() > 20 and np.array_equal(loihi.simulate_float(deployment.floats, x.numpy()), reference)
    deployment.save(tmp_path)
    assert target.read_netx(tmp_path / "network.net")[0][0].delay == 1


def test_planted_violations_name_the_node_and_the_limit() -> None:
    plugin_or_skip("snntorch")
    import snntorch as snn

    subtract = torch.nn.Sequential(_linear(N_IN, N_OUT, 0.0, 1.0, 3), snn.Leaky(beta=0.9, init_hidden=True))  # snntorch's default reset
    graph, _, _ = convert_full(subtract, "snntorch", "nir", verify_result=False, input_shape_=(N_IN,))
    rules = {(v.node, v.rule): v for v in target.check(graph)}
    assert ("1", "reset") in rules and "zero" in rules["1", "reset"].limit and ("1", "reset timing") in rules
    # A threshold 10^6 times the largest weight: vThMant <= 2^17 - 1 leaves every weight below half a step.
    wide = nir.NIRGraph.from_list(nir.Linear(weight=np.full((2, 3), 1e-5)), nir.LIF(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2),
                                                                                     v_threshold=np.full(2, 10.0 * 0.0095)))
    found = target.check(wide)
    assert [(v.node, v.rule) for v in found] == [("lif", "weight precision")] and "131071" in found[0].limit
    with pytest.raises(hardware.ConstraintViolation, match="weight precision"):
        hardware.handoff(wide, "loihi", "/nonexistent/never-written")


def test_a_lif_node_whose_metadata_says_adaptive_is_refused_not_run_without_its_adaptation() -> None:
    """snn-interop never writes an adaptive neuron to NIR, but a file may carry one in a LIF node's
    metadata: Loihi's CUBA neuron has no adaptive threshold, so the model is named, not dropped."""
    from snn_interop.nir import metadata
    from snn_interop.spec.neurons import Decay, Neuron, ResetMode
    from snn_interop.spec.surrogates import SURROGATES

    adaptive = Neuron.adaptive_lif(SURROGATES["atan"].configure(), Decay(0.9), Decay(0.95), 0.5, reset=ResetMode.TO_VALUE)
    lif = nir.LIF(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2), metadata=metadata.encode(adaptive))
    rules = {(v.node, v.rule): v for v in target.check(nir.NIRGraph.from_list(nir.Linear(weight=np.full((2, 3), 0.5)), lif))}
    assert ("lif", "neuron model") in rules and rules["lif", "neuron model"].found == "adaptive_lif"


def test_the_cli_exits_17_and_writes_nothing_for_a_chip_breaking_graph(tmp_path, capsys) -> None:
    graph = nir.NIRGraph.from_list(nir.Affine(weight=np.ones((2, 3)), bias=np.ones(2)),
                                   nir.CubaLIF(tau_syn=np.full(2, 0.002), tau_mem=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2),
                                               v_threshold=np.ones(2), w_in=np.ones(2)))
    nir.write(tmp_path / "bias.nir", graph)
    code = convert_main(["--from", "nir", "--to", "loihi", str(tmp_path / "bias.nir"), "-o", str(tmp_path / "out")])
    assert code == ExitCode.CONSTRAINT == 17
    assert not (tmp_path / "out").exists()
    err = capsys.readouterr().err
    assert "synapse bias" in err and "Loihi's bias adds to v" in err


def test_the_nir_paper_neuron_spikes_where_lava_did_one_step_earlier(corpus, tmp_path) -> None:
    trace = np.loadtxt(corpus / "lif_lava_loihi_fixed.csv", delimiter=",")
    graph = nir.read(corpus / "lif_norse.nir")
    x = torch.from_numpy(trace[:, 0]).reshape(-1, 1, 1)
    report = hardware.handoff(graph, "loihi", tmp_path / "out", x=x)
    assert report.forward["spike_mismatches"] == 0 and report.forward["spikes_target"] == 4
    ours = target.build(graph).simulate(x)[:, 0, 0].numpy()
    # Lava's Dense delivers each spike a step later; simulate reads the layer back a step later (no bias: nothing else changes).
    assert np.array_equal(np.nonzero(ours)[0] + 1, np.nonzero(trace[:, 2])[0])


BRAILLE = "braille_noDelay_noBias_subtract.nir"


def test_the_nir_papers_braille_network_maps_with_its_recurrence_as_a_netx_dense_rec(corpus, tmp_path) -> None:
    """The NIR paper's recurrent Braille network (CubaLIF 40 with 40x40 recurrent weights, read with
    NIR's defaults: reset to 0): the layer becomes one dense_rec block whose weight_rec carries the
    recurrence at the layer's scale; the float form with the recurrence is the canonical float model
    spike for spike, and the chip follows it within the bound."""
    import h5py

    graph = nir.read(corpus / BRAILLE)
    assert target.check(graph) == []
    deployment = target.build(graph)
    assert deployment.recurrent == ["lif1.w_rec", None] and deployment.layers[0].weight_rec.shape == (40, 40)
    assert np.abs(np.hstack([deployment.layers[0].weight, deployment.layers[0].weight_rec])).max() == 127  # one scale for both
    x = hardware.spike_input(graph, 256, 0, 0.3)
    reference = hardware.float_model(graph)(x).numpy()
    assert reference.sum() > 30 and np.array_equal(loihi.simulate_float(deployment.floats, x.numpy()), reference)
    without = dataclasses.replace(deployment.floats[0], weight_rec=None)  # the recurrence matters on this input
    assert not np.array_equal(loihi.simulate_float([without, deployment.floats[1]], x.numpy()), reference)

    report = hardware.handoff(graph, "loihi", tmp_path / "out", x=x, seed=0)
    assert report.within_bound and report.forward["mismatch_fraction"] < 0.05, report.table()
    assert list(report.forward["layers"]) == ["lif1.lif", "lif2"]
    with h5py.File(tmp_path / "out" / "network.net") as f:
        assert f["layer/1/type"][0] == b"dense_rec" and f["layer/1/weight_rec"].shape == (40, 40) and f["layer/2/type"][0] == b"dense"
    layers, _ = target.read_netx(tmp_path / "out" / "network.net")
    assert np.array_equal(layers[0].weight_rec, deployment.layers[0].weight_rec) and layers[1].weight_rec is None
    # the chip's recurrent weights back in the graph's units: within half a step of the layer's 8-bit grid
    nodes = flatten(graph).nodes
    w = np.asarray(nodes["lif1.w_rec"].weight, np.float64)
    back = np.asarray(flatten(deployment.chip_weights(graph)).nodes["lif1.w_rec"].weight, np.float64)
    step = max(np.abs(w).max(), np.abs(np.asarray(nodes["fc1"].weight)).max()) / 127
    assert 0 < np.abs(back - w).max() <= 0.5 * step * (1 + 1e-6)


def test_the_braille_network_with_biases_into_its_currents_is_refused_node_by_node(corpus) -> None:
    found = target.check(nir.read(corpus / "braille_noDelay_bias_zero.nir"))
    assert [(v.node, v.rule) for v in found] == [("fc1", "synapse bias"), ("lif1.w_rec", "synapse bias"), ("fc2", "synapse bias")]


def recurrent_norse_graph() -> nir.NIRGraph:
    """norse's LIFRecurrentCell (input and recurrent weights its own) -> Linear -> LIFCell, to NIR."""
    plugin_or_skip("norse")
    import norse.torch as nt

    cell = nt.LIFRecurrentCell(N_IN, N_HID)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        cell.input_weights.copy_(2.0 * torch.rand(N_HID, N_IN, generator=gen) - 0.4)
        cell.recurrent_weights.copy_(1.5 * (torch.rand(N_HID, N_HID, generator=gen) - 0.5))
    model = nt.SequentialState(cell, _linear(N_HID, N_OUT, -0.4, 0.6, 2, bias=False), nt.LIFCell())
    graph, _, _ = convert_full(model, "norse", "nir", verify_result=False, input_shape_=(N_IN,))
    return graph


def test_a_norse_recurrent_cell_maps_as_a_dense_rec_and_a_recurrent_membrane_first_layer_is_refused(tmp_path) -> None:
    graph = recurrent_norse_graph()
    deployment = target.build(graph)
    assert deployment.recurrent == ["0_rec", None]
    x = hardware.spike_input(graph, 200, 0, 0.3)
    reference = hardware.float_model(graph)(x).numpy()
    assert 20 < reference.sum() < 0.9 * reference.size and np.array_equal(loihi.simulate_float(deployment.floats, x.numpy()), reference)
    assert hardware.handoff(graph, "loihi", tmp_path / "out", x=x, seed=0).within_bound

    first = membrane_first_graph()  # its neuron fed back through a Linear: netx would delay the recurrence too
    nodes = dict(first.nodes, rec=nir.Linear(weight=np.eye(3) * 0.1))
    looped = nir.NIRGraph(nodes, [*first.edges, ("cubalif", "rec"), ("rec", "cubalif")])
    assert [(v.node, v.rule) for v in target.check(looped)] == [("rec", "recurrent synapse order")]


CNN = "cnn_sinabs.nir"


def exact_layer_for_layer(graph: nir.NIRGraph, deployment: target.LoihiDeployment, steps: int, min_spikes: float) -> torch.Tensor:
    """Asserts that each prefix of the deployment's float form fires as the float model's layer,
    spike for spike, on seeded spikes at rate 0.3 (each layer firing more than ``min_spikes``); the input."""
    x = hardware.spike_input(graph, steps, 0, 0.3)
    _, recorded = hardware.float_model(graph)(x, record=True)
    for k, name in enumerate(deployment.names, start=1):
        reference = recorded[name]["out"].numpy()
        assert reference.sum() > min_spikes and np.array_equal(loihi.simulate_float(deployment.floats[:k], x.numpy()), reference), name
    return x


def cnn_graph(corpus) -> nir.NIRGraph:
    """The NIR paper's N-MNIST CNN from sinabs, read as sinabs counts time (one step, ``--nir-dt 1``), annotated as the hand-off reads it."""
    from snn_interop.nir.neurons import NirDefaults

    return hardware._for_chip(nir.read(corpus / CNN), NirDefaults(dt=1.0))[1]


def test_the_nir_papers_nmnist_cnn_maps_as_netx_conv_blocks_with_its_pooling_folded(corpus, tmp_path) -> None:
    """Conv2d -> IF x 3 (two SumPool2d), Flatten, Affine -> IF x 2: netx has conv blocks but no
    pooling, so each 2x2 sum pooling is folded into the next weights (a kernel repeated over the
    window at twice the stride and padding; a dense weight per unpooled position). The float form
    with the folded weights is the canonical float model layer for layer, spike for spike."""
    import h5py

    graph = cnn_graph(corpus)
    assert target.check(graph) == []
    deployment = target.build(graph)
    blocks = deployment.blocks
    assert [b.pool for b in blocks] == [None, None, (2, 2), (2, 2), None] and [b.flattened for b in blocks] == [False] * 3 + [True, False]
    assert deployment.layers[2].weight.shape == (8, 16, 6, 6) and deployment.layers[2].conv == loihi.Conv((2, 2), (2, 2))
    assert deployment.layers[3].weight.shape == (256, 512)
    exact_layer_for_layer(graph, deployment, 40, 20)

    deployment.save(tmp_path)
    with h5py.File(tmp_path / "network.net") as f:
        kinds = [f[f"layer/{k}/type"][0] for k in range(len(f["layer"]))]
        assert kinds == [b"input", b"conv", b"conv", b"conv", b"flatten", b"dense", b"dense"]
        assert f["layer/0/shape"][()].tolist() == [2, 34, 34] and f["layer/3/shape"][()].tolist() == [8, 8, 8]
        assert f["layer/3/stride"][()].tolist() == [2, 2] and f["layer/3/padding"][()].tolist() == [2, 2]
    layers, _ = target.read_netx(tmp_path / "network.net")
    assert all(np.array_equal(a.weight, b.weight) and a.conv == b.conv for a, b in zip(layers, deployment.layers))
    # the chip's weights back in the graph's units, one per pooling window: within half a step of each layer's grid
    nodes, back = flatten(graph).nodes, flatten(deployment.chip_weights(graph)).nodes
    for key in ("5", "9"):
        w, q = np.asarray(nodes[key].weight, np.float64), np.asarray(back[key].weight, np.float64)
        assert q.shape == w.shape and 0 < np.abs(q - w).max() <= 0.5 * np.abs(w).max() / 127 * (1 + 1e-6), key


def test_a_pooling_netx_cannot_fold_is_refused_at_the_pooling_node() -> None:
    def chain(pool: nir.SumPool2d, size: int) -> nir.NIRGraph:
        flat = nir.Flatten(input_type={"input": np.array([1, size // 2, size // 2])})
        nodes = {"input": nir.Input(input_type=np.array([1, size, size])), "pool": pool, "flat": flat,
                 "fc": nir.Linear(weight=np.full((2, (size // 2) ** 2), 0.5)),
                 "if": nir.IF(r=np.ones(2), v_threshold=np.ones(2)), "output": nir.Output(output_type=np.array([2]))}
        return nir.NIRGraph(nodes, [("input", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "if"), ("if", "output")])

    two = dict(kernel_size=np.array([2, 2]), padding=np.array([0, 0]))
    assert target.check(chain(nir.SumPool2d(stride=np.array([2, 2]), **two), 6)) == []
    odd = target.check(chain(nir.SumPool2d(stride=np.array([2, 2]), **two), 5))
    assert [(v.node, v.rule) for v in odd] == [("pool", "pooling")] and "a 5x5 input in 2x2 windows" in odd[0].found
    overlapping = target.check(chain(nir.SumPool2d(stride=np.array([1, 1]), **two), 6))
    assert [(v.node, v.rule) for v in overlapping] == [("pool", "pooling")] and "stride = window" in overlapping[0].limit


def test_a_spikingjelly_cnn_with_average_pooling_maps_with_the_quarter_in_the_next_weights(tmp_path) -> None:
    """spikingjelly's Conv2d -> IF -> AvgPool2d(2) twice, Flatten, Linear -> IF on 2x16x16: each
    average is a window sum times 1/4, folded into the next weights like a SumPool2d; the float
    form is the canonical float model layer for layer, and the chip follows it within the bound."""
    plugin_or_skip("spikingjelly")
    from spikingjelly.activation_based import layer, neuron

    from tests.conftest import seeded_weights

    def cell() -> torch.nn.Module:
        return neuron.IFNode(v_reset=0.0, step_mode="m")

    model = seeded_weights(torch.nn.Sequential(
        layer.Conv2d(2, 8, 3, padding=1, bias=False, step_mode="m"), cell(), layer.AvgPool2d(2, step_mode="m"),
        layer.Conv2d(8, 8, 3, padding=1, bias=False, step_mode="m"), cell(), layer.AvgPool2d(2, step_mode="m"),
        layer.Flatten(step_mode="m"), layer.Linear(128, 10, bias=False, step_mode="m"), cell()), conv=3.0)
    graph, _, _ = convert_full(model, "spikingjelly", "nir", verify_result=False, input_shape_=(2, 16, 16))
    assert sum(isinstance(n, nir.AvgPool2d) for n in graph.nodes.values()) == 2 and target.check(graph) == []
    deployment = target.build(graph)
    kernel = np.asarray(flatten(graph).nodes["3"].weight)  # the second conv, after the first average
    assert np.allclose(deployment.floats[1].weight, np.repeat(np.repeat(kernel, 2, axis=2), 2, axis=3) / 4)
    x = exact_layer_for_layer(graph, deployment, 100, 100)
    report = hardware.handoff(graph, "loihi", tmp_path / "out", x=x, seed=0)
    assert report.within_bound and report.forward["mismatch_fraction"] < 0.05, report.table()


def csnn_graph() -> nir.NIRGraph:
    """spikingjelly's CSNN example (Conv2d, BatchNorm2d, IFNode, MaxPool2d twice; Flatten, Dropout, Linear, IFNode) in NIR."""
    plugin_or_skip("spikingjelly")
    from examples.sj_csnn.model import build

    graph, _, _ = convert_full(build(), "spikingjelly", "nir", verify_result=False, input_shape_=(2, 8, 8))
    return graph


def test_spikingjelly_csnn_maps_each_max_pool_as_a_conv_block_of_neurons_that_fire_on_any_spike(tmp_path) -> None:
    """A max pool of spikes (NIR: SumPool2d -> Threshold 0.5) is no linear map to fold: it becomes a
    depthwise conv block of its own, weights 1 over each window into neurons without memory that
    fire when the window holds a spike. The BatchNorms fold into the convolutions' biases. The float
    form is the canonical float model layer for layer."""
    graph = csnn_graph()
    deployment = target.build(hardware._for_chip(graph, hardware.NirDefaults())[1])
    assert [b.fixed for b in deployment.blocks] == [False, True, False, True, False]
    pool = deployment.layers[1]
    assert pool.conv.groups == 8 and pool.conv.stride == (2, 2) and (pool.du, pool.dv) == (4095, 4096) and np.all(pool.weight == 127)
    x = exact_layer_for_layer(graph, deployment, 100, 100)
    report = hardware.handoff(graph, "loihi", tmp_path / "out", x=x, seed=0)
    assert list(report.forward["layers"]) == deployment.names and report.forward["mismatch_fraction"] < 0.1, report.table()
    assert report.forward["weights_alone"]["spike_mismatches"] > 0  # the 8-bit weights, folded BatchNorms included, move spikes

    threshold = nir.Threshold(threshold=np.full((8, 4, 4), 1.5))  # a count above 1: no max pool
    nodes = {**graph.nodes, "3_max": threshold}
    found = target.check(hardware._for_chip(nir.NIRGraph(nodes, graph.edges), hardware.NirDefaults())[1])
    assert [(v.node, v.rule) for v in found] == [("3_max", "threshold node")]
