"""Conformance reports: report.json, report.md, junit.xml and a self-contained report.html.

All four are rendered from one report dict (:func:`build`); the HTML has a heat map of each
case's worst error over its tolerance per implementation and dtype, and trace plots (spikes
and membrane, implementation vs oracle) of the worst cases, as inline SVG: no scripts, no
network, opens anywhere.
"""
from __future__ import annotations

import html
import json
import math
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SCHEMA = "snn_interop.conformance"
VERSION = 1
STATUSES = ("pass", "deviation", "fail", "error", "not_expressible", "not_run")
FILES = ("report.json", "report.md", "junit.xml", "report.html")
#: The JSON Schema (draft 2020-12) report.json follows.
SCHEMA_FILE = Path(__file__).with_name("report.schema.json")


def build(results: Sequence[dict[str, Any]], environment: dict[str, Any], settings: dict[str, Any],
          notes: Sequence[str] = (), traces: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """The report: settings, environment, per-implementation counts, every result, worst traces."""
    summary: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        summary[r["implementation"]][r["status"]] += 1
    return {"schema": SCHEMA, "version": VERSION, "settings": dict(settings), "environment": environment,
            "notes": list(notes), "summary": {k: dict(v) for k, v in summary.items()},
            "unexpected": sum(r["status"] in ("fail", "error") for r in results),
            "results": list(results), "traces": list(traces)}


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def worst(results: Sequence[dict[str, Any]], n: int = 10) -> list[dict[str, Any]]:
    """The ``n`` results closest to (or furthest over) their tolerance, failures first."""
    rank = {"error": 0, "fail": 1, "deviation": 2, "pass": 3}
    ran = [r for r in results if r["status"] in rank]
    return sorted(ran, key=lambda r: (rank[r["status"]], -(r["worst"] if r["worst"] is not None else math.inf)))[:n]


def group(case: str) -> str:
    """A case's neuron part (its id without dtype, shape and T): the heat map's rows."""
    return case.rsplit("-", 3)[0]


# --- Markdown -----------------------------------------------------------------------------

def markdown(report: dict[str, Any]) -> str:
    s, env = report["settings"], report["environment"]
    lines = [f"# Conformance report: {'quick' if s['quick'] else 'full'} suite on {env['device']}", "",
             f"{len(report['results'])} runs: {len({r['case'] for r in report['results']})} cases x "
             f"{len(report['summary'])} implementations, seed {s['seed']}. "
             f"torch {env['torch']}; " + ", ".join(f"{k} {v}" for k, v in env["frameworks"].items()) + ".", ""]
    lines += [f"**{report['unexpected']} unexpected mismatches.**" if report["unexpected"] else "**No unexpected mismatches.**", ""]
    diverged = [r for r in report["results"] if r["metrics"] and r["metrics"].get("diverged")]
    if diverged:
        lines += [f"Half precision: {sum(r['metrics']['diverged'] for r in diverged)} neurons in {len(diverged)} runs flipped a spike "
                  "where the oracle is within the membrane tolerance of the threshold (rounding explains it); each such neuron "
                  "is compared up to that step (docs/conformance.md).", ""]
    lines += ["| implementation | " + " | ".join(STATUSES) + " |", "|---" * (len(STATUSES) + 1) + "|"]
    for impl, counts in report["summary"].items():
        lines.append(f"| {impl} | " + " | ".join(str(counts.get(k, 0)) for k in STATUSES) + " |")
    lines += ["", "## Matrix: conforming / run (not expressible) per model and reset", ""]
    cells: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for r in report["results"]:
        n = r["neuron"]
        cells[(f"{n['model']} {n.get('reset', '')} {n.get('reset_timing', '')}".strip(), r["implementation"])][r["status"]] += 1
    impls = list(report["summary"])
    lines += ["| neuron, reset | " + " | ".join(impls) + " |", "|---" * (len(impls) + 1) + "|"]
    for row in sorted({k[0] for k in cells}):
        out = []
        for impl in impls:
            c = cells[(row, impl)]
            ran = c["pass"] + c["deviation"] + c["fail"] + c["error"]
            bad = c["fail"] + c["error"]
            out.append(("**" if bad else "") + f"{ran - bad}/{ran}" + ("**" if bad else "") + f" ({c['not_expressible']})")
        lines.append(f"| {row} | " + " | ".join(out) + " |")
    lines += ["", "## Worst cases", "", "| status | implementation | case | error / tolerance | detail |", "|---|---|---|---|---|"]
    for r in worst(report["results"]):
        detail = "; ".join(r["failures"]) or r["reason"] or _numbers(r)
        ratio = "spikes differ" if r["worst"] == math.inf else (f"{r['worst']:.3g}" if r["worst"] is not None else "")
        lines.append(f"| {r['status']} | {r['implementation']} | `{r['case']}` | {ratio} | {detail} |")
    if report["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    return "\n".join(lines) + "\n"


def _numbers(r: dict[str, Any]) -> str:
    m = r["metrics"] or {}
    flips = f", {m['diverged']} neurons compared up to a rounding-level flip" if m.get("diverged") else ""
    return f"membrane max abs {m.get('v_max_abs', 0):.3g}, input gradient max rel {m.get('grad_max_rel', 0):.3g}{flips}"


# --- JUnit --------------------------------------------------------------------------------

def junit(report: dict[str, Any]) -> str:
    """One testsuite per implementation, one testcase per case; not-expressible cases are
    ``skipped`` with the reason, failures carry the numbers."""
    root = ET.Element("testsuites", name="snn-conformance")
    by_impl: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in report["results"]:
        by_impl[r["implementation"]].append(r)
    for impl, rows in by_impl.items():
        suite = ET.SubElement(root, "testsuite", name=impl, tests=str(len(rows)),
                              failures=str(sum(r["status"] == "fail" for r in rows)),
                              errors=str(sum(r["status"] == "error" for r in rows)),
                              skipped=str(sum(r["status"] in ("not_expressible", "not_run") for r in rows)),
                              time=f"{sum(r['seconds'] for r in rows):.3f}")
        for r in rows:
            tc = ET.SubElement(suite, "testcase", classname=f"snn_conformance.{impl}", name=r["case"], time=f"{r['seconds']:.4f}")
            if r["status"] == "fail":
                ET.SubElement(tc, "failure", message=r["failures"][0]).text = "\n".join(r["failures"])
            elif r["status"] == "error":
                ET.SubElement(tc, "error", message=r["reason"]).text = "\n".join(r["failures"])
            elif r["status"] == "not_expressible":
                ET.SubElement(tc, "skipped", message=f"not expressible: {r['reason']}")
            elif r["status"] == "not_run":
                ET.SubElement(tc, "skipped", message=f"not run: {r['reason']}")
            elif r["status"] == "deviation":
                ET.SubElement(tc, "system-out").text = f"declared deviation: {r['reason']}\n" + "\n".join(r["failures"])
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


# --- HTML ---------------------------------------------------------------------------------

_STYLE = """body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse}
td,th{padding:2px 6px;border:1px solid #ddd;font-size:12px}th{background:#f4f4f4}
.hm td{width:14px;height:10px;padding:0;border:1px solid #fff}.hm td.n{width:auto;padding:0 6px;font:11px monospace;border:0}
.hm th{font-size:11px;writing-mode:vertical-rl;padding:4px 0}code{font-size:12px}.legend span{display:inline-block;padding:2px 8px;margin-right:4px}"""


def _colour(r: dict[str, Any] | None) -> tuple[str, str]:
    """Cell colour and tooltip: grey not expressible, red fail/error, orange deviation, green
    shades from 0 to the tolerance on a log scale."""
    if r is None:
        return "#fff", "not run"
    st = r["status"]
    if st == "not_expressible":
        return "#ccc", f"not expressible: {r['reason']}"
    if st == "not_run":
        return "#eee", f"not run: {r['reason']}"
    if st in ("fail", "error"):
        return "#d62728", "; ".join(r["failures"]) or r["reason"]
    if st == "deviation":
        return "#ff9f1c", f"declared deviation: {r['reason']}"
    w = r["worst"] or 0.0
    level = 0.0 if w <= 1e-8 else min(1.0, (math.log10(w) + 8) / 8)  # 1e-8 .. 1 of the tolerance
    g = int(200 - 120 * level)
    flips = (r["metrics"] or {}).get("diverged")
    return (f"rgb({int(40 + 180 * level)},{g},{int(90 - 60 * level)})",
            f"pass: worst error {w:.3g} of tolerance" + (f"; {flips} neurons compared up to a rounding-level spike flip" if flips else ""))


def heatmap(results: Sequence[dict[str, Any]]) -> str:
    """Rows: neuron cases; columns: implementation x dtype x shape x T; cells coloured by status."""
    cols = sorted({(r["implementation"], r["dtype"], r["shape"], r["steps"]) for r in results})
    rows = sorted({group(r["case"]) for r in results})
    cell = {(group(r["case"]), (r["implementation"], r["dtype"], r["shape"], r["steps"])): r for r in results}
    out = ['<table class="hm"><tr><th></th>' + "".join(f'<th title="{html.escape(" ".join(map(str, c)))}">{html.escape(f"{c[0]} {c[1]} {c[2]} T{c[3]}")}</th>' for c in cols) + "</tr>"]
    for row in rows:
        tds = []
        for c in cols:
            colour, tip = _colour(cell.get((row, c)))
            tds.append(f'<td style="background:{colour}" title="{html.escape(tip)}"></td>')
        out.append(f'<tr><td class="n">{html.escape(row)}</td>' + "".join(tds) + "</tr>")
    return "\n".join(out) + "</table>"


def _polyline(values: Sequence[float], x0: float, y0: float, w: float, h: float, lo: float, hi: float, colour: str, dash: str = "") -> str:
    span = (hi - lo) or 1.0
    step = w / max(1, len(values) - 1)
    pts = " ".join(f"{x0 + i * step:.1f},{y0 + h - (v - lo) / span * h:.1f}" for i, v in enumerate(values))
    return f'<polyline fill="none" stroke="{colour}" stroke-width="1.2" {dash} points="{pts}"/>'


def trace_svg(t: dict[str, Any]) -> str:
    """Membrane (implementation solid, oracle dashed, threshold grey) over spike rasters."""
    w, h, n = 720, 160, len(t["v_oracle"])
    vals = t["v"] + t["v_oracle"] + [t["threshold"]]
    lo, hi = min(vals), max(vals)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w + 60}" height="{h + 70}" class="trace">',
             f'<text x="0" y="12" font-size="11">v (solid: {html.escape(t["implementation"])}, dashed: oracle)</text>',
             _polyline([t["threshold"]] * n, 40, 20, w, h, lo, hi, "#999"),
             _polyline(t["v_oracle"], 40, 20, w, h, lo, hi, "#1f77b4", 'stroke-dasharray="4 3"'),
             _polyline(t["v"], 40, 20, w, h, lo, hi, "#d62728")]
    for row, (key, colour) in enumerate((("spikes", "#d62728"), ("spikes_oracle", "#1f77b4"))):
        y = h + 30 + row * 16
        parts.append(f'<text x="0" y="{y + 9}" font-size="10">{"impl" if row == 0 else "oracle"}</text>')
        for i, s in enumerate(t[key]):
            if s:
                x = 40 + i * w / max(1, n - 1)
                parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + 12}" stroke="{colour}"/>')
    if t.get("first_step") is not None:
        x = 40 + t["first_step"] * w / max(1, n - 1)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="20" y2="{h + 62}" stroke="#000" stroke-dasharray="2 2"/>')
    return "".join(parts) + "</svg>"


