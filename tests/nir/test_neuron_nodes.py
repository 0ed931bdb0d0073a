"""Canonical neurons through NIR nodes and files: exact with our metadata, NIR semantics without."""
from __future__ import annotations

import itertools
import math
import subprocess
import sys

import nir
import numpy as np
import pytest
import torch

from snn_interop.nir import metadata
from snn_interop.nir.neurons import NirDefaults, neuron_from_node, node_from_neuron
from snn_interop.spec import oracle
from snn_interop.spec.neurons import (
    Compare, Decay, Discretisation, InputScale, Neuron, ResetMode, ResetTiming, SpikeFn, SynapseOrder,
)
from snn_interop.spec.surrogates import SURROGATES
from tests.conftest import ROOT

NIR_CURRENT = ROOT / ".venv" / "nir-current"  # nir 1.0.8, installed apart by `make setup`


def neurons() -> list[Neuron]:
    """A spread of canonical neurons: every model, reset mode and timing, compare, odd values."""
    sg = SURROGATES["fast_sigmoid"].configure(alpha=7.5, scale=0.3)
    out = []
    for reset, timing, compare in itertools.product(ResetMode, ResetTiming, Compare):
        out.append(Neuron.lif(sg, Decay.from_tau(3.3e-3, 1e-4, Discretisation.EULER), reset=reset, reset_timing=timing,
                              compare=compare, input_scale=InputScale.ONE_MINUS_BETA, r=1.7, v_leak=0.1, v_reset=-0.2))
    out.append(Neuron.if_(SURROGATES["sigmoid"].configure(), spike_fn=SpikeFn.MULTI, threshold=0.75, v_min=-1.0))
    out.append(Neuron.li(Decay(0.8125)))
    out.append(Neuron.cuba_lif(sg, Decay(0.9), Decay(0.55), synapse_order=SynapseOrder.MEMBRANE_FIRST, w_in=2.0,
                               syn_input_scale=InputScale.ONE_MINUS_BETA, detach_reset=True))
    return out


@pytest.mark.parametrize("neuron", neurons(), ids=lambda n: f"{n.model.value}-{n.reset.value}-{n.reset_timing.value}-{n.compare.value}")
def test_node_round_trip_through_a_file_is_exact(neuron, tmp_path):
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([3])}),
                                "n": node_from_neuron(neuron, (3,)),
                                "output": nir.Output(output_type={"output": np.array([3])})},
                         edges=[("input", "n"), ("n", "output")])
    nir.write(tmp_path / "g.nir", graph)
    assert neuron_from_node(nir.read(tmp_path / "g.nir").nodes["n"]) == neuron


def test_our_file_reads_in_the_current_nir_release(tmp_path):
    neuron = neurons()[0]
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}), "n": node_from_neuron(neuron, (2,)),
                                "output": nir.Output(output_type={"output": np.array([2])})}, edges=[("input", "n"), ("n", "output")])
    nir.write(tmp_path / "g.nir", graph)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import nir, json\n"
            "assert nir.version == '1.0.8', nir.version\n"
            "g = nir.read(sys.argv[2]); n = g.nodes['n']\n"
            "raw = n.metadata['snn_interop']; raw = raw.decode() if isinstance(raw, bytes) else raw\n"
            "print(type(n).__name__, json.loads(raw)['version'], float(n.tau[0]))")
    done = subprocess.run([sys.executable, "-c", code, str(NIR_CURRENT), str(tmp_path / "g.nir")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["LIF", str(metadata.VERSION), repr(3.3e-3)]


def test_plain_nir_lif_reads_with_nir_semantics(corpus):
    # lif_norse.nir has no snn-interop metadata: NIR's ODE, exact discretisation at dt = 1e-4
    neuron = neuron_from_node(nir.read(corpus / "lif_norse.nir").nodes["1"])
    assert neuron.decay.beta == math.exp(-1e-4 / float(np.float32(0.0025)))  # tau is stored as float32
    assert (neuron.compare, neuron.reset, neuron.v_reset) == (Compare.GT, ResetMode.TO_VALUE, 0.0)
    table = np.loadtxt(corpus / "lif_exact.csv", delimiter=",")
    spikes = oracle.simulate(neuron, torch.from_numpy(table[:, :1])).spikes.flatten().numpy()
    assert np.flatnonzero(spikes).tolist() == np.flatnonzero(table[:, 2]).tolist()


def test_braille_cuba_lif_reads_as_snntorch_trained_it_under_euler(corpus):
    # exported by snnTorch with beta_r 0.9, alpha_r 0.55 at dt = 1e-4 under forward Euler
    # (parameters_noDelay_bias_ref_zero.json); synaptic and membrane gains are then 1
    node = nir.read(corpus / "braille_noDelay_bias_zero.nir").nodes["lif1.lif"]
    neuron = neuron_from_node(node, NirDefaults(discretisation=Discretisation.EULER))
    # float32 values: snnTorch computed tau = dt / (1 - beta) in float32
    assert neuron.decay.beta == pytest.approx(0.9, abs=1e-7)
    assert neuron.syn_decay.beta == pytest.approx(0.55, abs=1e-7)
    assert neuron.input_gain == pytest.approx(1.0, abs=1e-6) and neuron.syn_input_gain == pytest.approx(1.0, abs=1e-7)


def test_metadata_of_another_version_is_refused():
    neuron = neurons()[0]
    raw = metadata.encode(neuron)[metadata.KEY].replace('"version": 1', '"version": 99')
    with pytest.raises(ValueError, match="version 99 is not supported"):
        metadata.decode({metadata.KEY: raw})


def test_a_field_added_later_is_written_only_when_it_matters():
    """synaptic_current (added after version 1 files were written) is left out at its default, so
    those files' metadata stays as it was and earlier readers read ours; set, it round-trips."""
    plain = Neuron.li(Decay(0.8125))
    assert "synaptic_current" not in metadata.encode(plain)[metadata.KEY]
    current = plain.with_(synaptic_current=True, syn_decay=Decay(0.5))
    assert '"synaptic_current": true' in metadata.encode(current)[metadata.KEY]
    assert metadata.decode(metadata.encode(current)) == current and metadata.decode(metadata.encode(plain)) == plain
