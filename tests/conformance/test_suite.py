"""The conformance suite finds planted bugs and reports them with the right numbers.

Each planted bug is a real framework layer built from a wrongly translated neuron (what a
buggy plugin would do); the expected numbers come from two oracle runs compared directly,
never from the suite's own code.
"""
from __future__ import annotations

import math

import pytest
import torch

from snn_interop.spec import oracle
from snn_interop.spec.neurons import Compare, Model, ResetMode, ResetTiming
from snn_interop_conformance import deviations
from snn_interop_conformance.cases import Case, cases, drive, neuron_cases
from snn_interop_conformance.metrics import loss, loss_weights
from snn_interop_conformance.runner import Implementation, run_case
from tests.conftest import plugin_or_skip


def _case(model: Model, reset: ResetMode, timing: ResetTiming, compare: Compare, detach: bool = False, dtype: str = "float64") -> Case:
    for n in neuron_cases():
        if (n.model, n.reset, n.reset_timing, n.compare, n.detach_reset, n.surrogate.surrogate.name, n.input_scale.value) == \
                (model, reset, timing, compare, detach, "atan", "none"):
            return Case(n, dtype, "small", 48)
    raise LookupError("no such generated case")


def planted(framework: str, name: str, bug) -> Implementation:
    plugin = plugin_or_skip(framework)
    return Implementation(name, framework, "torch", "cpu", lambda n: plugin.build_neuron(bug(n)), plugin.run)


def oracle_pair(case: Case, bug) -> tuple[oracle.Trace, oracle.Trace, torch.Tensor, torch.Tensor]:
    x = case.inputs()
    w = loss_weights(x.shape, case.seed)
    grads, traces = [], []
    for n in (case.neuron, bug(case.neuron)):
        xx = x.to(torch.float64, copy=True).requires_grad_(True)
        t = oracle.simulate(n, xx)
        loss(t.spikes, t.v, w).backward()
        traces.append(t)
        grads.append(xx.grad)
    return traces[0], traces[1], grads[0], grads[1]


def test_reset_one_step_late_is_reported_at_the_step_after_the_first_spike():
    case = _case(Model.LIF, ResetMode.SUBTRACT, ResetTiming.SAME_STEP, Compare.GT, detach=True)
    late = lambda n: n.with_(reset_timing=ResetTiming.NEXT_STEP)  # noqa: E731
    (r,) = run_case(case, [planted("snntorch", "snntorch-late-reset", late)])
    good, bad, _, _ = oracle_pair(case, late)
    differ = good.spikes != bad.spikes
    first = int(differ.reshape(48, -1).any(1).nonzero()[0])
    assert r.status == "fail" and r.metrics["spike_mismatches"] == int(differ.sum()) > 0
    assert r.metrics["first_step"] == first
    assert first > int(good.spikes.reshape(48, -1).any(1).nonzero()[0])  # a reset matters only after a spike
    assert r.failures[0].startswith(f"spike_mismatches: {int(differ.sum())} / 288 differ")
    assert r.failures[0].endswith("a semantic difference, not rounding)") and abs(r.metrics["margin"]) > 1e-3


def test_wrong_surrogate_slope_changes_only_the_gradient_by_the_measured_amount():
    case = _case(Model.LIF, ResetMode.TO_VALUE, ResetTiming.SAME_STEP, Compare.GE)
    steep = lambda n: n.with_(surrogate=n.surrogate.surrogate.configure(alpha=2 * n.surrogate.values["alpha"]))  # noqa: E731
    (r,) = run_case(case, [planted("spikingjelly", "sj-steep-surrogate", steep)])
    _, _, g_good, g_bad = oracle_pair(case, steep)
    expected = float((g_bad - g_good).abs().max() / g_good.abs().max())
    assert r.status == "fail" and [f.split(":")[0] for f in r.failures] == ["grad_max_rel"]
    assert r.metrics["spike_mismatches"] == 0 and r.metrics["v_max_abs"] < 1e-12
    assert r.metrics["grad_max_rel"] == pytest.approx(expected, rel=1e-5) and expected > 0.05


def test_greater_instead_of_greater_equal_is_found_exactly_at_threshold():
    case = _case(Model.IF, ResetMode.TO_VALUE, ResetTiming.SAME_STEP, Compare.GE)
    strict = lambda n: n.with_(compare=Compare.GT)  # noqa: E731
    (r,) = run_case(case, [planted("snntorch", "snntorch-strict-compare", strict)])
    good, _, _, _ = oracle_pair(case, strict)
    at_threshold = (good.v_pre == good.theta).reshape(48, -1)
    first_hit = at_threshold.nonzero()[0]
    assert r.status == "fail"
    assert (r.metrics["first_step"], r.metrics["first_neuron"]) == (int(first_hit[0]), int(first_hit[1]))
    assert r.metrics["margin"] == 0.0 and "exactly at threshold" in r.failures[0]


