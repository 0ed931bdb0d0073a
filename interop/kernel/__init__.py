"""The fused reference kernel: a canonical neuron's whole T-step recurrence in one Triton
launch forward and one backward (BPTT), its surrogate derivative generated from the spec.

    from snn_interop.kernel import FusedNeuron
    spikes, membrane = FusedNeuron(neuron)(x)      # x time-major [T, B, ...]
    spikes = FusedNeuron(neuron, membrane=False)(x)  # spikes only: the membrane is never written

Importing this package does not import Triton; the first layer built or run does (in the
CPU interpreter when there is no GPU, :mod:`.runtime`). See docs/kernel.md.
"""
from snn_interop.kernel.fused import (SAVE_MODES, FusedNeuron, FusedNeuronFunction, NotFusable, fused_run, moved_bytes_per_step,
                                     plan, saved_bytes_per_step)

__all__ = ["SAVE_MODES", "FusedNeuron", "FusedNeuronFunction", "NotFusable", "fused_run", "moved_bytes_per_step", "plan", "saved_bytes_per_step"]
