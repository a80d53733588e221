"""Draw a run: ``python -m services.recorder.report RUN_DIR [--out report.html]``.

One self-contained HTML page (plotly, its script inline: no network) with a
header (the run's settings, risk limits, balances and results) and, per
symbol, one set of panels on a shared UTC time axis: the price with every
fill marked (buys up, sells down) and breaker trips as vertical lines, the
position, equity and drawdown from its running peak, fees paid, and the
rejections by reason; a shadow run (`--shadow`) adds paper's distance from
live, in aggregate and per order. `orchestration.paper_live` writes it at the end of
every run. Plotly, not matplotlib: the page zooms into hours of a long run,
hovers a fill's size and fee, and opens in the same browser as the dashboard.
"""

from __future__ import annotations

import argparse
import html
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from common.errors import TickFileError
from services.recorder.report_data import RUN_WIDE, RunData, SymbolSeries, read_run
from services.recorder.report_shadow import shadow_tables
from services.recorder.report_symbols import symbol_table

PANELS: Final = (
    "Price (mid) and fills",
    "Position (base units)",
    "Equity and drawdown (quote currency)",
    "Fees paid (quote currency)",
    "Rejections",
)
BUY, SELL = "#2ca02c", "#d62728"


def _times(values: Sequence[int]) -> list[datetime]:
    return [datetime.fromtimestamp(ns / 1e9, tz=UTC) for ns in values]


def symbol_figure(series: SymbolSeries, risk_events: list[dict[str, Any]]) -> go.Figure:
    """The panels of one symbol, one under the other, sharing the time axis."""
    figure = make_subplots(
        rows=len(PANELS), cols=1, shared_xaxes=True, vertical_spacing=0.04, subplot_titles=PANELS
    )
    price = series.price
    figure.add_trace(
        go.Scatter(x=_times(price.times), y=price.values, name="mid", line={"width": 1}), 1, 1
    )
    for side, colour, symbol in (("buy", BUY, "triangle-up"), ("sell", SELL, "triangle-down")):
        fills = [f for f in series.fills if f["side"] == side]
        figure.add_trace(
            go.Scatter(
                x=_times([f["ts_ns"] for f in fills]),
                y=[f["price"] for f in fills],
                mode="markers",
                name=f"{side} fills ({len(fills)})",
                marker={"symbol": symbol, "color": colour, "size": 9},
                customdata=[[f["qty"], f["fee"], f["order_id"]] for f in fills],
                hovertemplate="%{x}<br>%{y} x %{customdata[0]}<br>fee %{customdata[1]}"
                "<br>%{customdata[2]}<extra>" + side + "</extra>",
            ),
            1,
            1,
        )
    lines = (
        (2, series.position, "position", None),
        (3, series.equity, "equity", None),
        (3, series.drawdown, "drawdown", "tozeroy"),
        (4, series.fees, "fees", None),
    )
    for row, line, name, fill in lines:
        figure.add_trace(
            go.Scatter(
                x=_times(line.times), y=line.values, name=name, line={"shape": "hv"}, fill=fill
            ),
            row,
            1,
        )
    rejections = series.rejections
    figure.add_trace(
        go.Scatter(
            x=_times([r["ts_ns"] for r in rejections]),
            y=[r["reason"] for r in rejections],
            mode="markers",
            name=f"rejections ({len(rejections)})",
            marker={"symbol": "x", "color": "#9467bd"},
            text=[r.get("detail", "") for r in rejections],
        ),
        5,
        1,
    )
    for event in risk_events:
        if event["symbol"] not in (series.symbol, RUN_WIDE):
            continue
        when = datetime.fromtimestamp(event["ts_ns"] / 1e9, tz=UTC)
        colour = "red" if event["kind"] == "circuit_breaker_tripped" else "orange"
        figure.add_vline(x=when, line={"color": colour, "dash": "dash"})  # every panel
        figure.add_annotation(
            x=when, y=1, yref="paper", text=html.escape(str(event["kind"])), showarrow=False
        )
    figure.update_xaxes(title_text="time (UTC)", row=len(PANELS), col=1)
    figure.update_layout(
        height=1100, title_text=series.symbol, hovermode="x unified", margin={"t": 80}
    )
    return figure