def test_a_declared_deviation_is_reported_as_such(tmp_path):
    case = _case(Model.IF, ResetMode.TO_VALUE, ResetTiming.SAME_STEP, Compare.GE)
    strict = lambda n: n.with_(compare=Compare.GT)  # noqa: E731
    file = tmp_path / "dev.toml"
    file.write_text('[[deviation]]\nframework = "snntorch"\ncases = "if-*->=-*"\nmetrics = ["spike_mismatches", "v_max_abs", "grad_max_rel"]\n'
                    'reason = "planted: compares with >"\n')
    (r,) = run_case(case, [planted("snntorch", "snntorch-strict-compare", strict)], deviations.load(file))
    assert r.status == "deviation" and r.reason == "planted: compares with >" and r.failures


def test_a_deviation_entry_without_reason_is_refused(tmp_path):
    file = tmp_path / "dev.toml"
    file.write_text('[[deviation]]\nframework = "snntorch"\ncases = "*"\nmetrics = ["spike_mismatches"]\n')
    with pytest.raises(ValueError, match="lacks reason"):
        deviations.load(file)


def test_the_shipped_deviations_file_is_valid():
    for d in deviations.load():
        assert d.reason and d.metrics


def test_not_expressible_cases_carry_the_plugins_reason():
    case = _case(Model.IF, ResetMode.SUBTRACT, ResetTiming.SAME_STEP, Compare.GT)
    plugin = plugin_or_skip("norse")
    (r,) = run_case(case, [Implementation("norse", "norse", "torch", "cpu", plugin.build_neuron, plugin.run)])
    assert r.status == "not_expressible" and r.reason and r.metrics is None


def test_a_crashing_implementation_is_an_error_not_a_crash_of_the_suite():
    case = _case(Model.IF, ResetMode.SUBTRACT, ResetTiming.SAME_STEP, Compare.GT)

    def run(module, x):
        raise RuntimeError("boom")

    (r,) = run_case(case, [Implementation("broken", "broken", "torch", "cpu", lambda n: torch.nn.Identity(), run)])
    assert r.status == "error" and "boom" in r.reason


def test_the_inputs_reach_the_threshold_exactly_in_both_dtypes():
    """The edge phase lands membranes exactly on theta for IF and LIF (so > vs >= is tested)."""
    hits = {}
    for c in cases(quick=True):
        if c.neuron.spikes and c.neuron.model in (Model.IF, Model.LIF):
            t = oracle.simulate(c.neuron, c.inputs())
            hits[c.id] = int((t.v_pre == t.theta).sum())
    assert len(hits) > 200 and min(hits.values()) > 0


def test_drive_has_its_four_phases():
    n = next(iter(neuron_cases()))
    x = drive(n, 64, (2, 3), 0)
    assert x.shape == (64, 2, 3) and torch.equal(x, drive(n, 64, (2, 3), 0))
    assert (x[32:48] == 0).all() and (x[48:] == x[48, 0, 0]).all() and x[48, 0, 0] > 3 * x[16:32].max() / 1.6
    assert torch.equal(x.to(torch.float32).to(torch.float64), x)  # exact in float32 too


def test_case_generation_covers_the_spec():
    full = cases()
    assert {c.dtype for c in full} == {"float32", "float64"} and {c.steps for c in full} == {1, 16, 256}
    # 380 neurons of IF, LIF, current-based LIF and LI, 72 adaptive LIFs; x 2 dtypes x 2 shapes x 3 lengths
    assert {c.shape for c in full} == {"small", "medium"} and len(full) == (382 + 144) * 2 * 2 * 3
    assert {c.neuron.model for c in full} == set(Model)
    assert len({c.id for c in full}) == len(full)
    assert not math.isnan(sum(c.neuron.threshold for c in full))


def _expressible(framework: str, model: Model) -> Case:
    """The first generated float64 case of ``model`` that ``framework``'s plugin builds natively."""
    plugin = plugin_or_skip(framework)
    for n in neuron_cases():
        if n.model is model:
            try:
                plugin.build_neuron(n)
            except Exception:  # noqa: BLE001 - NotExpressible: try the next case
                continue
            return Case(n, "float64", "small", 48)
    raise LookupError(f"{framework} builds no generated {model.value} case")


def _oracle_param_grads(case: Case) -> dict[str, float]:
    """dL/dp straight from the oracle, for the parameters it differentiates."""
    x = case.inputs().to(torch.float64)
    params = {k: torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for k, v in
              {"threshold": case.neuron.threshold, "decay.beta": case.neuron.decay.beta, "syn_decay.beta": case.neuron.syn_decay.beta}.items()
              if k in oracle.differentiable(case.neuron)}
    t = oracle.simulate(case.neuron, x, params=params)
    loss(t.spikes, t.v, loss_weights(x.shape, case.seed)).backward()
    return {k: float(p.grad) for k, p in params.items()}


@pytest.mark.parametrize("framework, model", [("snntorch", Model.LIF), ("snntorch", Model.CUBA_LIF), ("norse", Model.LIF),
                                              ("norse", Model.CUBA_LIF), ("sinabs", Model.LIF), ("rockpool", Model.LIF),
                                              ("rockpool", Model.CUBA_LIF)])
