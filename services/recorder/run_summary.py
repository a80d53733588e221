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
    incomplete = " (incomplete)" if result.get("complete") is False else ""
    lines = [
        f"run {result.get('run_id')} {result.get('exit_reason')}{incomplete}: "
        f"{counts.get('ticks', 0):,} ticks, {counts.get('predictions', 0):,} predictions, "
        f"{counts.get('orders', 0):,} orders, {counts.get('fills', 0):,} fills",
    ]
    for label, pnl in _pnl_by_mode(result):  # paper and live money never added up
        lines.append(
            f"{label}PnL {_signed(pnl.get('total'))} (realized {_signed(pnl.get('realized'))}, "
            f"unrealized {_signed(pnl.get('unrealized'))}, fees {pnl.get('fees', 0.0):.2f})"
        )
    lines[1] += f", max drawdown {result.get('max_drawdown', 0.0) or 0.0:.2f}"
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


def _pnl_by_mode(result: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    by_mode = result.get("by_mode") or {}
    if by_mode:
        return [(f"{mode} ", book["pnl"]) for mode, book in by_mode.items()]
    return [("", result.get("pnl") or {})]


def _signed(value: float | None) -> str:
    return "?" if value is None else f"{value:+.2f}"
