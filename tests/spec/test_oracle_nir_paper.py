"""The oracle against the NIR paper's exact LIF trace (tests/data/nir-paper/lif_exact.csv).

The neuron's parameters come from the paper's own NIR file (lif_norse.nir: Affine 1x1 with
weight 1, then LIF tau = 2.5 ms, r = 1, v_leak = 0, v_threshold = 0.1, dt = 0.1 ms).
lif_exact.csv is the event-based solution of tau dv/dt = (v_leak - v) + r I with I held for
each step: it resets to 0 at the crossing time *inside* a step and integrates the rest of it.

Discretisation error, derived: with beta = exp(-dt/tau) and zero-order-hold input, the
exact-exponential step v[t] = beta v[t-1] + (1 - beta) r I[t] is exact between spikes. At a
spike step both solutions reset; the event solution then integrates for the remaining
fraction of the step, so right after a spike 0 <= v_exact - v_oracle <= (1 - beta) r max|I|.
Between spikes both decay by beta per step, so the difference only shrinks. Hence, as long
as the spike steps agree, |v_exact - v_oracle| <= (1 - beta) r max|I| at every step, and it
is 0 (float64 rounding) before the first spike.
"""
from __future__ import annotations

import math

import nir
import numpy as np
import torch

from snn_interop.spec import oracle
from snn_interop.spec.neurons import Decay, Discretisation, InputScale, Neuron, ResetMode
from snn_interop.spec.surrogates import SURROGATES
from snn_interop_conformance.tolerances import FP64_EXACT

DT = 1e-4  # the paper's step (corpus README)


def test_oracle_matches_exact_lif_trace(corpus):
    graph = nir.read(corpus / "lif_norse.nir")
    lif, affine = graph.nodes["1"], graph.nodes["0"]
    tau, r = float(lif.tau[0]), float(lif.r[0])
    neuron = Neuron.lif(
        SURROGATES["atan"].configure(),
        Decay.from_tau(tau, DT, Discretisation.EXACT),
        input_scale=InputScale.ONE_MINUS_BETA,
        r=r,
        v_leak=float(lif.v_leak[0]),
        threshold=float(lif.v_threshold[0]),
        reset=ResetMode.TO_VALUE,
        v_reset=0.0,
    )
    table = np.loadtxt(corpus / "lif_exact.csv", delimiter=",")
    current = table[:, 0] * float(affine.weight[0, 0]) + float(affine.bias[0])
    trace = oracle.simulate(neuron, torch.from_numpy(current).reshape(-1, 1))
    v, spikes = trace.v.flatten().numpy(), trace.spikes.flatten().numpy()

    exact_steps = np.flatnonzero(table[:, 2])
    assert exact_steps.tolist() == [460, 510, 710, 760]  # the file's own spikes
    assert np.flatnonzero(spikes).tolist() == exact_steps.tolist()

    bound = (1 - math.exp(-DT / tau)) * r * np.abs(current).max()  # 0.0392
    err = np.abs(table[:, 1] - v)
    assert err.max() <= bound
    assert err[: exact_steps[0]].max() <= FP64_EXACT.atol
    # the error is the event solution's partial step after each reset, then decays by beta
    assert (table[exact_steps, 1] - v[exact_steps] >= 0).all()
