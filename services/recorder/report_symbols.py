"""The report's per-symbol table: each symbol's limits in force, what it traded, where it ended."""

from __future__ import annotations

import html
from typing import Any


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
