"""Helpers shared by the built-in plugins (no framework imports here)."""
from __future__ import annotations

import importlib.util
from importlib.metadata import PackageNotFoundError, version


def availability(module: str, distribution: str) -> str | None:
    """``None`` when ``module`` can be found, else a reason naming the missing distribution."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError) as exc:
        return f"{module} cannot be located: {exc}"
    return None if found else f"{distribution} is not installed"


def dist_version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"
