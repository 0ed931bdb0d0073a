"""The fused kernel against the float64 oracle: every generated canonical case, in float64 and
float32, identical spikes, membranes and input gradients within named tolerances; multi-spike,
T = 1, neuron counts that are not a multiple of the block, the conventions the generated cases
leave at their defaults, every surrogate, and what is saved for the backward.

On this CPU machine the kernels run in Triton's interpreter (``snn_interop.kernel.runtime``
sets ``TRITON_INTERPRET=1`` before Triton is imported): the same source a GPU compiles."""
from __future__ import annotations

import pytest
import torch

from snn_interop.kernel import SAVE_MODES, FusedNeuron, NotFusable, fused_run, moved_bytes_per_step, saved_bytes_per_step
from snn_interop.spec import oracle
from snn_interop.spec.mathns import numpy_math
from snn_interop.spec.neurons import Compare, Decay, InputScale, Model, Neuron, ResetMode, ResetTiming, SpikeFn, SynapseOrder
from snn_interop.spec.surrogates import SURROGATES
from snn_interop_conformance.cases import case_id, neuron_cases
from snn_interop_conformance.tolerances import FP32_VS_FP64, FP64_DERIVATIVE, FP64_REORDERED, KERNEL_FP16_SAVED, KERNEL_FP32, Tolerance

CASES = [n for n in neuron_cases() if n.model is not Model.ADAPTIVE_LIF]  # no adaptation in the kernel: refused (test_fused_refuses_what_it_does_not_implement)
# On a machine with a GPU the same tests run the compiled kernels on it; on CPU, the interpreter.
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
STEPS = 12  # the interpreter costs ~5 ms per step and case: short runs keep 2 x 380 cases near a minute and a half


def drive(neuron: Neuron, steps: int = STEPS, shape: tuple[int, ...] = (2, 3), seed: int = 3, level: float = 1.6) -> torch.Tensor:
    """Seeded float64 input that makes the neuron fire now and then (as tests/plugins does)."""
    gain = neuron.input_gain * (neuron.syn_input_gain / (1 - neuron.syn_decay.beta) if neuron.model is Model.CUBA_LIF else 1.0)
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(steps, *shape, generator=gen, dtype=torch.float64) * (level * neuron.threshold / gain)


