"""snn-conformance end to end: exit codes, the four reports, and report.html in a real browser."""
from __future__ import annotations

import html
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET

import jsonschema
import pytest
import torch

from snn_interop import cli
from snn_interop.errors import ExitCode
from snn_interop.spec.neurons import Compare, Model, ResetMode, ResetTiming
from snn_interop_conformance import report
from snn_interop_conformance.cli import main
from snn_interop_conformance.runner import NOT_RUN_REASON, environment, run_case, trace
from tests.conformance.test_suite import _case, planted
from tests.conftest import plugin_or_skip

SUBSET = ["--quick", "--framework", "snntorch", "--framework", "sinabs", "--match", "if-none-to_value-same_step-detach"]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    plugin_or_skip("snntorch"), plugin_or_skip("sinabs")
    out = tmp_path_factory.mktemp("conf")
    code = main([*SUBSET, "--out", str(out), "-j", "2", "--quiet"])
    return code, out


def test_a_clean_run_exits_0_and_writes_four_reports(clean_run):
    code, out = clean_run
    assert code is ExitCode.OK
    data = json.loads((out / "report.json").read_text())
    assert data["schema"] == "snn_interop.conformance" and data["unexpected"] == 0
    # "if-none-to_value..." also matches "lif-none-to_value...": 2 models x 3 surrogates x 2 compares x 2 dtypes
    assert data["settings"]["cases"] == 24 and len(data["results"]) == 48
    assert data["environment"]["frameworks"].keys() == {"snntorch", "sinabs"} and data["environment"]["torch"] == torch.__version__
    statuses = {(r["implementation"], r["status"]) for r in data["results"]}
    assert ("snntorch", "pass") in statuses and ("sinabs", "pass") in statuses
    for r in data["results"]:
        if r["status"] == "pass":
            assert r["metrics"]["spike_mismatches"] == 0 and r["metrics"]["spikes_total"] > 0 and r["worst"] < 1
    assert any("fused reference kernel" in n or "spikingjelly" in n for n in data["notes"]) or data["notes"] == []
    junit = ET.parse(out / "junit.xml").getroot()
    assert sum(int(s.get("tests")) for s in junit) == 48 and all(int(s.get("failures")) == 0 for s in junit)
    md = (out / "report.md").read_text()
    assert "No unexpected mismatches" in md and "| if to_value same_step |" in md and "| lif to_value same_step |" in md


def test_report_json_follows_its_schema(clean_run):
    _, out = clean_run
    schema = json.loads(report.SCHEMA_FILE.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    validator.check_schema(schema)
    data = json.loads((out / "report.json").read_text())
    assert list(validator.iter_errors(data)) == []
    broken = json.loads((out / "report.json").read_text())
    broken["results"][0]["status"] = "passed"
    del next(r for r in broken["results"][1:] if r["metrics"])["metrics"]["diverged"]
    found = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(broken)] + \
            [c.message for e in validator.iter_errors(broken) for c in e.context]
    assert any("'passed' is not one of" in m for m in found) and any("'diverged' is a required property" in m for m in found)


def test_existing_reports_are_not_overwritten_without_force(clean_run, capsys):
    _, out = clean_run
    before = (out / "report.json").read_text()
    assert main([*SUBSET, "--out", str(out), "--quiet"]) is ExitCode.OUTPUT_EXISTS
    assert "--force" in capsys.readouterr().err and (out / "report.json").read_text() == before
    (out.parent / "a-file").write_bytes(b"precious")
    assert main([*SUBSET, "--out", str(out.parent / "a-file"), "--quiet", "--force"]) is ExitCode.OUTPUT_EXISTS
    assert "a-file is a file, where the reports' directory is written" in capsys.readouterr().err
    assert (out.parent / "a-file").read_bytes() == b"precious"


def test_bad_arguments_have_their_exit_codes(tmp_path, capsys):
    assert main(["--framework", "no-such", "--out", str(tmp_path)]) is ExitCode.PLUGIN
    assert main(["--match", "no-such-case", "--out", str(tmp_path)]) is ExitCode.USAGE
    assert main(["-j", "0", "--out", str(tmp_path)]) is ExitCode.USAGE
    if not torch.cuda.is_available():
        assert main(["--device", "cuda", "--out", str(tmp_path)]) is ExitCode.UNSUPPORTED
        assert "no CUDA device" in capsys.readouterr().err


