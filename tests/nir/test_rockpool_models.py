"""Rockpool networks as its users write them: a combinator ``Sequential`` of ``LinearTorch`` and
neuron modules at rockpool's defaults (leak_mode="taus", decays exp(-dt / tau) computed in
float32, the StepPWL spike function, which fires up to 2^16 spikes per step) are read from
rockpool's own modules and convert exactly, gradients included."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from snn_interop import conversion as conv
from snn_interop.errors import Unsupported
from snn_interop.spec.neurons import Compare, InputScale, Model, SpikeFn
from tests.conftest import plugin_or_skip

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ["snntorch", "spikingjelly", "sinabs", "norse", "rockpool", "nir"]


def rockpool() -> tuple:
    """LinearTorch, LIFTorch, LIFNeuronTorch, Sequential and lif_torch, imported as the plugin does (samna blocked)."""
    plugin = plugin_or_skip("rockpool")
    with plugin._samna_blocked():
        from rockpool.nn.combinators import Sequential
        from rockpool.nn.modules import LIFNeuronTorch, LIFTorch, LinearTorch
        from rockpool.nn.modules.torch import lif_torch
    return LinearTorch, LIFTorch, LIFNeuronTorch, Sequential, lif_torch


def default_net(seed: int = 0) -> torch.nn.Module:
    """12 -> 16 -> 16 -> 5 with rockpool's own initialisation (from torch's generator, seeded here):
    the 16 x 16 layer is square, so a weight gradient compared untransposed would not pass."""
    LinearTorch, LIFTorch, LIFNeuronTorch, Sequential, _ = rockpool()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return Sequential(LinearTorch((12, 16)), LIFTorch(16), LinearTorch((16, 16), has_bias=True), LIFTorch(16, tau_syn=0.005),
                          LinearTorch((16, 5)), LIFNeuronTorch(5, tau_mem=0.01))


def test_a_default_lif_torch_is_read_as_rockpool_computes_it():
    plugin = plugin_or_skip("rockpool")
    _, LIFTorch, LIFNeuronTorch, _, _ = rockpool()
    n = plugin.describe_neuron(LIFTorch(3))
    assert n.model is Model.CUBA_LIF and n.syn_input_scale is InputScale.BETA
    # tau_mem = tau_syn = 20 ms at dt = 1 ms: exp(-0.05), as rockpool rounds it to float32
    assert n.decay.beta == n.syn_decay.beta and abs(n.decay.beta - math.exp(-0.05)) < 1e-7
    assert n.decay.beta == float(torch.tensor(math.exp(-0.05), dtype=torch.float32))
    assert (n.spike_fn, n.max_spikes, n.compare) == (SpikeFn.MAX, 2**16, Compare.GE)
    assert n.surrogate.surrogate.name == "step" and dict(n.surrogate.values) == {"window": 0.5, "at_edge": 1.0, "scale": 1.0}

    lif = plugin.describe_neuron(LIFNeuronTorch(2, tau_mem=0.01, threshold=2.0, max_spikes_per_dt=1))
    assert lif.model is Model.LIF and lif.spike_fn is SpikeFn.SINGLE and lif.threshold == 2.0
    assert abs(lif.decay.beta - math.exp(-0.1)) < 1e-7
    assert lif.surrogate.values["scale"] == 0.5, "StepPWL divides its gradient by the threshold"
    assert plugin.describe_neuron(LIFNeuronTorch(2, tau_mem=math.inf)).model is Model.IF


@pytest.mark.parametrize("target", TARGETS)
def test_a_default_rockpool_network_converts_exactly(target):
    if target != "nir":
        plugin_or_skip(target)
    _, report = conv.convert(default_net(), "rockpool", target, steps=50)
    assert report.exact, report.table()
    assert report.forward["spikes_source"] > 100 and report.forward["max_spikes_per_step"] > 1, report.forward
    assert {"0_LinearTorch.weight", "2_LinearTorch.weight", "2_LinearTorch.bias"} <= set(report.gradient["weight_rel_err"])


def test_rockpool_runs_its_network_as_the_plugin_reads_it():
    # the plugin runs each module through rockpool's own forward; the combinator's own evolve gives the same spikes
    plugin = plugin_or_skip("rockpool")
    net = default_net(3)
    x = (torch.rand(40, 2, 12, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    y, membranes = plugin.run_model(net, x)
    net.reset_state()
    own, _, record = net(x.transpose(0, 1), record=True)
    assert torch.equal(y, own.transpose(0, 1)) and y.sum() > 50
    assert sorted(membranes) == ["1_LIFTorch", "3_LIFTorch", "5_LIFNeuronTorch"]
    assert torch.equal(membranes["3_LIFTorch"], record["3_LIFTorch"]["vmem"].transpose(0, 1))


def test_what_rockpool_computes_and_the_spec_does_not_is_refused_by_name():
    LinearTorch, LIFTorch, LIFNeuronTorch, Sequential, _ = rockpool()

    class Sign(torch.autograd.Function):  # a spike function of the user's own: nothing declares its gradient
        @staticmethod
        def forward(ctx, v, threshold, window, cap):  # noqa: ANN001, ANN205
            return (v >= threshold).float()

        @staticmethod
        def backward(ctx, grad):  # noqa: ANN001, ANN205
            return grad, None, None, None

    cases = {
        "spike_generation_fn='Sign'": LIFTorch(4, spike_generation_fn=Sign),
        "bias without leak": LIFNeuronTorch(4, tau_mem=math.inf, bias=0.1),
        "per-neuron threshold with StepPWL": LIFTorch(4, threshold=torch.tensor([1.0, 2.0, 1.0, 1.0])),
    }
    for name, neuron in cases.items():
        with pytest.raises(Unsupported, match=f"{name}.* in layer 1_{type(neuron).__name__} \\({type(neuron).__name__}\\)"):
            conv.convert(Sequential(LinearTorch((3, 4)), neuron), "rockpool", "nir", steps=5)


def test_snn_convert_and_compare_read_a_rockpool_model_file_without_importing_samna(tmp_path):
    # exit 0 with --verify: exact. examples/rockpool_mlp imports rockpool itself: snn-convert imports it inside the plugin's
    # importing() context, so the samna stub (which runs pip against a vendor index) never loads
    plugin_or_skip("rockpool")
    out = tmp_path / "out"
    code = ("import sys; from snn_interop import cli\n"
            f"a = cli.convert_main(['--from', 'rockpool', '--to', 'sinabs', 'examples.rockpool_mlp.model:build', '-o', {str(out)!r}, "
            "'--verify', '--quiet'])\n"
            f"b = cli.main(['compare', 'examples.rockpool_mlp.model:build', {str(out / 'model.nir')!r}, '--from', 'rockpool'])\n"
            "print('RESULT', int(a), int(b), 'samna' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.stdout.splitlines()[-1] == "RESULT 0 0 False", done.stdout + done.stderr
    assert "pip" not in done.stderr and "gitlab" not in done.stderr, done.stderr
    assert "0_LinearTorch" in done.stdout and "Verdict: MATCH" in done.stdout


@pytest.mark.parametrize("target", ["nir", "snntorch", "sinabs", "rockpool"])
def test_a_recurrent_lif_torch_converts_as_a_nir_cycle(target):
    """LIFTorch(has_rec=True) adds F.linear(spikes, w_rec.T) of the previous step to its current:
    written as the cycle n -> n_rec -> n. With rockpool's StepPWL the recurrent layer fires up to
    hundreds of spikes per step; its float32 membranes after the reset then differ by more than
    1e-4 and are judged relative to the membrane before the reset (|v| + s theta)."""
    if target != "nir":
        plugin_or_skip(target)
    LinearTorch, LIFTorch, _, Sequential, _ = rockpool()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = Sequential(LinearTorch((12, 16)), LIFTorch(16, has_rec=True), LinearTorch((16, 5)), LIFTorch(5))
    with torch.no_grad():
        net[1].w_rec.mul_(0.1)  # rockpool's own w_rec with multi-spike feedback runs away to the 2^16 cap
    graph, report = conv.convert(net, "rockpool", "nir", steps=50) if target == "nir" else (None, None)
    if graph is not None:
        assert ("1_LIFTorch", "1_LIFTorch_rec") in graph.edges and ("1_LIFTorch_rec", "1_LIFTorch") in graph.edges
    else:
        _, report = conv.convert(net, "rockpool", target, steps=50)
    assert report.exact, report.table()
    assert report.forward["max_spikes_per_step"] > 100 and report.forward["max_membrane_abs_err"] > 1e-4, report.forward


@pytest.mark.parametrize("target", ["nir", "snntorch", "sinabs", "rockpool"])
def test_trained_per_neuron_time_constants_convert_exactly(target):
    """rockpool trains tau_mem and tau_syn per neuron by default: read as per-neuron decays."""
    if target != "nir":
        plugin_or_skip(target)
    LinearTorch, LIFTorch, LIFNeuronTorch, Sequential, _ = rockpool()
    g = torch.Generator().manual_seed(1)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = Sequential(LinearTorch((12, 16)),
                         LIFTorch(16, tau_mem=0.01 + 0.03 * torch.rand(16, generator=g), tau_syn=0.005 + 0.02 * torch.rand(16, 1, generator=g)),
                         LinearTorch((16, 5)), LIFNeuronTorch(5, tau_mem=0.01 + 0.03 * torch.rand(5, generator=g)))
    neuron = plugin_or_skip("rockpool").describe_neuron(net[1])
    assert set(neuron.per_neuron) == {"decay.beta", "syn_decay.beta"}, neuron.per_neuron
    _, report = conv.convert(net, "rockpool", target, steps=50)
    assert report.exact, report.table()
    assert report.forward["spikes_source"] > 50, report.forward


def test_multi_spike_neurons_become_rockpool_modules_with_their_counts():
    """A sinabs MultiSpike / MaxSpike(3) network into rockpool: LIFNeuronTorch modules with the
    canonical spike count injected (several spikes per step, the cap kept), exact."""
    import sinabs.activation as sa
    import sinabs.layers as sl

    plugin_or_skip("sinabs")
    plugin_or_skip("rockpool")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(12, 8), sl.IAF(spike_fn=sa.MultiSpike), torch.nn.Linear(8, 4), sl.IAF(spike_fn=sa.MaxSpike(3)))
    with torch.no_grad():
        net[0].weight.mul_(20.0)
        net[2].weight.mul_(10.0)
    converted, report = conv.convert(net, "sinabs", "rockpool", steps=40)
    assert report.exact, report.table()
    assert all(layer["native"] for layer in report.layers), report.layers
    assert report.forward["max_spikes_per_step"] == 3, "the output layer fires up to its cap"


@pytest.mark.parametrize("target", ["nir", "snntorch", "sinabs", "rockpool"])
def test_an_exp_syn_readout_is_a_leaky_integrator(target):
    """ExpSynTorch (i = beta (i + x), its output the current; tau 10 ms by default) is the
    canonical leaky integrator whose input gain is its decay: a real-valued readout, exact."""
    if target != "nir":
        plugin_or_skip(target)
    LinearTorch, LIFTorch, _, Sequential, _ = rockpool()
    plugin = plugin_or_skip("rockpool")
    with plugin._samna_blocked():
        from rockpool.nn.modules import ExpSynTorch
    readout = ExpSynTorch(5)
    neuron = plugin.describe_neuron(readout)
    assert neuron.model is Model.LI and neuron.input_scale is InputScale.BETA and abs(neuron.decay.beta - math.exp(-0.1)) < 1e-7
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = Sequential(LinearTorch((12, 16)), LIFTorch(16), LinearTorch((16, 5)), readout)
    _, report = conv.convert(net, "rockpool", target, steps=50)
    assert report.exact and report.forward["output_kind"] == "values", report.table()


def synnet():
    """rockpool's SynNet, its network for Xylo: LinearTorch and LIFTorch layers whose neurons use
    PeriodicExponential, hidden ones capped at 31 spikes per step and output ones at 1, two
    synaptic time constants per layer (per neuron); weights 3x rockpool's initialisation so that
    the verification input makes the output fire."""
    plugin = plugin_or_skip("rockpool")
    with plugin._samna_blocked():
        from rockpool.nn.networks import SynNet
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = SynNet(n_channels=12, n_classes=3, size_hidden_layers=[16, 16], time_constants_per_layer=[2, 2], output="spikes")
    with torch.no_grad():
        for name, module in net.seq.named_children():
            if "linear" in name:
                module.weight.mul_(3.0)
    return net


def test_synnet_neurons_are_read_with_rockpool_s_periodic_exponential():
    plugin = plugin_or_skip("rockpool")
    net = synnet()
    hidden, out = plugin.describe_neuron(net.seq[1]), plugin.describe_neuron(net.seq[5])
    assert hidden.surrogate.surrogate.name == "multi_peak_exponential"
    assert dict(hidden.surrogate.values) == {"width": 0.5, "period": 1.0, "peaks": 31.0, "scale": 1.0}
    assert (hidden.spike_fn, hidden.max_spikes, out.spike_fn) == (SpikeFn.MAX, 31, SpikeFn.SINGLE)
    assert hidden.per_neuron == ["syn_decay.beta"], "two synaptic time constants across the layer's neurons"


@pytest.mark.parametrize("target", ["nir", "snntorch", "sinabs", "rockpool"])
def test_synnet_converts_exactly(target):
    if target != "nir":
        plugin_or_skip(target)
    _, report = conv.convert(synnet(), "rockpool", target, steps=50)
    assert report.exact, report.table()
    assert report.forward["spikes_source"] > 30, report.forward


def test_synnet_goes_to_xylo_with_nothing_approximated(tmp_path):
    """SynNet is built for Xylo (bit-shift time constants, caps 31 and 1): its two hidden layers
    share Xylo's hidden population, the second fed through the recurrent weights one step later."""
    from snn_interop import hardware
    from snn_interop_plugins import xylo

    if xylo.available() is not None:
        pytest.skip(f"xylo toolchain not installed: {xylo.available()}")
    graph, _, _ = conv.convert_full(synnet(), "rockpool", "nir", verify_result=False)
    report = hardware.handoff(graph, "xylo", tmp_path / "out", steps=50, seed=0, source="rockpool")
    assert report.figures["approximated"] == [] and report.within_bound, report.table()
    assert report.figures["decay_abs_err_mem"] == 0 and report.figures["decay_abs_err_syn"] == 0
    assert report.forward["spikes_float"] > 20, report.forward


