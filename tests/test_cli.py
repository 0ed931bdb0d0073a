"""The command-line entry points, called as functions (cli.main(argv) -> ExitCode)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from snn_interop import cli
from snn_interop.errors import ExitCode
from snn_interop.spec.surrogates import SURROGATES


def test_spec_json_lists_every_surrogate_with_native_names(capsys):
    assert cli.main(["spec", "--json"]) is ExitCode.OK
    data = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in data["surrogates"]] == list(SURROGATES)
    atan = next(s for s in data["surrogates"] if s["name"] == "atan")
    assert {n["framework"]: n["name"] for n in atan["native"]} == {"spikingjelly": "surrogate.ATan", "snntorch": "surrogate.atan"}
    assert {p["name"]: p["default"] for p in atan["params"]} == {"alpha": 2.0, "scale": 1.0}
    assert "\\arctan" in atan["primitive_latex"]
    fields = {c["name"]: c for c in data["neurons"]["conventions"]}
    assert fields["reset_timing"]["choices"] == ["same_step", "next_step"]
    assert {m["name"] for m in data["neurons"]["models"]} == {"if", "lif", "cuba_lif", "li", "adaptive_lif"}


def test_spec_text_is_a_table(capsys):
    assert cli.main(["spec"]) is ExitCode.OK
    out = capsys.readouterr().out
    assert "SURROGATES" in out and "fast_sigmoid" in out and "snntorch:surrogate.fast_sigmoid" in out


def test_plugins_lists_the_four_builtins(capsys):
    assert cli.main(["plugins", "--json"]) is ExitCode.OK
    names = {p["name"] for p in json.loads(capsys.readouterr().out)}
    assert {"snntorch", "spikingjelly", "sinabs", "norse"} <= names


@pytest.mark.parametrize("flag", ["--help", "--version"])
@pytest.mark.parametrize("script", ["snn-interop", "snn-convert", "snn-conformance"])
def test_help_and_version_work_everywhere(script, flag):
    from importlib.metadata import version

    target = {"snn-interop": "snn_interop.cli:console_main", "snn-convert": "snn_interop.cli:convert_console_main",
              "snn-conformance": "snn_interop_conformance.cli:console_main"}[script]
    module, fn = target.split(":")
    done = subprocess.run([sys.executable, "-c", f"import sys; import {module} as m; sys.argv = ['{script}', '{flag}']; m.{fn}()"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert ("usage:" in done.stdout) if flag == "--help" else (done.stdout.strip() == f"snn-interop {version('snn-interop')}")


def test_usage_error_exits_2(capsys):
    assert cli.main(["no-such-command"]) is ExitCode.USAGE
    assert cli.convert_main([]) is ExitCode.USAGE  # snn-convert without --from/--to/SOURCE/-o
    assert "needs --from, --to, SOURCE, -o" in capsys.readouterr().err
