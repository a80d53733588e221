"""The end-of-run summary a person reads: a few lines from `result.json`'s numbers. Pure.

The recorder writes them at the end of run.log; the runner prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from common.logs import utc_now_text

TOP_REJECTION_REASONS: Final = 5


def summary_lines(result: Mapping[str, Any]) -> list[str]:
    """Ticks, orders, fills, PnL, fees, breaker trips (with time), the top rejection reasons."""
    counts = result.get("counts", {})
    pnl = result.get("pnl", {})
    lines = [
        f"run {result.get('run_id')} {result.get('exit_reason')}: "
        f"{counts.get('ticks', 0):,} ticks, {counts.get('predictions', 0):,} predictions, "
        f"{counts.get('orders', 0):,} orders, {counts.get('fills', 0):,} fills",
        f"PnL {pnl.get('total', 0.0):+.2f} (realized {pnl.get('realized', 0.0):+.2f}, "
        f"unrealized {pnl.get('unrealized', 0.0):+.2f}, fees {pnl.get('fees', 0.0):.2f}), "
        f"max drawdown {result.get('max_drawdown', 0.0):.2f}",
    ]
    breaker = result.get("circuit_breaker", {})
    trips = [
        f"at {utc_now_text(int(e.get('ts_ns', 0)))} (equity "
        f"{e.get('values', {}).get('equity', float('nan')):.2f})"
        for e in breaker.get("events", [])
    ]
    lines.append(
        f"circuit breaker tripped {len(trips)} time{'s' if len(trips) != 1 else ''}: "
        + "; ".join(trips)
        if trips
        else "circuit breaker never tripped"
    )
    rejections = sorted(counts.get("rejections", {}).items(), key=lambda item: (-item[1], item[0]))
    top = rejections[:TOP_REJECTION_REASONS]
    lines.append(
        f"rejections {sum(n for _, n in rejections):,}: "
        + ", ".join(f"{reason} {n:,}" for reason, n in top)
        + (f", {len(rejections) - len(top)} more reasons" if len(rejections) > len(top) else "")
        if rejections
        else "no rejections"
    )
    return lines
