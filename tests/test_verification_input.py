"""The seeded input the checks run on (snn_interop.inputs, --input-rate) and what a verification
says when that input left spikes untested: on the NIR paper's cnn_sinabs.nir, which read at NIR's
default dt (1e-4 s) never fires, and read at sinabs's dt of one step does."""
from __future__ import annotations

import json
import math

import nir
import numpy as np
import pytest
import torch

from snn_interop import cli, inputs, reference
from snn_interop.errors import ExitCode
from tests.conftest import CORPUS, plugin_or_skip

CNN = CORPUS / "cnn_sinabs.nir"
SINABS_TIME = ["--nir-dt", "1", "--nir-reset", "subtract"]  # sinabs counts time in steps, its IAF subtracts


@pytest.mark.parametrize("p", [0.05, 0.3, 0.9])
def test_bernoulli_input_fires_at_its_rate(p):
    x = inputs.bernoulli_input(400, (250,), 7, torch.float64, p=p)
    assert x.shape == (400, 2, 250) and set(torch.unique(x).tolist()) <= {0.0, 1.0}
    n = x.numel()
    assert abs(x.mean().item() - p) < 5 * math.sqrt(p * (1 - p) / n)  # 5 sigma of a binomial mean over 200000 draws
    assert torch.equal(x, inputs.bernoulli_input(400, (250,), 7, torch.float64, p=p))
    assert not torch.equal(x, inputs.bernoulli_input(400, (250,), 8, torch.float64, p=p))
    assert inputs.bernoulli_input(3, (4,), 0, torch.float32, p=1.0).eq(1).all()


@pytest.mark.parametrize("p", [0.0, -0.2, 1.5, float("nan")])
def test_a_rate_outside_0_1_is_refused(p, tmp_path, capsys):
    with pytest.raises(ValueError, match="spike probability"):
        inputs.bernoulli_input(3, (4,), 0, torch.float32, p=p)
    assert cli.convert_main(["--to", "nir", str(CNN), "-o", str(tmp_path / "m.nir"), "--input-rate", str(p)]) is ExitCode.USAGE
    assert "--input-rate" in capsys.readouterr().err and not (tmp_path / "m.nir").exists()


def test_a_silent_verification_names_what_it_left_untested(tmp_path, capsys):
    """Read at NIR's default dt each step adds 1e-4 of its input to an IF membrane: no layer fires,
    so EXACT tests no spike; the table says so, and names the dt the file was read with."""
    out = tmp_path / "silent.nir"
    code = cli.convert_main([str(CNN), "--to", "nir", "-o", str(out), "--verify", "--report", str(tmp_path / "r.json")])
    assert code is ExitCode.OK  # --from nir is implied by the .nir source
    table = capsys.readouterr().out
    assert "(0 source spikes)" in table and "EXACT" in table
    assert "note: no output spike from the source on this input" in table
    assert "note: no spike in neuron layers 1, 3, 6, 10, 12 of the converted model" in table
    assert "read with dt 0.0001 s (exact, reset to_value)" in table and "--nir-dt 1" in table
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["forward"]["spikes_by_layer"] == {"1": 0, "3": 0, "6": 0, "10": 0, "12": 0}
    assert sorted(report["nir_defaults"]["nodes"]) == ["1", "10", "12", "3", "6"] and report["nir_defaults"]["dt"] == 1e-4
    # the reference embedded in the file is silent too, and snn-interop verify says so
    plugin_or_skip("sinabs")
    assert cli.main(["verify", str(out), "--framework", "sinabs"]) is ExitCode.OK
    assert "note: the reference's output is all zeros" in capsys.readouterr().out


