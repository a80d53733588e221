"""Draw a run: ``python -m services.recorder.report RUN_DIR [--out report.html]``.

One self-contained HTML page (inline SVG, no scripts, no network) with the
equity curve, the price with fills marked (buys up, sells down) and the
position, and the drawdown, from the run's `events.jsonl` and `ticks.gz`.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.errors import TickFileError
from common.tickfile import TickFileReader

WIDTH, HEIGHT, PAD = 900, 220, 40
MAX_POINTS = 2_000  # per line: enough for the eye, small enough for the page


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    step = max(1, len(points) // MAX_POINTS)
    return points[::step] + ([points[-1]] if points and (len(points) - 1) % step else [])


def _scale(values: list[float], size: float, invert: bool) -> tuple[float, float, object]:
    low, high = min(values), max(values)
    span = (high - low) or 1.0

    def to_px(value: float) -> float:
        fraction = (value - low) / span
        return PAD + (1 - fraction if invert else fraction) * (size - 2 * PAD)

    return low, high, to_px


def svg_chart(
    title: str,
    lines: dict[str, list[tuple[float, float]]],
    marks: list[tuple[float, float, str]] | None = None,
) -> str:
    series = {name: _thin(points) for name, points in lines.items() if points}
    if not series:
        return f"<h2>{html.escape(title)}</h2><p>no data</p>"
    xs = [x for points in series.values() for x, _ in points]
    ys = [y for points in series.values() for _, y in points] + [y for _, y, _ in marks or []]
    _, _, x_px = _scale(xs, WIDTH, invert=False)
    low, high, y_px = _scale(ys, HEIGHT, invert=True)
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c"]
    parts = [
        f'<svg width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fafafa" stroke="#ccc"/>',
        f'<text x="4" y="{PAD - 8}" font-size="11">{high:,.4f}</text>',
        f'<text x="4" y="{HEIGHT - PAD + 14}" font-size="11">{low:,.4f}</text>',
    ]
    for colour, (name, points) in zip(colours, series.items()):
        path = " ".join(f"{x_px(x):.1f},{y_px(y):.1f}" for x, y in points)  # type: ignore[operator]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.2" points="{path}"/>'
        )
        parts.append(
            f'<text x="{WIDTH - 160}" y="{PAD - 8 + 14 * list(series).index(name)}" '
            f'font-size="11" fill="{colour}">{html.escape(name)}</text>'
        )
    for x, y, side in marks or []:
        colour, dy = ("#2ca02c", 6) if side == "buy" else ("#d62728", -6)
        cx, cy = x_px(x), y_px(y)  # type: ignore[operator]
        parts.append(f'<path d="M{cx:.1f},{cy:.1f} l-4,{dy} l8,0 z" fill="{colour}"/>')
    parts.append("</svg>")
    return f"<h2>{html.escape(title)}</h2>" + "".join(parts)


def symbol_table(result: dict[str, Any]) -> str:
    """One row per symbol: its limits in force, what it traded, where it ended."""
    limits = result.get("risk_limits") or {}
    positions = result.get("positions", {})
    activity = result.get("per_symbol", {})
    rows = []
    for symbol in sorted(set(positions) | set(activity)):
        done, held = activity.get(symbol, {}), positions.get(symbol, {})
        rejections = ", ".join(f"{k} {v:,}" for k, v in done.get("rejections", {}).items())
        cells = [
            symbol,
            _limit_text(limits, "max_position", symbol),
            _limit_text(limits, "max_order_notional", symbol),
            f"{done.get('orders', 0):,}",
            f"{done.get('fills', 0):,}",
            rejections or "none",
            f"{done.get('max_abs_position', 0.0):.8g}",
            f"{held.get('qty', 0.0):.8g}",
            f"{held.get('realized_pnl', 0.0) + held.get('unrealized_pnl', 0.0):+,.2f}",
            f"{held.get('fees', 0.0):,.2f}",
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    heads = [
        "symbol", "max position", "max order", "orders", "fills", "rejections",
        "largest |position|", "final position", "PnL before fees", "fees",
    ]  # fmt: skip
    return (
        "<h2>Per symbol</h2><table border='1' cellspacing='0' cellpadding='3'><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in heads)
        + "</tr>"
        + "".join(rows)
        + "</table>"
    )


def _limit_text(limits: dict[str, float], name: str, symbol: str) -> str:
    """The symbol's own limit if the run named it, else the default (`_USDT`: a notional)."""
    for key, value in limits.items():
        base, _, named = key.partition(" ")
        if named == symbol and base.startswith(name):
            return f"{value:g}{base[len(name) + 1 :]}"
    for key, value in limits.items():
        if " " not in key and key.startswith(name):
            return f"{value:g}{key[len(name) + 1 :]}"
    return "?"


def build_report(folder: Path) -> str:
    result = json.loads((folder / "result.json").read_text())
    equity: list[tuple[float, float]] = []
    drawdown: list[tuple[float, float]] = []
    position: list[tuple[float, float]] = []
    fills: list[tuple[float, float, str]] = []
    peak = 0.0
    for line in (folder / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "Position":
            t = event["ts_ns"] / 1e9
            equity.append((t, event["equity"]))
            peak = max(peak, event["equity"])
            drawdown.append((t, event["equity"] - peak))
            position.append((t, event["qty"]))
        elif event["type"] == "Fill":
            fills.append((event["ts_ns"] / 1e9, event["price"], event["side"]))
    prices: list[tuple[float, float]] = []
    with TickFileReader(folder / "ticks.gz") as reader:
        for tick in reader:
            if tick.mid is not None:
                prices.append((tick.recv_ts_ns / 1e9, tick.mid))
    pnl = result["pnl"]
    summary = (
        f"run {html.escape(result['run_id'])} &middot; {html.escape(result['mode'])} "
        f"&middot; {html.escape(result['executor'])} &middot; exit "
        f"{html.escape(result['exit_reason'])}<br>PnL {pnl['total']:+,.2f} "
        f"(realized {pnl['realized']:+,.2f}, unrealized {pnl['unrealized']:+,.2f}, "
        f"fees {pnl['fees']:,.2f}) &middot; max drawdown {result['max_drawdown']:,.2f} "
        f"&middot; {result['counts']['fills']} fills"
    )
    return "\n".join(
        [
            "<!doctype html><html><head><meta charset='utf-8'>",
            "<title>Paper Live Runner report</title>",
            "<style>body{font-family:sans-serif;margin:20px}",
            "h2{font-size:15px;margin:18px 0 4px}</style>",
            f"</head><body><h1>Paper-live run</h1><p>{summary}</p>",
            symbol_table(result),
            svg_chart("Equity (realized + unrealized - fees)", {"equity": equity}),
            svg_chart("Price (mid) with fills", {"mid": prices}, fills),
            svg_chart("Position (base units)", {"position": position}),
            svg_chart("Drawdown from the running peak", {"drawdown": drawdown}),
            "</body></html>",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.recorder.report")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, help="default: RUN_DIR/report.html")
    args = parser.parse_args(argv)
    try:
        page = build_report(args.run_dir)
    except (OSError, KeyError, ValueError, TickFileError) as e:
        print(f"report: {args.run_dir}: {e}", file=sys.stderr)
        return 2
    out = args.out or args.run_dir / "report.html"
    out.write_text(page)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