def test_parameter_gradients_match_through_each_frameworks_parameterisation(framework, model):
    """snnTorch's beta/alpha and threshold are the canonical ones; norse computes with tau_inv = 1 - beta
    (slope -1); sinabs with alpha = beta; rockpool's LIFNeuronTorch with tau = -dt / ln(beta) (slope
    dt / (beta ln(beta)^2)). dL/dbeta (and dL/dalpha) equal the oracle's."""
    plugin = plugin_or_skip(framework)
    case = _expressible(framework, model)
    (r,) = run_case(case, [Implementation(framework, framework, "torch", "cpu", plugin.build_neuron, plugin.run, parameters=plugin.parameters)])
    expected = _oracle_param_grads(case)
    grads = r.metrics["param_grads"]
    assert "decay.beta" in grads and (model is not Model.CUBA_LIF or "syn_decay.beta" in grads)
    for name, (native, reference) in grads.items():
        assert reference == pytest.approx(expected[name], rel=1e-12)
        if not (framework == "sinabs" and name == "threshold"):  # declared deviation, tested below
            assert native == pytest.approx(reference, rel=1e-6) and abs(reference) > 1e-6, (name, native, reference)


def _oracle_param_scale(case: Case, name: str) -> float:
    """The oracle's sum over neurons of |dL/dp_n|, the parameter given one per neuron."""
    x = case.inputs().to(torch.float64)
    p = torch.full(x.shape[1:], float(case.neuron.decay.beta if name == "decay.beta" else case.neuron.threshold),
                   dtype=torch.float64, requires_grad=True)
    t = oracle.simulate(case.neuron, x, params={name: p})
    loss(t.spikes, t.v, loss_weights(x.shape, case.seed)).backward()
    return float(p.grad.abs().sum())


def test_a_parameter_map_with_the_wrong_sign_is_reported_on_that_parameter_alone():
    """A plugin that forgets norse's tau_inv = 1 - beta flips dL/dbeta: an error of 2 |dL/dbeta| on
    decay.beta only, judged against the sum of the per-neuron magnitudes."""
    norse = plugin_or_skip("norse")
    case = _expressible("norse", Model.LIF)
    wrong = lambda m: {k: (t, -f if k == "decay.beta" else f) for k, (t, f) in norse.parameters(m).items()}  # noqa: E731
    (r,) = run_case(case, [Implementation("norse-wrong-sign", "norse", "torch", "cpu", norse.build_neuron, norse.run, parameters=wrong)])
    assert r.status == "fail" and [f.split(":")[0] for f in r.failures] == ["param_grad.decay.beta"]
    native, reference = r.metrics["param_grads"]["decay.beta"]
    assert reference == pytest.approx(_oracle_param_grads(case)["decay.beta"], rel=1e-12)
    scale = _oracle_param_scale(case, "decay.beta")
    assert r.metrics["param_grad_scales"]["decay.beta"] == pytest.approx(scale, rel=1e-12) and scale >= abs(reference)
    assert native == pytest.approx(-reference, rel=1e-6)
    assert r.metrics["param_grad_max_rel"] == pytest.approx(2 * abs(reference) / scale, rel=1e-6) and 2 * abs(reference) / scale > 1e-2


def test_sinabs_threshold_gradient_is_a_declared_deviation():
    """sinabs's spike functions return no gradient for spike_threshold (sinabs/activation/spike_generation.py)."""
    sinabs = plugin_or_skip("sinabs")
    case = _expressible("sinabs", Model.LIF)
    impl = Implementation("sinabs", "sinabs", "torch", "cpu", sinabs.build_neuron, sinabs.run, parameters=sinabs.parameters)
    (bare,) = run_case(case, [impl])
    assert bare.status == "fail" and [f.split(":")[0] for f in bare.failures] == ["param_grad.threshold"]
    native, reference = bare.metrics["param_grads"]["threshold"]
    assert reference == pytest.approx(_oracle_param_grads(case)["threshold"], rel=1e-12) and abs(native - reference) > 0.01 * abs(reference)
    (declared,) = run_case(case, [impl], deviations.load())
    assert declared.status == "deviation" and "spike_generation.py" in declared.reason


def test_an_input_that_never_reaches_the_loss_has_a_zero_gradient_not_an_error():
    """One step of norse's LSNN, whose membrane sees the synaptic current a step late: nothing of
    the input reaches spikes or membrane, autograd leaves x.grad unset, and the run compares zero
    gradients (it raised AttributeError before; found by the full suite's T = 1 cases)."""
    plugin_or_skip("norse")
    from snn_interop_conformance.runner import implementations

    neuron = next(n for n in neuron_cases() if n.synaptic_current and n.model is Model.ADAPTIVE_LIF and n.compare is Compare.GT
                  and n.reset is ResetMode.TO_VALUE and n.reset_timing is ResetTiming.SAME_STEP and not n.detach_reset
                  and n.adapt_decay_first and n.input_scale.value == "one_minus_beta")
    (result,) = run_case(Case(neuron, "float64", "small", 1), implementations(["norse"]), deviations.load())
    assert result.status == "deviation" and result.failures[0].startswith("param_grad.threshold")  # the declared one
    assert result.metrics["grad_max_rel"] == 0.0 and result.metrics["spike_mismatches"] == 0