def test_with_the_files_own_time_step_every_layer_fires_and_no_note_is_printed(tmp_path, capsys):
    out = tmp_path / "sinabs-time.nir"
    code = cli.convert_main([str(CNN), "--to", "nir", "-o", str(out), "--verify", "--report", str(tmp_path / "r.json"), *SINABS_TIME])
    assert code is ExitCode.OK
    table = capsys.readouterr().out
    assert "EXACT" in table and "note:" not in table
    fired = json.loads((tmp_path / "r.json").read_text())["forward"]["spikes_by_layer"]
    assert list(fired) == ["1", "3", "6", "10", "12"] and min(fired.values()) > 0, fired
    plugin_or_skip("sinabs")
    assert cli.main(["verify", str(out), "--framework", "sinabs"]) is ExitCode.OK
    assert "note:" not in capsys.readouterr().out


def test_input_rate_sets_the_verification_input_and_the_embedded_reference(tmp_path, capsys):
    runs = {}
    for p in (0.3, 0.7):
        out = tmp_path / f"p{p}.nir"
        code = cli.convert_main([str(CNN), "--to", "nir", "-o", str(out), "--verify", "--input-rate", str(p),
                                 "--report", str(tmp_path / f"r{p}.json"), "--steps", "20", *SINABS_TIME])
        assert code is ExitCode.OK
        assert f"20 steps, seed 0, input rate {p:g}, float64" in capsys.readouterr().out
        report = json.loads((tmp_path / f"r{p}.json").read_text())
        ref = reference.read_reference(nir.read(out))
        x = ref.input()
        assert report["input_rate"] == p and ref.data["input"]["p"] == p and x.shape == (20, 2, 2, 34, 34)
        assert abs(x.mean().item() - p) < 0.01  # 92480 draws: 5 sigma is under 0.008
        runs[p] = report["forward"]["spikes_by_layer"]
    assert all(runs[0.7][layer] > runs[0.3][layer] for layer in ("1", "3")), runs  # denser input, more spikes in the first layers


def test_compare_draws_its_input_at_the_given_rate(tmp_path):
    x_path = tmp_path / "x.pt"
    assert cli.main(["compare", str(CNN), "--save-inputs", str(x_path), "--save-outputs", str(tmp_path / "a.pt"),
                     "--input-rate", "1", "--steps", "3", "--json"]) is ExitCode.OK
    x = torch.load(x_path, weights_only=True)["x"]
    assert x.shape == (3, 2, 2, 34, 34) and bool(np.all(x.numpy() == 1.0))


def test_an_input_rate_with_nothing_to_run_is_named(tmp_path, capsys):
    assert cli.convert_main([str(CNN), "--to", "nir", "-o", str(tmp_path / "m.nir"), "--input-rate", "0.5", "--quiet"]) is ExitCode.OK
    assert "--input-rate sets the input of --verify and of an embedded reference" in capsys.readouterr().err
    assert cli.convert_main([str(CNN), "--to", "nir", "-o", str(tmp_path / "v.nir"), "--input-rate", "0.5", "--quiet", "--verify"]) is ExitCode.OK
    assert "warning" not in capsys.readouterr().err


def test_compare_names_the_nodes_neither_side_fired_in(tmp_path, capsys):
    plugin_or_skip("sinabs")
    plugin_or_skip("snntorch")
    args = ["compare", str(CNN), str(CNN), "--framework", "sinabs", "--framework", "snntorch", "--steps", "5", "--json"]
    assert cli.main(args) is ExitCode.OK
    report = json.loads(capsys.readouterr().out)
    assert report["silent"] == ["1", "3", "6", "10", "12"]  # at NIR's default dt nothing fires
    assert cli.main([*args, *SINABS_TIME]) is ExitCode.OK  # read as sinabs ran it
    report = json.loads(capsys.readouterr().out)
    fired = {n["node"]: n["spikes_a"] for n in report["nodes"] if n["spikes"]}
    assert report["silent"] == [] and report["status"] == "match" and fired["1"] > 0 and fired["3"] > 0, fired
    assert cli.main(args[:-1]) is ExitCode.OK
    assert "note: no spike in 1, 3, 6, 10, 12 on either side" in capsys.readouterr().out