def header(data: RunData) -> str:
    """The run's results, settings, risk limits and balances, as plain tables."""
    result = data.result
    pnl, counts = result.get("pnl", {}), result.get("counts", {})
    breaker = result.get("circuit_breaker", {})
    results = {
        "run": result.get("run_id"),
        "mode": f"{result.get('mode')} ({result.get('executor')})",
        "exit": result.get("exit_reason"),
        "started": result.get("started_at"),
        "ended": result.get("ended_at"),
        "PnL total": _money(pnl.get("total")),
        "realized / unrealized / fees": " / ".join(
            _money(pnl.get(k)) for k in ("realized", "unrealized", "fees")
        ),
        "max drawdown": _money(result.get("max_drawdown")),
        "ticks / orders / fills": " / ".join(
            str(counts.get(k)) for k in ("ticks", "orders", "fills")
        ),
        "rejections": ", ".join(f"{k} {v}" for k, v in counts.get("rejections", {}).items())
        or "none",
        "breaker": f"tripped {breaker.get('activations', 0)}x"
        if breaker.get("tripped")
        else "never tripped",
    }
    settings = {k: v for k, v in sorted(result.get("config", {}).items()) if k.startswith("PLR_")}
    tables = [_table("Results", results), _table("Settings", settings)]
    tables.append(_table("Risk limits", result.get("risk_limits") or {"(not recorded)": ""}))
    balances = result.get("balances")
    if balances:
        tables.append(_table("Balances", balances))
    if data.dropped_marks:
        tables.append(f"<p>{data.dropped_marks} fills or rejections past the marking limit.</p>")
    return "<div class='header'>" + "".join(tables) + "</div>"


def _money(value: Any) -> str:
    return f"{value:+,.4f}" if isinstance(value, (int, float)) else "n/a"


def _table(title: str, rows: dict[str, Any]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in rows.items()
    )
    return f"<table><caption>{html.escape(title)}</caption>{body}</table>"


def build_report(folder: Path) -> str:
    data = read_run(folder)
    sections = []
    for index, symbol in enumerate(sorted(data.symbols)):
        figure = symbol_figure(data.symbols[symbol], data.risk_events)
        plot = figure.to_html(
            full_html=False, include_plotlyjs=index == 0, div_id=f"symbol-{index}"
        )
        sections.append(
            f"<section class='symbol' data-symbol='{html.escape(symbol)}'>{plot}</section>"
        )
    if not sections:
        sections.append("<p>No market data and no positions in this run.</p>")
    title = f"Paper-live run {html.escape(str(data.result.get('run_id')))}"
    return "\n".join(
        [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>{title}</title>",
            "<style>body{font-family:sans-serif;margin:20px}.header{display:flex;gap:24px;"
            "flex-wrap:wrap}table{border-collapse:collapse;font-size:13px}caption{font-weight:bold;"
            "text-align:left}th{text-align:left;padding-right:10px}</style>",
            f"</head><body><h1>{title}</h1>",
            header(data),
            symbol_table(data.result),
            shadow_tables(data.result),  # a shadow run's paper-against-live tables
            *sections,
            "</body></html>",
        ]
    )


def write_report(folder: Path, out: Path | None = None) -> Path:
    """Write the report page (default RUN_DIR/report.html); return its path."""
    out = out or folder / "report.html"
    page = build_report(folder)
    temporary = out.with_suffix(".tmp")
    temporary.write_text(page)
    temporary.replace(out)  # a reader never sees half a page
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.recorder.report")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, help="default: RUN_DIR/report.html")
    args = parser.parse_args(argv)
    try:
        out = write_report(args.run_dir, args.out)
    except (OSError, KeyError, ValueError, TickFileError) as e:
        print(f"report: {args.run_dir}: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
