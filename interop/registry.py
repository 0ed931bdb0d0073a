"""Plugin discovery through the entry-point group ``snn_interop.plugins``.

Names are listed without importing anything; a plugin module is imported on first use,
and an import failure becomes ``Unavailable(reason)``, never a crash of the caller.
Built-in plugins are registered in pyproject.toml exactly as a third party would.

A plugin is a module exposing the names in ``REQUIRED`` (documented in docs/plugins.md).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType

GROUP = "snn_interop.plugins"
REQUIRED = ("NAME", "EXTRA", "available", "framework_version", "capabilities", "spike_function",
            "build_neuron", "describe_neuron", "step", "run", "run_model", "to_nir", "from_nir")


class PluginError(Exception):
    """A plugin is missing, duplicated, or does not satisfy the contract."""


@dataclass(frozen=True)
class PluginInfo:
    """What ``snn-interop plugins`` shows for one registered plugin."""

    name: str
    target: str  # "module" or "module:attr" from the entry point
    loaded: bool
    version: str | None  # framework version when available
    unavailable: str | None  # reason when the plugin or its framework cannot be used
    extra: str | None
    capabilities: dict | None = None  # what its native layers express, when available


def _entry_points(group: str = GROUP) -> dict[str, EntryPoint]:
    """The entry points of ``group`` by name; two different ones under one name are an error."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group):
        if ep.name in found and found[ep.name].value != ep.value:
            raise PluginError(
                f"two plugins are registered as {ep.name!r}: {found[ep.name].value} and "
                f"{ep.value}; uninstall one of them"
            )
        found[ep.name] = ep
    return found


def names() -> list[str]:
    """Registered plugin names, sorted, without importing any plugin."""
    return sorted(_entry_points())


@cache
def load(name: str) -> ModuleType:
    """Import plugin ``name`` and check it against the contract."""
    eps = _entry_points()
    if name not in eps:
        raise PluginError(f"no plugin named {name!r}; installed plugins: {', '.join(sorted(eps)) or 'none'}")
    plugin = eps[name].load()
    missing = [attr for attr in REQUIRED if not hasattr(plugin, attr)]
    if missing:
        raise PluginError(f"plugin {name!r} ({eps[name].value}) lacks {', '.join(missing)}")
    if plugin.NAME != name:
        raise PluginError(f"plugin registered as {name!r} calls itself {plugin.NAME!r}")
    return plugin


def get(name: str) -> ModuleType:
    """Plugin ``name`` whose framework is importable, else a PluginError naming the extra."""
    plugin = load(name)
    reason = plugin.available()
    if reason is not None:
        raise PluginError(
            f"the {name} plugin is installed but {name} is not usable ({reason}); "
            f"install it with: pip install 'snn-interop[{plugin.EXTRA}]'"
        )
    return plugin


def info(name: str) -> PluginInfo:
    """Describe plugin ``name``; a failing import is reported, not raised."""
    target = _entry_points()[name].value
    try:
        plugin = load(name)
    except Exception as exc:  # noqa: BLE001 - any import failure makes the plugin unavailable
        return PluginInfo(name, target, False, None, f"plugin import failed: {exc}", None)
    reason = plugin.available()
    if reason:
        return PluginInfo(name, target, True, None, reason, plugin.EXTRA)
    return PluginInfo(name, target, True, plugin.framework_version(), None, plugin.EXTRA, dataclasses.asdict(plugin.capabilities()))
