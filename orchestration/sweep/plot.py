"""The comparison page: `SWEEP/comparison.html`, plotly like the run report, the spec on top.

Two figures: every finished run's PnL curve (the sum of its symbols' equity
from events.jsonl's `Position` events, on seconds since the run's first
one, so slices of different days overlay), and per grid setting (and per
checkpoint and tick source) the spread of total PnL for each value (a box
per value, every run a point). Curves are thinned (`Thinned`) to keep the
page light for long runs.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import plotly.graph_objects as go  # type: ignore[import-untyped]
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from services.recorder.report_data import Thinned

CURVE_POINTS: Final = 1_000


def equity_curve(events: Path) -> tuple[list[float], list[float]]:
    """(seconds since the first Position event, the run's PnL then) from one events.jsonl."""
    latest: dict[str, float] = {}
    curve = Thinned(CURVE_POINTS)
    first_ns: int | None = None
    with events.open() as lines:
        for line in lines:
            if '"Position"' not in line:  # most lines are not; skip parsing them
                continue
            event = json.loads(line)
            if event.get("type") != "Position":
                continue
            first_ns = event["ts_ns"] if first_ns is None else first_ns
            latest[event["symbol"]] = event["equity"]
            curve.add(event["ts_ns"] - first_ns, sum(latest.values()))
    return [ns / 1e9 for ns in curve.times], curve.values


def comparison_page(spec_text: str, rows: Sequence[dict[str, Any]], runs: Path) -> str:
    """The whole page; `runs` is the folder holding each run's folder."""
    done = [r for r in rows if r["state"] == "done"]
    curves = go.Figure()
    for r in done:
        events = runs / r["run_id"] / "events.jsonl"
        if events.exists():
            seconds, pnl = equity_curve(events)
            curves.add_trace(
                go.Scatter(x=seconds, y=pnl, name=_label(r), line={"shape": "hv", "width": 1})
            )
    curves.update_layout(
        title_text="PnL through each run (quote currency)",
        xaxis_title="seconds since the run's first position",
        height=500,
    )
    groups = [
        "ticks",
        "checkpoint",
        *sorted({k for r in rows for k in r if k.startswith("setting.")}),
    ]
    spread = make_subplots(
        rows=1, cols=len(groups), subplot_titles=[g.removeprefix("setting.") for g in groups]
    )
    for col, group in enumerate(groups, start=1):
        for value in sorted({str(r.get(group)) for r in done}):
            picked = [r["pnl_total"] for r in done if str(r.get(group)) == value]
            spread.add_trace(
                go.Box(y=picked, name=value, boxpoints="all", showlegend=False), row=1, col=col
            )
    spread.update_layout(title_text="Total PnL per setting value (finished runs)", height=450)
    counts = {
        s: sum(1 for r in rows if r["state"] == s) for s in ("done", "failed", "pending", "running")
    }
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    return "\n".join(
        [
            "<!doctype html><html><head><meta charset='utf-8'><title>Sweep comparison</title>",
            "<style>body{font-family:sans-serif;margin:20px}pre{background:#f4f4f4;padding:8px}</style>",
            "</head><body><h1>Sweep comparison</h1>",
            f"<p>{len(rows)} runs: {html.escape(summary)}. The table: comparison.csv.</p>",
            f"<h2>Spec</h2><pre>{html.escape(spec_text)}</pre>",
            curves.to_html(full_html=False, include_plotlyjs=True, div_id="curves"),
            spread.to_html(full_html=False, include_plotlyjs=False, div_id="spread"),
            "</body></html>",
        ]
    )


def write_page(path: Path, page: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(page)
    partial.replace(path)  # a reader never sees half a page


def _label(r: dict[str, Any]) -> str:
    settings = " ".join(
        f"{k.removeprefix('setting.')}={v}" for k, v in r.items() if k.startswith("setting.")
    )
    return f"{r['ticks']} {r['checkpoint']} {settings}".strip()
