"""Test networks as NIR graphs, with each source framework's own neuron conventions.

A framework's "native" neuron for a reset mode is the first generated canonical case it
builds natively (conformance.cases), so the source model really uses its framework's layers.
"""
from __future__ import annotations

import nir
import numpy as np

from snn_interop.nir.neurons import node_from_neuron
from snn_interop.plugin_api import NotExpressible
from snn_interop.spec.neurons import Model, Neuron, ResetMode
from snn_interop_conformance.cases import neuron_cases


def native_neuron(plugin, model: Model, reset: ResetMode) -> Neuron:
    """The first generated case of ``model`` with ``reset`` that ``plugin`` builds natively."""
    for n in neuron_cases():
        if n.model is model and n.reset is reset:
            try:
                plugin.build_neuron(n)
            except NotExpressible:
                continue
            return n
    raise LookupError(f"{plugin.NAME} builds no {model.value} with reset {reset.value} natively")


def _w(rng: np.random.Generator, *shape: int, gain: float) -> np.ndarray:
    return rng.normal(0.0, gain / np.sqrt(shape[-1]), size=shape)


def drive(neuron: Neuron) -> float:
    """1 / the neuron's steady-state gain from input to membrane, so every framework's
    conventions see a comparable drive (a synaptic current settles at g_syn x / (1 - alpha))."""
    gain = neuron.input_gain
    if neuron.model is Model.CUBA_LIF:
        gain *= neuron.syn_input_gain / (1.0 - neuron.syn_decay.beta)
    return 1.0 / gain


def mlp(lif: Neuron, seed: int = 0) -> nir.NIRGraph:
    """Affine 12 -> 16, LIF, Linear 16 -> 5 (no bias), LIF."""
    rng = np.random.default_rng(seed)
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([12])}),
        "fc1": nir.Affine(weight=_w(rng, 16, 12, gain=3.0 * drive(lif)), bias=rng.normal(0.2, 0.1, 16) * drive(lif)),
        "lif1": node_from_neuron(lif, (16,)),
        "fc2": nir.Linear(weight=_w(rng, 5, 16, gain=3.0 * drive(lif))),
        "lif2": node_from_neuron(lif, (5,)),
        "output": nir.Output(output_type={"output": np.array([5])}),
    }, edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")])


def convnet(if_: Neuron, lif: Neuron, seed: int = 1) -> nir.NIRGraph:
    """Conv2d 2 -> 4 on 8x8, IF, SumPool2d 2, Conv2d 4 -> 4, LIF, AvgPool2d 2, Flatten, Affine 16 -> 6, LIF."""
    rng = np.random.default_rng(seed)
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([2, 8, 8])}),
        "conv1": nir.Conv2d(input_shape=(8, 8), weight=_w(rng, 4, 2, 3, 3, gain=2.0 * drive(if_)), stride=1, padding=1, dilation=1, groups=1,
                            bias=rng.normal(0.1, 0.05, 4) * drive(if_)),
        "if1": node_from_neuron(if_, (4, 8, 8)),
        "pool1": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "conv2": nir.Conv2d(input_shape=(4, 4), weight=_w(rng, 4, 4, 3, 3, gain=1.5 * drive(lif)), stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(4)),
        "lif2": node_from_neuron(lif, (4, 4, 4)),
        "pool2": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([4, 2, 2])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=_w(rng, 6, 16, gain=4.0 * drive(lif)), bias=np.full(6, 0.2 * drive(lif))),
        "lif3": node_from_neuron(lif, (6,)),
        "output": nir.Output(output_type={"output": np.array([6])}),
    }, edges=[("input", "conv1"), ("conv1", "if1"), ("if1", "pool1"), ("pool1", "conv2"), ("conv2", "lif2"), ("lif2", "pool2"),
              ("pool2", "flat"), ("flat", "fc"), ("fc", "lif3"), ("lif3", "output")])


def recurrent(cuba: Neuron, seed: int = 2) -> nir.NIRGraph:
    """Affine 6 -> 10, CubaLIF with a recurrent Affine 10 -> 10, Affine 10 -> 4, CubaLIF (the Braille shape)."""
    rng = np.random.default_rng(seed)
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([6])}),
        "fc1": nir.Affine(weight=_w(rng, 10, 6, gain=1.5 * drive(cuba)), bias=np.full(10, 0.05 * drive(cuba))),
        "lif1": node_from_neuron(cuba, (10,)),
        "rec": nir.Affine(weight=_w(rng, 10, 10, gain=1.0 * drive(cuba)), bias=np.zeros(10)),
        "fc2": nir.Affine(weight=_w(rng, 4, 10, gain=2.0 * drive(cuba)), bias=np.zeros(4)),
        "lif2": node_from_neuron(cuba, (4,)),
        "output": nir.Output(output_type={"output": np.array([4])}),
    }, edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "rec"), ("rec", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")])


def skip_net(lif: Neuron, seed: int = 3) -> nir.NIRGraph:
    """Conv1d 2 -> 3 over 10 positions, LIF, Flatten; a skip connection adds the input's Affine
    projection to the first LIF's Affine output before the second LIF (a non-sequential graph)."""
    rng = np.random.default_rng(seed)
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([2, 10])}),
        "conv": nir.Conv1d(input_shape=10, weight=_w(rng, 3, 2, 3, gain=2.5 * drive(lif)), stride=1, padding=1, dilation=1, groups=1,
                           bias=np.full(3, 0.1 * drive(lif))),
        "lif1": node_from_neuron(lif, (3, 10)),
        "flat": nir.Flatten(input_type={"input": np.array([3, 10])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=_w(rng, 4, 30, gain=2.0 * drive(lif)), bias=np.zeros(4)),
        "flat_in": nir.Flatten(input_type={"input": np.array([2, 10])}, start_dim=0, end_dim=-1),
        "skip": nir.Linear(weight=_w(rng, 4, 20, gain=2.0 * drive(lif))),
        "scale": nir.Scale(scale=np.array([1.0, 0.5, 2.0, 1.5])),
        "lif2": node_from_neuron(lif, (4,)),
        "output": nir.Output(output_type={"output": np.array([4])}),
    }, edges=[("input", "conv"), ("conv", "lif1"), ("lif1", "flat"), ("flat", "fc"), ("fc", "scale"), ("scale", "lif2"),
              ("input", "flat_in"), ("flat_in", "skip"), ("skip", "lif2"), ("lif2", "output")])