def html_page(report: dict[str, Any]) -> str:
    s, env = report["settings"], report["environment"]
    summary = "".join(f"<tr><td>{html.escape(k)}</td>" + "".join(f"<td>{v.get(st, 0)}</td>" for st in STATUSES) + "</tr>"
                      for k, v in report["summary"].items())
    worst_rows = "".join(
        f"<tr><td>{r['status']}</td><td>{html.escape(r['implementation'])}</td><td><code>{html.escape(r['case'])}</code></td>"
        f"<td>{html.escape('; '.join(r['failures']) or r['reason'] or _numbers(r))}</td></tr>" for r in worst(report["results"]))
    traces = "".join(f"<h3>{html.escape(t['implementation'])}: <code>{html.escape(t['case'])}</code>, neuron {t['neuron']}</h3>"
                     f"<p>{html.escape(t['summary'])}</p>{trace_svg(t)}" for t in report["traces"])
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report["notes"])
    legend = ('<p class="legend"><span style="background:rgb(40,200,90)">pass, tiny error</span><span style="background:rgb(220,80,30)">'
              'pass, near tolerance</span><span style="background:#ff9f1c">declared deviation</span><span style="background:#d62728;color:#fff">'
              'fail / error</span><span style="background:#ccc">not expressible</span><span style="background:#eee">not run</span></p>')
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>snn-conformance report</title><style>{_STYLE}</style></head><body>
<h1>Conformance report</h1>
<p id="verdict">{report['unexpected']} unexpected mismatches; {len(report['results'])} runs, {'quick' if s['quick'] else 'full'} suite,
device {html.escape(env['device'])} ({html.escape(str(env['device_name']))}), seed {s['seed']}, torch {html.escape(env['torch'])},
{html.escape(', '.join(f'{k} {v}' for k, v in env['frameworks'].items()))}.</p>
<table id="summary"><tr><th>implementation</th>{''.join(f'<th>{st}</th>' for st in STATUSES)}</tr>{summary}</table>
<h2>Worst cases</h2><table id="worst"><tr><th>status</th><th>implementation</th><th>case</th><th>detail</th></tr>{worst_rows}</table>
<h2>Traces of the worst cases</h2>{traces or '<p>No traces recorded.</p>'}
<h2>Heat map: worst error over tolerance per case</h2>{legend}{heatmap(report['results'])}
<h2>Notes</h2><ul>{notes}</ul></body></html>
"""


def write(report: dict[str, Any], out: str | Path) -> list[Path]:
    """Write the four report files into ``out`` (created); returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    texts = {"report.json": json.dumps(_finite(report), indent=1, allow_nan=False) + "\n", "report.md": markdown(report),
             "junit.xml": junit(report), "report.html": html_page(report)}
    paths = []
    for name, text in texts.items():
        tmp = out / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out / name)
        paths.append(out / name)
    return paths