@pytest.mark.parametrize("target", ["nir", "snntorch", "sinabs", "rockpool"])
def test_a_neuron_bias_is_a_leak_potential(target):
    """rockpool adds its (trainable) bias b to the membrane every step: v = beta v + i + b, the
    canonical leak potential v_leak = b / (1 - beta), per neuron; exact within float32 rounding."""
    if target != "nir":
        plugin_or_skip(target)
    LinearTorch, LIFTorch, LIFNeuronTorch, Sequential, _ = rockpool()
    bias = 0.05 * torch.randn(16, generator=torch.Generator().manual_seed(2))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = Sequential(LinearTorch((12, 16)), LIFTorch(16, bias=bias), LinearTorch((16, 5)), LIFNeuronTorch(5, tau_mem=0.01, bias=0.1))
    neuron = plugin_or_skip("rockpool").describe_neuron(net[1])
    beta = math.exp(-0.05)
    assert "v_leak" in neuron.per_neuron and abs(neuron.v_leak[3] - float(bias[3]) / (1 - beta)) < 1e-5 * abs(neuron.v_leak[3])
    _, report = conv.convert(net, "rockpool", target, steps=50)
    assert report.exact, report.table()
    assert report.forward["spikes_source"] > 100, report.forward


def test_rockpool_s_integrate_and_fire_has_an_infinite_time_constant():
    """rockpool writes an IF as LIFNeuronTorch(tau_mem=inf): not a bad weight (a NaN still is)."""
    from snn_interop.errors import BadWeights

    LinearTorch, _, LIFNeuronTorch, Sequential, _ = rockpool()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = Sequential(LinearTorch((12, 16)), LIFNeuronTorch(16, tau_mem=math.inf), LinearTorch((16, 5)), LIFNeuronTorch(5, tau_mem=math.inf))
    _, report = conv.convert(net, "rockpool", "nir", steps=50)
    assert report.exact and report.forward["spikes_source"] > 10, report.table()
    with torch.no_grad():
        net[1].tau_mem.fill_(math.nan)
    with pytest.raises(BadWeights, match="tau_mem"):
        conv.convert(net, "rockpool", "nir", steps=5)
