"""The NIR paper's own files (tests/data/nir-paper) in every framework."""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from snn_interop import registry
from snn_interop.nir.neurons import NirDefaults
from tests.nir.corpus import DEFAULTS, FILES, corpus_input

FRAMEWORKS = ["snntorch", "spikingjelly", "sinabs", "norse", "rockpool"]


def plugins():
    found = [registry.get(n) for n in FRAMEWORKS if not registry.info(n).unavailable]
    if len(found) < len(FRAMEWORKS):
        pytest.skip(f"not all of {FRAMEWORKS} are installed")
    return found


@pytest.mark.parametrize("filename", FILES)
def test_corpus_file_runs_identically_in_every_framework(filename, corpus):
    graph = nir.read(corpus / filename)
    x = corpus_input(graph)
    outputs = {}
    for plugin in plugins():
        model = plugin.from_nir(graph, defaults=DEFAULTS.get(filename, NirDefaults()), dtype=torch.float64)
        with torch.no_grad():
            outputs[plugin.NAME] = model(x)
    first = outputs[FRAMEWORKS[0]]
    assert torch.isfinite(first).all()
    for name, y in outputs.items():
        assert torch.equal(y, first), f"{name} differs from {FRAMEWORKS[0]} on {filename}"


@pytest.mark.parametrize("filename", FILES[:2])
def test_braille_networks_spike_identically_in_every_framework(filename, corpus):
    # the comparison above means something only if the recurrent layer fires: record it
    graph = nir.read(corpus / filename)
    x = corpus_input(graph)
    hidden = {}
    for plugin in plugins():
        model = plugin.from_nir(graph, defaults=DEFAULTS[filename], dtype=torch.float64)
        with torch.no_grad():
            _, rec = model(x, record=True)
        hidden[plugin.NAME] = rec["lif1.lif"]["out"]
    assert hidden["snntorch"].sum() >= 20, f"the recurrent layer fired {hidden['snntorch'].sum().item()} times"
    for name, spikes in hidden.items():
        assert torch.equal(spikes, hidden["snntorch"]), name


def test_lif_norse_reproduces_the_exact_trace_in_every_framework(corpus):
    graph = nir.read(corpus / "lif_norse.nir")
    table = np.loadtxt(corpus / "lif_exact.csv", delimiter=",")
    x = torch.from_numpy(table[:, :1]).reshape(-1, 1, 1)
    for plugin in plugins():
        model = plugin.from_nir(graph, dtype=torch.float64)
        with torch.no_grad():
            spikes = model(x).flatten().numpy()
        assert np.flatnonzero(spikes).tolist() == np.flatnonzero(table[:, 2]).tolist(), plugin.NAME
