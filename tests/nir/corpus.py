"""What the NIR paper's files (tests/data/nir-paper) do not say, and their test input: shared by
tests/nir/test_corpus.py and scripts/native_nir_matrix.py (which runs without pytest)."""
from __future__ import annotations

import nir
import torch

from snn_interop.nir.neurons import NirDefaults
from snn_interop.spec.neurons import Discretisation, ResetMode

FILES = ["braille_noDelay_bias_zero.nir", "braille_noDelay_noBias_subtract.nir", "cnn_sinabs.nir", "lif_norse.nir",
         "lif_rockpool.nir", "two_lif_neurons.nir"]
# What each file does not say, as its authors ran it (corpus README and parameters_*.json):
# Braille: snnTorch at dt = 1e-4 under forward Euler, reset to zero or by subtraction;
# cnn_sinabs: sinabs counts time in steps (dt = 1), its IAF subtracts.
DEFAULTS = {
    "braille_noDelay_bias_zero.nir": NirDefaults(discretisation=Discretisation.EULER),
    "braille_noDelay_noBias_subtract.nir": NirDefaults(discretisation=Discretisation.EULER, reset=ResetMode.SUBTRACT),
    "cnn_sinabs.nir": NirDefaults(dt=1.0, reset=ResetMode.SUBTRACT),
}


def corpus_input(graph: nir.NIRGraph, steps: int = 100) -> torch.Tensor:
    """Seeded Bernoulli(0.3) float64 input [T, 2, *input shape] for a corpus graph."""
    shape = tuple(int(s) for s in next(n for n in graph.nodes.values() if isinstance(n, nir.Input)).input_type["input"])
    gen = torch.Generator().manual_seed(11)
    return (torch.rand(steps, 2, *shape, generator=gen, dtype=torch.float64) < 0.3).to(torch.float64)