def test_snn_interop_conformance_is_the_same_command(tmp_path):
    plugin_or_skip("snntorch")
    argv = ["--quick", "--framework", "snntorch", "--match", "li-none-float", "--out", str(tmp_path), "--quiet"]
    assert cli.main(["conformance", *argv]) is ExitCode.OK
    assert json.loads((tmp_path / "report.json").read_text())["settings"]["cases"] == 2


@pytest.fixture(scope="module")
def failing_report(tmp_path_factory):
    """A report of a planted bug: snnTorch compares with > where the case says >=."""
    case = _case(Model.IF, ResetMode.TO_VALUE, ResetTiming.SAME_STEP, Compare.GE)
    impl = planted("snntorch", "snntorch-strict", lambda n: n.with_(compare=Compare.GT))
    results = [r.to_dict() for r in run_case(case, [impl])]
    rep = report.build(results, environment(["snntorch"], "cpu"), {"quick": True, "seed": 0}, ["a note"], [trace(case, impl)])
    out = tmp_path_factory.mktemp("fail")
    report.write(rep, out)
    return rep, out, results[0]


def test_a_failure_is_in_every_report_with_its_numbers(failing_report):
    rep, out, r = failing_report
    assert rep["unexpected"] == 1 and r["status"] == "fail"
    first = f"first at step {r['metrics']['first_step']}, neuron {r['metrics']['first_neuron']} (exactly at threshold"
    assert first in (out / "report.md").read_text() and "**1 unexpected mismatches.**" in (out / "report.md").read_text()
    (failure,) = ET.parse(out / "junit.xml").getroot().iter("failure")
    assert first in failure.get("message")
    assert json.loads((out / "report.json").read_text())["results"][0]["worst"] == "inf"


def test_report_html_renders_in_headless_chromium(failing_report):
    rep, out, r = failing_report
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "Chromium is needed to test report.html: apt-get install chromium (.ci/run does)"
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", (out / "report.html").as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert "1 unexpected mismatches" in dom and html.escape(r["case"]) in dom
    assert dom.count("<polyline") == 3 and dom.count('<td style="background:#d62728"') == 1  # one trace; one red cell
    shot = out / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}", "--window-size=1200,900",
                    (out / "report.html").as_uri()], capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_the_fused_kernel_is_a_column(tmp_path):
    # triton is a dependency of the dev extra; not imported here: snn_interop.kernel picks its mode first
    argv = ["--quick", "--framework", "kernel", "--match", "cuba_lif-none-syn_beta-subtract-same_step-grad->=-atan", "--out", str(tmp_path), "--quiet"]
    assert main(argv) is ExitCode.OK
    data = json.loads((tmp_path / "report.json").read_text())
    assert {(r["implementation"], r["status"]) for r in data["results"]} == {("kernel", "pass")} and len(data["results"]) == 2
    assert data["environment"]["frameworks"]["kernel"].startswith("triton ")
    if not torch.cuda.is_available():
        assert {r["backend"] for r in data["results"]} == {"triton-interpreter"}
        assert any("CPU interpreter" in n for n in data["notes"])


def test_long_cases_are_listed_not_run_for_the_interpreted_kernel(tmp_path):
    """In Triton's CPU interpreter the kernel lists cases over 64 steps as not run; compiled, it runs them all."""
    interpreted = not torch.cuda.is_available()
    argv = ["--framework", "kernel", "--match", "li-none-float64-small-T", "--out", str(tmp_path), "--quiet"]
    assert main(argv) is ExitCode.OK
    data = json.loads((tmp_path / "report.json").read_text())
    status = {r["steps"]: r["status"] for r in data["results"]}
    assert status == {1: "pass", 16: "pass", 256: "not_run" if interpreted else "pass"}
    skipped = [s.get("message") for s in ET.parse(tmp_path / "junit.xml").getroot().iter("skipped")]
    assert skipped == (["not run: more than 64 steps: " + NOT_RUN_REASON] if interpreted else [])
