"""The hand-off core (snn_interop.hardware): discovery, the spike input, the float reference,
the spike comparison and the design-rule error, independent of any one chip."""
from __future__ import annotations

import nir
import pytest
import torch

from snn_interop import hardware
from snn_interop.errors import ExitCode
from snn_interop.nir.graph import annotate
from snn_interop.nir.metadata import KEY
from tests.nir.corpus import DEFAULTS


def test_the_three_chips_are_registered_as_targets_like_a_third_party_would():
    assert hardware.names() == ["loihi", "speck", "xylo"]
    for name in hardware.names():
        target = hardware.load(name)
        assert target.NAME == name and target.CHIP and target.TOOLCHAIN and target.EXTRA


def test_spike_input_is_seeded_binary_at_the_rate_asked(corpus):
    graph = nir.read(corpus / "cnn_sinabs.nir")
    x = hardware.spike_input(graph, 20, seed=3, rate=0.25)
    assert x.shape == (20, 1, 2, 34, 34) and x.dtype == torch.float64
    assert set(x.unique().tolist()) == {0.0, 1.0}
    assert abs(float(x.mean()) - 0.25) < 0.01  # 46240 draws: 4 standard deviations is 0.008
    assert torch.equal(x, hardware.spike_input(graph, 20, seed=3, rate=0.25))
    assert not torch.equal(x, hardware.spike_input(graph, 20, seed=4, rate=0.25))


def test_float_model_runs_the_graph_in_float64_and_spikes(corpus):
    raw = nir.read(corpus / "cnn_sinabs.nir")
    graph = annotate(raw, DEFAULTS["cnn_sinabs.nir"])  # sinabs steps in dt = 1 and subtracts
    assert all(KEY in node.metadata for node in graph.nodes.values() if isinstance(node, nir.IF))
    assert not any(getattr(node, "metadata", None) for node in raw.nodes.values()), "annotate copies"
    out = hardware.float_model(graph)(hardware.spike_input(graph, 30, seed=0, rate=0.3))
    assert out.shape == (30, 1, 10) and out.dtype == torch.float64
    assert out.sum() > 0, "the N-MNIST network must answer a dense input"


def test_compare_spikes_counts_and_locates_the_first_mismatch():
    ref = torch.zeros(5, 2, 3, dtype=torch.float64)
    ref[1, 0, 2] = ref[3, 1, 0] = 1
    same = hardware.compare_spikes(ref, ref.clone())
    assert same["spike_mismatches"] == 0 and same["first_mismatch"] is None and same["spikes_float"] == 2
    other = ref.clone()
    other[3, 1, 0] = 0
    other[4, 0, 1] = 2  # a spike count of 2 is a mismatch of one output
    found = hardware.compare_spikes(ref, other)
    assert found["spike_mismatches"] == 2 and found["outputs"] == 30
    assert found["first_mismatch"] == {"step": 3, "batch": 1, "index": 0}
    assert found["spikes_target"] == 3 and found["mismatch_fraction"] == pytest.approx(2 / 30)
    # counts over the run: output (1, 0) lost its spike, output (0, 1) gained 2
    assert (found["count_differences"], found["count_difference_max"]) == (3, 2)
    late = ref.clone()
    late[1, 0, 2], late[2, 0, 2] = 0, 1  # the same spike one step late: 2 per-step mismatches, no count apart
    shifted = hardware.compare_spikes(ref, late)
    assert (shifted["spike_mismatches"], shifted["count_differences"], shifted["count_difference_max"]) == (2, 0, 0)
    with pytest.raises(ValueError, match="shape"):
        hardware.compare_spikes(ref, ref[:, :, :2])


def test_constraint_violation_names_every_node_and_limit_and_exits_17():
    err = hardware.ConstraintViolation("xylo", "Xylo Audio 2", [hardware.Violation("fc1", "fan-in", "600 inputs", "512"),
                                                                 hardware.Violation("graph", "dt", "two values", "one")])
    assert err.code == ExitCode.CONSTRAINT == 17
    text = str(err)
    assert "2 design rule(s)" in text and "node 'fc1': fan-in: 600 inputs (limit: 512)" in text and "node 'graph': dt" in text


def test_an_unknown_chip_or_framework_lists_the_targets_too(capsys, tmp_path):
    from snn_interop.cli import convert_main

    code = convert_main(["--from", "nir", "--to", "truenorth", str(tmp_path / "x.nir"), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == ExitCode.UNKNOWN_FRAMEWORK, err
    assert "truenorth" in err and "loihi, speck, xylo" in err
    assert not (tmp_path / "out").exists()


def test_nir_options_read_a_foreign_file_as_its_authors_ran_it(tmp_path, capsys, corpus):
    """cnn_sinabs.nir carries no snn-interop metadata: with sinabs's dt and reset given, the
    conversion to sinabs is exact; it is the same file the corpus tests read with those defaults."""
    from snn_interop.cli import convert_main

    code = convert_main(["--from", "nir", "--to", "sinabs", str(corpus / "cnn_sinabs.nir"), "-o", str(tmp_path / "out"),
                         "--nir-dt", "1", "--nir-reset", "subtract", "--verify", "--steps", "20", "--quiet"])
    assert code == ExitCode.OK, capsys.readouterr().err