def run_both(neuron: Neuron, x: torch.Tensor, dtype: torch.dtype = torch.float64, save: str = "exact", block: int | None = None,
             outputs: str = "both"):
    """(kernel spikes, membrane, input gradient), (oracle trace, input gradient) under one random loss."""
    w = torch.randn(2, *x.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    ws, wv = (w[0], w[1]) if outputs == "both" else (w[0], 0 * w[1]) if outputs == "spikes" else (0 * w[0], w[1])
    xk = x.to(DEVICE, dtype).clone().requires_grad_(True)  # clone: x.to(x.dtype) is x, and both runs would share one .grad
    spikes, v = fused_run(neuron, xk, save=save, block=block)
    ws_k, wv_k = ws.to(DEVICE, dtype), wv.to(DEVICE, dtype)
    loss = {"both": (spikes * ws_k).sum() + (v * wv_k).sum(), "spikes": (spikes * ws_k).sum(), "membrane": (v * wv_k).sum()}[outputs]
    loss.backward()
    xo = x.to(dtype).to(torch.float64).clone().requires_grad_(True)
    trace = oracle.simulate(neuron, xo)
    ((trace.spikes * ws).sum() + (trace.v * wv).sum()).backward()
    return (spikes.detach().cpu(), v.detach().cpu(), xk.grad.cpu()), (trace, xo.grad)


def check(neuron: Neuron, x: torch.Tensor, dtype: torch.dtype, membrane: Tolerance, gradient: Tolerance, **kwargs) -> None:
    (spikes, v, grad), (trace, grad_oracle) = run_both(neuron, x, dtype, **kwargs)
    assert spikes.dtype == v.dtype == grad.dtype == dtype
    if neuron.spikes:
        assert trace.spikes.mean() > 0.02, "the drive must make the neuron spike"
    assert torch.equal(spikes.to(torch.float64), trace.spikes), "spikes differ"
    torch.testing.assert_close(v.to(torch.float64), trace.v, atol=membrane.atol, rtol=membrane.rtol)
    torch.testing.assert_close(grad.to(torch.float64), grad_oracle, atol=gradient.atol, rtol=gradient.rtol)
    assert grad_oracle.abs().max() > 0, "the loss must reach the input"
    assert grad is not grad_oracle


@pytest.mark.parametrize("neuron", CASES, ids=case_id)
def test_fused_float64_matches_oracle(neuron):
    check(neuron, drive(neuron), torch.float64, FP64_REORDERED, FP64_REORDERED)


@pytest.mark.parametrize("neuron", CASES, ids=case_id)
def test_fused_float32_matches_oracle(neuron):
    # float32 state against the float64 oracle on float32-representable input: the same spikes;
    # membranes and gradients carry float32 rounding
    check(neuron, drive(neuron), torch.float32, KERNEL_FP32, KERNEL_FP32)


@pytest.mark.parametrize("neuron", CASES[::8], ids=case_id)
def test_fused_float16_saved_membrane_is_within_its_tolerance(neuron):
    check(neuron, drive(neuron), torch.float32, KERNEL_FP32, KERNEL_FP16_SAVED, save="float16")


@pytest.mark.parametrize("steps", [1, 2, 3, 7])
@pytest.mark.parametrize("reset", [(ResetMode.TO_VALUE, ResetTiming.SAME_STEP), (ResetMode.SUBTRACT, ResetTiming.NEXT_STEP)],
                         ids=["to_value-same", "subtract-next"])
def test_fused_float16_saved_pairs_of_steps_at_any_step_count(steps, reset):
    # float16 saves two steps per 32-bit word: an odd count leaves the last word half used, and the
    # backward must start in its low half; 1000 neurons over 8 programs of 128 (the last one partial)
    neuron = Neuron.lif(SURROGATES["sigmoid"].configure(), Decay(0.5), threshold=1.0, reset=reset[0], reset_timing=reset[1])
    x = drive(neuron, steps=steps, shape=(1000,), seed=steps, level=3.0)
    (spikes, _, grad), (trace, grad_oracle) = run_both(neuron, x, torch.float32, save="float16", block=128)
    assert torch.equal(spikes.to(torch.float64), trace.spikes) and trace.spikes.sum() > 0
    torch.testing.assert_close(grad.to(torch.float64), grad_oracle, atol=KERNEL_FP16_SAVED.atol, rtol=KERNEL_FP16_SAVED.rtol)
    (_, _, grad_exact), _ = run_both(neuron, x, torch.float32, save="exact", block=128)
    assert not torch.equal(grad, grad_exact), "float16 rounding must show: the saved words were read, not the exact membrane"


#: (neurons per program, warps, stages): 1, 2, 4 and 8 neurons per thread, as the benchmark sweeps them
LAUNCH_SHAPES = [(128, 2, 6), (128, 2, 5), (256, 4, 6), (512, 8, 8), (64, 1, 3), (128, 1, 6), (256, 2, 7), (512, 4, 8), (256, 1, 5),
                 ((256, 64), (2, 1), (6, 5))]  # the last: forward and backward each with its own (forward, backward)


@pytest.mark.parametrize("neurons", [1000, 1008], ids=["N=1000", "N=16x63"])
@pytest.mark.parametrize("save", SAVE_MODES)
@pytest.mark.parametrize("reset", [(ResetMode.TO_VALUE, ResetTiming.SAME_STEP), (ResetMode.SUBTRACT, ResetTiming.NEXT_STEP)],
                         ids=["to_value-same", "subtract-next"])
def test_fused_launch_shapes_compute_the_same_bits(save, reset, neurons):
    # each neuron's arithmetic is the same at any launch shape: spikes, membrane and input gradient
    # equal the default launch's bit for bit. The interpreter ignores warps and stages (it checks the
    # block); compiled, this checks the shapes the benchmark sweeps, the H100's fastest among them,
    # with 4-byte accesses (N = 1000) and with 16-byte ones where a thread owns 4 neurons (N = 1008)
    neuron = Neuron.lif(SURROGATES["sigmoid"].configure(), Decay(0.5), threshold=1.0, reset=reset[0], reset_timing=reset[1])
    x = drive(neuron, steps=9, shape=(neurons,), seed=11, level=3.0).to(DEVICE, torch.float32)
    g = torch.randn(2, *x.shape, generator=torch.Generator().manual_seed(5)).to(DEVICE)

    def run(**launch):
        xk = x.clone().requires_grad_(True)
        spikes, v = fused_run(neuron, xk, save=save, **launch)
        ((spikes * g[0]).sum() + (v * g[1]).sum()).backward()
        return spikes.detach(), v.detach(), xk.grad

    default = run()
    assert default[0].sum() > 0
    for block, warps, stages in LAUNCH_SHAPES:
        for name, a, b in zip(("spikes", "membrane", "input gradient"), default, run(block=block, warps=warps, stages=stages)):
            assert torch.equal(a, b), f"{name} differs at {block} neurons per program, {warps} warps, {stages} stages"


def test_fused_launch_settings_are_one_int_or_a_forward_backward_pair():
    neuron = Neuron.lif(SURROGATES["sigmoid"].configure(), Decay(0.5), threshold=1.0)
    for bad in ((64,), (64, 128, 256), "128", 128.0, (64, None)):
        with pytest.raises(TypeError, match="block must be an int or a \\(forward, backward\\) pair of ints"):
            FusedNeuron(neuron, block=bad)
    with pytest.raises(TypeError, match="stages must be"):
        fused_run(neuron, torch.zeros(2, 3), stages=(4, 5.0))


def _lif(surrogate, **conventions) -> Neuron:
    return Neuron.lif(surrogate, Decay(0.875), threshold=1.25, **conventions)


@pytest.mark.parametrize("name", sorted(SURROGATES))
@pytest.mark.parametrize("reset", [(ResetMode.SUBTRACT, ResetTiming.SAME_STEP), (ResetMode.TO_VALUE, ResetTiming.NEXT_STEP)],
                         ids=["subtract-same", "to_value-next"])
def test_fused_every_surrogate_matches_oracle(name, reset):
    neuron = _lif(SURROGATES[name].configure(scale=1.5), reset=reset[0], reset_timing=reset[1])
    check(neuron, drive(neuron), torch.float64, FP64_REORDERED, FP64_REORDERED)


@pytest.mark.parametrize("spike_fn", [SpikeFn.MULTI, SpikeFn.MAX])
@pytest.mark.parametrize("reset", list(ResetMode))
@pytest.mark.parametrize("timing", list(ResetTiming))
def test_fused_multi_spike_matches_oracle(spike_fn, reset, timing):
    neuron = _lif(SURROGATES["atan"].configure(), spike_fn=spike_fn, max_spikes=2, reset=reset, reset_timing=timing, v_min=-0.5)
    x = drive(neuron, level=5.0)
    (spikes, _, _), (trace, _) = run_both(neuron, x)
    assert trace.spikes.max() >= 2, "the drive must give several spikes in a step"
    check(neuron, x, torch.float64, FP64_REORDERED, FP64_REORDERED)


def test_fused_single_step():
    neuron = CASES[40]
    check(neuron, drive(neuron, steps=1, seed=5, level=3.0), torch.float64, FP64_REORDERED, FP64_REORDERED)


@pytest.mark.parametrize("neurons, block", [(1000, 128), (7, 16), (1, 16)])
def test_fused_neuron_count_not_a_multiple_of_the_block(neurons, block):
    neuron = _lif(SURROGATES["triangle"].configure(alpha=0.5), reset=ResetMode.TO_VALUE)
    check(neuron, drive(neuron, steps=6, shape=(neurons,)), torch.float64, FP64_REORDERED, FP64_REORDERED, block=block)


CONVENTIONS = {
    "v_leak-v_reset-v_init-v_min": _lif(SURROGATES["gaussian"].configure(), v_leak=0.25, reset=ResetMode.TO_VALUE, v_reset=-0.125,
                                        v_init=0.5, v_min=-0.25),
    "v_min-subtract-same": _lif(SURROGATES["s2nn"].configure(), v_min=0.0),
    "v_min-to_value-same-detach": _lif(SURROGATES["s2nn"].configure(), v_min=0.0, reset=ResetMode.TO_VALUE, detach_reset=True),
    "cuba-membrane_first": Neuron.cuba_lif(SURROGATES["sigmoid"].configure(), Decay(0.875), Decay(0.625), threshold=1.25,
                                           synapse_order=SynapseOrder.MEMBRANE_FIRST, reset_timing=ResetTiming.NEXT_STEP),
    "cuba-membrane_first-to_value": Neuron.cuba_lif(SURROGATES["exponential"].configure(), Decay(0.875), Decay(0.625), threshold=1.25,
                                                    synapse_order=SynapseOrder.MEMBRANE_FIRST, reset=ResetMode.TO_VALUE),
    "lif-tau-dt_over_tau-r": Neuron.lif(SURROGATES["atan"].configure(), Decay.from_tau(5e-3, 1e-3), threshold=0.75,
                                        input_scale=InputScale.DT_OVER_TAU, r=2.0),
    "li-v_leak": Neuron.li(Decay(0.75), v_leak=0.5, v_init=1.0),
}


@pytest.mark.parametrize("name", list(CONVENTIONS))
def test_fused_conventions_beyond_the_generated_cases(name):
    neuron = CONVENTIONS[name]
    check(neuron, drive(neuron), torch.float64, FP64_REORDERED, FP64_REORDERED)


@pytest.mark.parametrize("outputs", ["spikes", "membrane"])
def test_fused_gradient_of_one_output_only(outputs):
    neuron = CASES[100]
    check(neuron, drive(neuron), torch.float64, FP64_REORDERED, FP64_REORDERED, outputs=outputs)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_fused_half_inputs_keep_float32_state(dtype):
    neuron = CASES[60]
    x = drive(neuron).to(DEVICE, dtype)
    xk = x.clone().requires_grad_(True)
    spikes, v = fused_run(neuron, xk)
    (spikes.sum() + v.sum()).backward()
    assert spikes.dtype == v.dtype == xk.grad.dtype == dtype
    ref = fused_run(neuron, x.detach().to(torch.float32))
    assert torch.equal(spikes.float(), ref[0])  # the state is float32: the same spikes as float32 input
    torch.testing.assert_close(v, ref[1].to(dtype))


def test_fused_neuron_module_is_a_drop_in_layer():
    neuron = CASES[200]
    layer = torch.nn.Sequential(torch.nn.Linear(3, 5, dtype=torch.float64, device=DEVICE))
    x = drive(neuron, shape=(2, 3)).to(DEVICE)
    spikes, v = FusedNeuron(neuron)(layer(x))
    spikes.sum().backward()
    assert spikes.shape == v.shape == (STEPS, 2, 5)
    assert layer[0].weight.grad is not None and layer[0].weight.grad.abs().sum() > 0
    assert "save='exact'" in repr(FusedNeuron(neuron))


@pytest.mark.parametrize("save, dtype, expected", [("exact", torch.float32, 4), ("exact", torch.float64, 8), ("float16", torch.float32, 2)])
@pytest.mark.parametrize("timing, keeps_spikes", [(ResetTiming.SAME_STEP, False), (ResetTiming.NEXT_STEP, True)])
def test_fused_saves_the_stated_bytes_per_neuron_step(save, dtype, expected, timing, keeps_spikes):
    # a same-step reset to a value fires again on the saved membrane; a next-step one needs s[t-1]: a reference to the output
    neuron = _lif(SURROGATES["atan"].configure(), reset=ResetMode.TO_VALUE, reset_timing=timing)
    x = drive(neuron, shape=(5, 7)).to(DEVICE, dtype).requires_grad_(True)
    saved: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        spikes, v = fused_run(neuron, x, save=save)
    new = [t for t in saved if t.untyped_storage().data_ptr() != spikes.untyped_storage().data_ptr()]
    assert len(new) == 1 and len(saved) == 1 + keeps_spikes, "one saved membrane (plus the spike output by reference)"
    assert new[0].element_size() * new[0].numel() / x.numel() == expected == saved_bytes_per_step(neuron, dtype, save)
    assert new[0].dtype == (torch.int32 if save == "float16" else dtype), "float16: two steps per 32-bit word"


@pytest.mark.parametrize("neuron", CASES[::8], ids=case_id)
@pytest.mark.parametrize("save", SAVE_MODES)
def test_fused_spikes_only_layer_matches_oracle(neuron, save):
    # membrane=False: the spikes alone, the membrane never written; the input gradient of a loss on the spikes
    x = drive(neuron).to(DEVICE, torch.float32)
    xk = x.clone().requires_grad_(True)
    layer = FusedNeuron(neuron, save=save, membrane=False)
    spikes = layer(xk)
    assert isinstance(spikes, torch.Tensor) and spikes.shape == x.shape and "membrane=False" in repr(layer)
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    (spikes * w.to(DEVICE, torch.float32)).sum().backward()
    xo = x.to(torch.float64).cpu().requires_grad_(True)
    trace = oracle.simulate(neuron, xo)
    (trace.spikes * w).sum().backward()
    assert torch.equal(spikes.detach().cpu().to(torch.float64), trace.spikes)
    tol = KERNEL_FP32 if save == "exact" else KERNEL_FP16_SAVED
    torch.testing.assert_close(xk.grad.cpu().to(torch.float64), xo.grad, atol=tol.atol, rtol=tol.rtol)
    both = fused_run(neuron, x, save=save)
    assert torch.equal(spikes.detach(), both[0])


def test_moved_bytes_per_step_counts_what_each_launch_reads_and_writes():
    lif = _lif(SURROGATES["atan"].configure())  # subtract, same step: x s v m forward; gs m dx backward
    assert moved_bytes_per_step(lif) == (16, 12)
    assert moved_bytes_per_step(lif, membrane=False) == (12, 12)
    assert moved_bytes_per_step(lif, save="float16", membrane=False) == (10, 10)
    assert moved_bytes_per_step(lif, torch.float64) == (32, 24)
    next_to_value = lif.with_(reset=ResetMode.TO_VALUE, reset_timing=ResetTiming.NEXT_STEP)  # reads its spikes back
    assert moved_bytes_per_step(next_to_value, membrane=False) == (12, 16)
    assert moved_bytes_per_step(Neuron.li(Decay(0.75))) == (12, 8)  # nothing saved


@pytest.mark.parametrize("compare, offset", [(Compare.GT, 2.0 ** -33), (Compare.GE, -(2.0 ** -33))])
def test_fused_float16_saved_membrane_keeps_the_spike_decision(compare, offset):
    # u - theta = +-2^-33 rounds to (-)0 in float16: without care the backward would fire where the forward did not
    theta = 2.0 ** -10
    neuron = Neuron.lif(SURROGATES["atan"].configure(), Decay(0.5), threshold=theta, reset=ResetMode.TO_VALUE, compare=compare)
    x = torch.tensor([[theta + offset], [0.0]], dtype=torch.float32)
    assert float(x[0, 0]) - theta == offset, "the input must carry the offset exactly in float32"
    (spikes, v, grad), (trace, grad_oracle) = run_both(neuron, x.to(torch.float64), torch.float32, save="float16")
    assert torch.equal(spikes.to(torch.float64), trace.spikes) and trace.spikes[0, 0] == (compare is Compare.GT)
    torch.testing.assert_close(grad.to(torch.float64), grad_oracle, atol=KERNEL_FP16_SAVED.atol, rtol=KERNEL_FP16_SAVED.rtol)


def test_fused_leaky_integrator_saves_nothing():
    neuron = Neuron.li(Decay(0.75))
    saved: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        fused_run(neuron, drive(neuron).to(DEVICE).requires_grad_(True))
    assert saved == [] and saved_bytes_per_step(neuron) == 0


def test_fused_refuses_what_it_does_not_implement():
    sg = SURROGATES["atan"].configure()
    with pytest.raises(NotFusable, match="adaptive"):
        FusedNeuron(Neuron.adaptive_lif(sg, Decay(0.9), Decay(0.95), 1.8))
    with pytest.raises(NotFusable, match="threshold.*per-neuron"):
        FusedNeuron(_lif(sg).with_(threshold=(1.0, 1.5)))
    with pytest.raises(ValueError, match="save"):
        FusedNeuron(_lif(sg), save="int8")


# -- the generated derivative --------------------------------------------------------------
def _apply_kernel():
    """A one-line kernel applying a generated derivative elementwise (built on first use)."""
    from snn_interop.kernel.runtime import for_tensor, triton

    tl = triton().language

    def apply(x_ptr, y_ptr, n, SG: tl.constexpr, BLOCK: tl.constexpr):  # noqa: N803
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        tl.store(y_ptr + offs, SG(tl.load(x_ptr + offs, mask=mask, other=0.0)), mask=mask)

    return for_tensor(triton().jit(apply), torch.empty(0, device=DEVICE))


GRID = torch.cat([torch.linspace(-4, 4, 1601, dtype=torch.float64), torch.tensor([0.0, 1e-3, -1e-3, 1e-9, -1.0, 1.0, 0.5, -0.5])])


@pytest.mark.parametrize("dtype, tol", [(torch.float64, FP64_DERIVATIVE), (torch.float32, FP32_VS_FP64)], ids=["float64", "float32"])
@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_generated_derivative_equals_the_spec_on_a_grid(name, dtype, tol):
    from snn_interop.kernel.codegen import derivative
    from snn_interop.kernel.runtime import callee

    config = SURROGATES[name].configure(scale=1.5)
    x = GRID.to(DEVICE, dtype)
    y = torch.empty_like(x)
    _apply_kernel()[(1,)](x, y, x.numel(), SG=callee(derivative(config), DEVICE), BLOCK=2048)
    x, y = x.cpu(), y.cpu()
    expected = torch.as_tensor(config.grad(numpy_math, x.to(torch.float64).numpy()), dtype=torch.float64)
    torch.testing.assert_close(y.to(torch.float64), expected.expand_as(x), atol=tol.atol, rtol=tol.rtol)


def test_generated_derivative_source_is_cached_and_traced_not_retyped():
    from snn_interop.kernel import codegen

    config = SURROGATES["multi_gaussian"].configure()
    source = codegen.triton_source(config)
    assert source.count("tl.exp(") == 3, "the three Gaussians of the declaration, each evaluated once"
    assert codegen.derivative(config) is codegen.derivative(SURROGATES["multi_gaussian"].configure())
    assert any(p.read_text() == source for p in codegen.cache_dir().glob("sg_*multi_gaussian*.py"))


def test_codegen_names_what_it_cannot_carry():
    from snn_interop.kernel import codegen
    from snn_interop.spec.schema import Kind, Param, Surrogate

    def declared(derivative):
        return Surrogate("made_up", 1, (Param("alpha", 2.0),), None, derivative, "", "", Kind.SMOOTH, "test").configure()

    with pytest.raises(NotImplementedError, match="atan"):
        codegen.trace(declared(lambda m, x, alpha: m.atan(alpha * x)))
    with pytest.raises(TypeError, match="m.where"):
        codegen.trace(declared(lambda m, x, alpha: alpha if x > 0 else 0 * x))
