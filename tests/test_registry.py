"""Plugin discovery through entry points; frameworks load lazily and never pull in samna."""
from __future__ import annotations

import subprocess
import sys

from snn_interop import registry

BUILTIN = {"snntorch", "spikingjelly", "sinabs", "norse"}


def test_builtin_plugins_are_registered_as_entry_points():
    assert BUILTIN <= set(registry.names())


def test_listing_plugins_imports_no_framework():
    code = ("import sys; from snn_interop import registry; registry.names(); "
            "print(sorted(m for m in ('snntorch','spikingjelly','sinabs','norse') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_plugin_loads_without_importing_samna():
    # sinabs 3.1.3 depends on samna, whose index release runs pip at import time: nothing may import it
    code = ("import sys; from snn_interop import registry\n"
            "for n in registry.names(): p = registry.get(n); p.spike_function(*{"
            "'snntorch': ('surrogate.atan', {}), 'spikingjelly': ('surrogate.ATan', {}),"
            "'sinabs': ('activation.SingleExponential', {}), 'norse': ('threshold:super', {'alpha': 100.0}), 'rockpool': ('StepPWL', {})}[n])\n"
            "print('samna' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_unknown_plugin_names_the_installed_ones():
    try:
        registry.load("tensorflow")
    except registry.PluginError as exc:
        assert "installed plugins:" in str(exc) and "snntorch" in str(exc)
    else:
        raise AssertionError("expected PluginError")


def test_info_reports_framework_versions():
    info = registry.info("snntorch")
    assert info.unavailable is None and info.version == "1.0.0" and info.extra == "snntorch"
