"""The end-of-run summary a person reads: a few lines from `result.json`'s numbers. Pure.

The recorder writes them at the end of run.log; the runner prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from common.logs import utc_now_text

TOP_REJECTION_REASONS: Final = 5


def summary_lines(result: Mapping[str, Any]) -> list[str]:
    """Ticks, orders, fills, PnL, fees, breaker trips (with time), the top rejection reasons.

    A result the recorder never wrote (it died, or the disk was full) holds the
    journals' money alone: what only the recorder counted is said to be unknown,
    not printed as zero.
    """
    counts = result.get("counts", {})
    incomplete = " (incomplete)" if result.get("complete") is False else ""
    heading = f"run {result.get('run_id')} {result.get('exit_reason')}{incomplete}: "
    money = [
        f"{label}PnL {_signed(pnl.get('total'))} (realized {_signed(pnl.get('realized'))}, "
        f"unrealized {_signed(pnl.get('unrealized'))}, fees {pnl.get('fees', 0.0):.2f})"
        for label, pnl in _pnl_by_mode(result)  # paper and live money never added up
    ]
    if "ticks" not in counts:
        return [
            heading + f"{counts.get('fills', 0):,} fills in the executor journals; "
            "no result from the recorder, so ticks, orders, rejections and drawdown are unknown",
            *money,
        ]
    lines = [
        heading + f"{counts['ticks']:,} ticks, {counts.get('predictions', 0):,} predictions, "
        f"{counts.get('orders', 0):,} orders, {counts.get('fills', 0):,} fills",
        *money,
    ]
    lines[1] += f", max drawdown {result.get('max_drawdown', 0.0) or 0.0:.2f}"
    lines += [_breaker_line(result), _rejections_line(counts)]
    if result.get("shadow"):  # a shadow run: paper's distance from live, in one line
        lines.append(_shadow_line(result["shadow"]))
    return lines


def _breaker_line(result: Mapping[str, Any]) -> str:
    trips = [
        f"at {utc_now_text(int(e.get('ts_ns', 0)))} (equity "
        f"{e.get('values', {}).get('equity', float('nan')):.2f})"
        for e in result.get("circuit_breaker", {}).get("events", [])
    ]
    if not trips:
        return "circuit breaker never tripped"
    return f"circuit breaker tripped {len(trips)} time{'s' if len(trips) != 1 else ''}: " + (
        "; ".join(trips)
    )


def _rejections_line(counts: Mapping[str, Any]) -> str:
    rejections = sorted(counts.get("rejections", {}).items(), key=lambda item: (-item[1], item[0]))
    if not rejections:
        return "no rejections"
    top = rejections[:TOP_REJECTION_REASONS]
    more = len(rejections) - len(top)
    return (
        f"rejections {sum(n for _, n in rejections):,}: "
        + ", ".join(f"{reason} {n:,}" for reason, n in top)
        + (f", {more} more reasons" if more else "")
    )


def _shadow_line(shadow: Mapping[str, Any]) -> str:
    aggregate = shadow.get("aggregate", {})
    price = aggregate.get("price_diff_bps", {})
    text = f"shadow, paper minus live over {aggregate.get('orders', 0):,} orders: "
    if price.get("count"):
        low, high = price["ci95"]
        text += (
            f"price {price['mean']:+.3f} bps (95% CI {low:+.3f} to {high:+.3f}; "
            "< 0: paper optimistic)"
        )
    else:
        text += "no order filled on both sides"
    fill_ratio = aggregate.get("fill_ratio_diff", {}).get("mean")
    if fill_ratio is not None:
        text += f", fill ratio {fill_ratio:+.3f}"
    text += f", PnL gap {_signed(aggregate.get('pnl_gap', {}).get('total'))}"
    if not shadow.get("complete", False):
        why = [f"{len(shadow.get('twin_missing', []))} live orders missing from the twin's journal"]
        if shadow.get("twin_journal_torn"):
            why.append("its last line torn (a fill may be lost)")
        text += "; INCOMPLETE: " + ", ".join(why)
    return text


def _pnl_by_mode(result: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    by_mode = result.get("by_mode") or {}
    if by_mode:
        return [(f"{mode} ", book["pnl"]) for mode, book in by_mode.items()]
    return [("", result.get("pnl") or {})]


def _signed(value: float | None) -> str:
    return "?" if value is None else f"{value:+.2f}"