def _dense_nmnist_like(path, steps: int = 12, batch: int = 3) -> torch.Tensor:
    """An event-camera-like input for cnn_sinabs.nir: a bright square moving across 2x34x34, two polarities."""
    x = torch.zeros(steps, batch, 2, 34, 34, dtype=torch.float64)
    for t in range(steps):
        for b in range(batch):
            x[t, b, t % 2, 8 + b:20 + b, 4 + 2 * t:16 + 2 * t] = 1.0
    inputs.save_inputs(x, path)
    return x


def test_load_inputs_verifies_and_embeds_on_the_users_own_input(tmp_path, capsys):
    x = _dense_nmnist_like(tmp_path / "x.pt")
    out = tmp_path / "m.nir"
    code = cli.convert_main([str(CNN), "--to", "nir", "-o", str(out), "--verify", "--load-inputs", str(tmp_path / "x.pt"),
                             "--report", str(tmp_path / "r.json"), *SINABS_TIME])
    assert code is ExitCode.OK
    table = capsys.readouterr().out
    assert "nir -> nir: 12 steps, the given input (batch 3), float64" in table and "EXACT" in table
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["input_rate"] is None and report["batch"] == 3 and report["steps"] == 12
    assert report["forward"]["outputs"] == 12 * 3 * 10 and report["forward"]["spikes_by_layer"]["1"] > 0
    ref = reference.read_reference(nir.read(out))
    assert torch.equal(ref.input(), x) and ref.data["input"]["recipe"] == "given" and ref.data["input"]["p"] is None
    plugin_or_skip("sinabs")
    assert cli.main(["verify", str(out), "--framework", "sinabs"]) is ExitCode.OK
    assert "(input (2, 34, 34) per step, given by the sender)" in capsys.readouterr().out


def test_load_inputs_of_the_wrong_shape_or_with_the_input_rate_is_refused(tmp_path, capsys):
    inputs.save_inputs(torch.zeros(5, 1, 2, 32, 32), tmp_path / "small.pt")
    args = [str(CNN), "--to", "nir", "-o", str(tmp_path / "m.nir"), "--verify", "--quiet"]
    assert cli.convert_main([*args, "--load-inputs", str(tmp_path / "small.pt")]) is ExitCode.BAD_SOURCE
    assert "steps of shape (2, 32, 32) (batch 1), but the model takes (2, 34, 34)" in capsys.readouterr().err
    assert cli.convert_main([*args, "--load-inputs", str(tmp_path / "small.pt"), "--input-rate", "0.5"]) is ExitCode.USAGE
    assert "not both" in capsys.readouterr().err
    inputs.save_inputs(torch.full((5, 1, 2, 34, 34), float("nan")), tmp_path / "nan.pt")
    assert cli.convert_main([*args, "--load-inputs", str(tmp_path / "nan.pt")]) is ExitCode.BAD_SOURCE
    assert "NaN or Inf" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"not a tensor file")
    assert cli.convert_main([*args, "--load-inputs", str(tmp_path / "junk.pt")]) is ExitCode.BAD_SOURCE
    assert "cannot read inputs from" in capsys.readouterr().err
    assert not (tmp_path / "m.nir").exists()


def test_load_inputs_drives_the_chip_check(tmp_path, capsys):
    plugin_or_skip("sinabs")
    _dense_nmnist_like(tmp_path / "x.pt", steps=10, batch=1)
    code = cli.convert_main([str(CNN), "--to", "speck", "-o", str(tmp_path / "speck"), "--load-inputs", str(tmp_path / "x.pt"),
                             "--nir-dt", "1"])
    assert code is ExitCode.OK
    table = capsys.readouterr().out
    assert "10 steps, the given input" in table
    report = json.loads((tmp_path / "speck" / "report.json").read_text())
    assert report["input_rate"] is None and report["steps"] == 10 and report["forward"]["outputs"] == 10 * 10
