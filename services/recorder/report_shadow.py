"""The report's shadow tables: paper against live, in aggregate and order by order.

Drawn from result.json's `shadow` section (orchestration/shadow_fidelity.py),
present only in shadow runs (`--shadow`). Every difference is paper minus
live; a negative price difference means paper was optimistic. A section that
is not complete (the twin's journal lacks orders, or its last line is torn)
says so above the tables.
"""

from __future__ import annotations

import html
from typing import Any, Final

FIGURE_NAMES: Final = {
    "price_diff_bps": "price difference (bps, side-adjusted)",
    "fee_diff": "fee difference (quote)",
    "fill_ratio_diff": "fill ratio difference",
    "first_fill_ms_diff": "time to first fill difference (ms)",
    "full_fill_ms_diff": "time to full fill difference (ms)",
    "pnl_gap": "PnL gap at the last mid (quote)",
}


def shadow_tables(result: dict[str, Any]) -> str:
    """The aggregate and the per-order table; "" when the run was no shadow run."""
    shadow = result.get("shadow")
    if not shadow:
        return ""
    parts = [
        "<h2>Shadow: paper against live (paper minus live; price &lt; 0: paper optimistic)</h2>"
    ]
    if not shadow.get("complete", False):
        missing = ", ".join(shadow.get("twin_missing", [])) or "none"
        torn = "yes" if shadow.get("twin_journal_torn") else "no"
        parts.append(
            "<p class='incomplete'>Incomplete: the twin's journal lacks orders "
            f"({html.escape(missing)}); torn last line: {torn}.</p>"
        )
    parts.append(_aggregate(shadow.get("aggregate", {})))
    parts.append(_orders(shadow.get("orders", [])))
    return "<section class='shadow'>" + "".join(parts) + "</section>"


def _aggregate(aggregate: dict[str, Any]) -> str:
    rows = []
    for name, title in FIGURE_NAMES.items():
        figure = aggregate.get(name, {})
        interval = figure.get("ci95")
        cells = [
            title,
            str(figure.get("count", 0)),
            _number(figure.get("mean")),
            _number(figure.get("median")),
            "n/a" if not interval else f"[{_number(interval[0])}, {_number(interval[1])}]",
            _number(figure.get("total")) if "total" in figure else "",
        ]
        rows.append(_row(cells))
    heads = ["figure", "orders", "mean", "median", "95% CI of the mean (bootstrap)", "total"]
    return _table(f"Aggregate over {aggregate.get('orders', 0)} orders", heads, rows)


def _orders(orders: list[dict[str, Any]]) -> str:
    rows = []
    for order in orders:
        live, paper = order.get("live", {}), order.get("paper", {})
        cells = [
            order.get("order_id", "?"),
            order.get("side", "?"),
            f"{order.get('qty', 0.0):.8g}",
            _number(live.get("avg_price")),
            _number(paper.get("avg_price")),
            _number(order.get("price_diff_bps")),
            _number(order.get("fee_diff")),
            f"{_number(live.get('fill_ratio'))} / {_number(paper.get('fill_ratio'))}",
            f"{_number(live.get('first_fill_ms'))} / {_number(paper.get('first_fill_ms'))}",
            _number(order.get("pnl_gap")),
        ]
        rows.append(_row(cells))
    heads = [
        "order", "side", "qty", "live price", "paper price", "price diff (bps)",
        "fee diff", "fill ratio live / paper", "first fill ms live / paper", "PnL gap",
    ]  # fmt: skip
    return _table("Per order", heads, rows)


def _number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, (int, float)) else "n/a"


def _row(cells: list[str]) -> str:
    return "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"


def _table(caption: str, heads: list[str], rows: list[str]) -> str:
    return (
        f"<table border='1' cellspacing='0' cellpadding='3'><caption>{html.escape(caption)}"
        "</caption><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in heads)
        + "</tr>"
        + "".join(rows)
        + "</table>"
    )
