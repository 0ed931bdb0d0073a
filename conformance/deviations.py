"""Declared deviations (deviations.toml): data, each entry with its reason."""
from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT = Path(__file__).with_name("deviations.toml")


@dataclass(frozen=True)
class Deviation:
    framework: str
    cases: str  #: fnmatch pattern on the case id
    metrics: tuple[str, ...]
    reason: str

    def covers(self, framework: str, case_id: str, failed: set[str]) -> bool:
        return framework == self.framework and fnmatch.fnmatchcase(case_id, self.cases) and failed <= set(self.metrics)


def load(path: str | Path = DEFAULT) -> tuple[Deviation, ...]:
    """Read a deviations file; every entry must name framework, cases, metrics and reason."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    out = []
    for i, entry in enumerate(data.get("deviation", [])):
        missing = {"framework", "cases", "metrics", "reason"} - set(entry)
        if missing:
            raise ValueError(f"{path}: deviation #{i + 1} lacks {', '.join(sorted(missing))}")
        out.append(Deviation(entry["framework"], entry["cases"], tuple(entry["metrics"]), entry["reason"]))
    return tuple(out)
