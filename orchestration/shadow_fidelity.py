"""Shadow fidelity: how far the paper twin's fills are from the live ones, order by order. Pure.

A shadow run (`--shadow`) sends every order live at the pair's minimum size
and gives the very same order (id, terms, send time) to a paper twin
(`services/executor/shadow.py`). Both books are journaled: the live one in
`executor-live.journal`, the twin's in `executor-shadow.journal`. This module
pairs their orders by order id and measures, per order, paper minus live:

- `price_diff_bps`: the average fill prices, side-adjusted so that negative
  means paper was optimistic: buy `(paper - live) / live * 1e4`, sell
  `(live - paper) / live * 1e4` (paper bought cheaper or sold dearer);
- `fee_diff`: paper's fees minus live's (quote currency);
- `fill_ratio_diff`: the share of the order each side filled;
- `first_fill_ms_diff`, `full_fill_ms_diff`: time from the order's send
  time (its `OrderSubmitted.ts_ns`, the same for both) to its first and to
  its last fill, when it filled whole;
- `pnl_gap`: the mark-to-market PnL of the twin's fills minus the live
  fills', at the run's last mid of the symbol (fees included).

The aggregate gives, for each figure, count, mean, median and a seeded
bootstrap 95% confidence interval of the mean (`BOOTSTRAP_RESAMPLES`
resamples): the same journals always give the same interval. A live order
the twin's journal does not know (the twin's journal is torn or the twin
stopped early) is listed under `twin_missing` and makes the section
`complete: false`; it never becomes a figure.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from common.journal import (
    JOURNAL_FILES,
    SESSION_STARTED,
    SHADOW_JOURNAL,
    read_entries,
    read_entries_and_tail,
)
from common.messages import Fill, OrderSubmitted, RiskEvent, Side
from services.executor.quantities import add, exact
from services.executor.shadow import ShadowLiveExecutor

BOOTSTRAP_RESAMPLES: Final = 2_000
BOOTSTRAP_SEED: Final = 20_261_207
CONFIDENCE: Final = 0.95
# The figures the aggregate summarises, in the order the report shows them.
FIGURES: Final = (
    "price_diff_bps",
    "fee_diff",
    "fill_ratio_diff",
    "first_fill_ms_diff",
    "full_fill_ms_diff",
    "pnl_gap",
)
FULL_FILL_SLACK: Final = 1e-9  # base units: a float sum this close to the order is whole


@dataclass
class Execution:
    """One side's fills of one order."""

    fills: list[Fill] = field(default_factory=list)

    # Sums in decimal: one fill's average is its own price, not a float's neighbour.
    @property
    def filled(self) -> float:
        return add(*(f.qty for f in self.fills))

    @property
    def fee(self) -> float:
        return add(*(f.fee for f in self.fills))

    @property
    def avg_price(self) -> float | None:
        if not self.fills:
            return None
        cost = sum((exact(f.qty) * exact(f.price) for f in self.fills), start=exact(0.0))
        return float(cost / sum((exact(f.qty) for f in self.fills), start=exact(0.0)))

    def pnl_at(self, mark: float | None) -> float | None:
        """Mark-to-market PnL of these fills at `mark`, fees paid; None without a mark."""
        if not self.fills:
            return 0.0
        if mark is None:
            return None
        gross = sum(
            (mark - f.price) * f.qty if f.side is Side.BUY else (f.price - mark) * f.qty
            for f in self.fills
        )
        return gross - self.fee

    def first_fill_ms(self, sent_ns: int) -> float | None:
        if not self.fills:
            return None
        return (min(f.ts_ns for f in self.fills) - sent_ns) / 1e6

    def full_fill_ms(self, sent_ns: int, qty: float) -> float | None:
        if self.filled < qty - FULL_FILL_SLACK:
            return None
        return (max(f.ts_ns for f in self.fills) - sent_ns) / 1e6


@dataclass
class OrderPair:
    """An order as the live executor sent it, with its live and its twin's fills."""

    order: OrderSubmitted
    live: Execution = field(default_factory=Execution)
    paper: Execution = field(default_factory=Execution)


def pair_orders(
    live_entries: Iterable[object], twin_entries: Iterable[object]
) -> tuple[list[OrderPair], list[str]]:
    """The live orders the twin also carried, in send order; and the ids it does not know.

    Fills are matched to orders by order id; a twin order the live journal
    does not have (never sent live) is ignored: live is the reference.
    """
    pairs: dict[str, OrderPair] = {}
    live_fills: list[Fill] = []
    for entry in live_entries:
        if isinstance(entry, OrderSubmitted):
            pairs[entry.order_id] = OrderPair(entry)
        elif isinstance(entry, Fill):
            live_fills.append(entry)
    twin_orders: set[str] = set()
    twin_fills: list[Fill] = []
    for entry in twin_entries:
        if isinstance(entry, OrderSubmitted):
            twin_orders.add(entry.order_id)
        elif isinstance(entry, Fill):
            twin_fills.append(entry)
    for fill in live_fills:
        if fill.order_id in pairs:
            pairs[fill.order_id].live.fills.append(fill)
    for fill in twin_fills:
        if fill.order_id in pairs:
            pairs[fill.order_id].paper.fills.append(fill)
    missing = [order_id for order_id in pairs if order_id not in twin_orders]
    paired = [pair for order_id, pair in pairs.items() if order_id in twin_orders]
    return paired, missing


def price_diff_bps(side: Side, live_price: float, paper_price: float) -> float:
    """Paper's price against live's in bps, signed so that negative means paper was optimistic."""
    diff = paper_price - live_price if side is Side.BUY else live_price - paper_price
    return diff / live_price * 1e4


def order_figures(pair: OrderPair, mark: float | None) -> dict[str, Any]:
    """One row of the per-order table: both sides' figures and paper minus live."""
    order = pair.order
    sides: dict[str, dict[str, Any]] = {}
    for name, execution in (("live", pair.live), ("paper", pair.paper)):
        sides[name] = {
            "avg_price": execution.avg_price,
            "filled": execution.filled,
            "fill_ratio": execution.filled / order.qty,
            "fee": execution.fee,
            "first_fill_ms": execution.first_fill_ms(order.ts_ns),
            "full_fill_ms": execution.full_fill_ms(order.ts_ns, order.qty),
            "pnl": execution.pnl_at(mark),
            "fills": len(execution.fills),
        }
    live, paper = sides["live"], sides["paper"]
    row: dict[str, Any] = {
        "order_id": order.order_id,
        "symbol": order.symbol,
        "side": str(order.side),
        "order_type": str(order.order_type),
        "qty": order.qty,
        "sent_ns": order.ts_ns,
        "live": live,
        "paper": paper,
        "price_diff_bps": None,
        "fee_diff": paper["fee"] - live["fee"],
        "fill_ratio_diff": paper["fill_ratio"] - live["fill_ratio"],
        "first_fill_ms_diff": _difference(paper["first_fill_ms"], live["first_fill_ms"]),
        "full_fill_ms_diff": _difference(paper["full_fill_ms"], live["full_fill_ms"]),
        "pnl_gap": _difference(paper["pnl"], live["pnl"]),
    }
    if live["avg_price"] is not None and paper["avg_price"] is not None:
        row["price_diff_bps"] = price_diff_bps(order.side, live["avg_price"], paper["avg_price"])
    return row


def _difference(paper: float | None, live: float | None) -> float | None:
    return None if paper is None or live is None else paper - live


def bootstrap_ci(
    values: Sequence[float],
    *,
    seed: int = BOOTSTRAP_SEED,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> tuple[float, float] | None:
    """A percentile bootstrap confidence interval of the mean; None without values.

    Seeded: the same values always give the same interval.
    """
    if not values:
        return None
    sample = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = sample[rng.integers(0, len(sample), size=(resamples, len(sample)))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def summarise(values: Sequence[float], *, seed: int = BOOTSTRAP_SEED) -> dict[str, Any]:
    """Count, mean, median and the bootstrap interval of the mean of one figure."""
    if not values:
        return {"count": 0, "mean": None, "median": None, "ci95": None}
    interval = bootstrap_ci(values, seed=seed)
    return {
        "count": len(values),
        "mean": statistics.fmean(values),
        "median": statistics.median(values),
        "ci95": list(interval) if interval is not None else None,
    }


def fidelity(
    live_entries: Iterable[object],
    twin_entries: Iterable[object],
    marks: dict[str, float],
    *,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, Any]:
    """result.json's `shadow` section: the per-order table and its aggregate.

    `marks`: each symbol's last quote mid of the run (for the PnL gap).
    """
    pairs, missing = pair_orders(live_entries, twin_entries)
    orders = [order_figures(pair, marks.get(pair.order.symbol)) for pair in pairs]
    aggregate: dict[str, Any] = {"orders": len(orders)}
    for name in FIGURES:
        values = [row[name] for row in orders if row[name] is not None]
        aggregate[name] = summarise(values, seed=seed)
    aggregate["fee_diff"]["total"] = sum(row["fee_diff"] for row in orders)
    gaps = [row["pnl_gap"] for row in orders if row["pnl_gap"] is not None]
    aggregate["pnl_gap"]["total"] = sum(gaps)
    return {
        "complete": not missing,
        "twin_missing": missing,
        "twin_journal": SHADOW_JOURNAL,
        "sign": "paper minus live; price_diff_bps < 0: paper was optimistic",
        "bootstrap": {"resamples": BOOTSTRAP_RESAMPLES, "seed": seed, "confidence": CONFIDENCE},
        "aggregate": aggregate,
        "orders": orders,
    }


def shadow_sessions_only(entries: Iterable[object]) -> list[object]:
    """The live journal without the orders of sessions that were not shadow sessions.

    A swap ends shadow mode (the swapped-in executor is plain live or paper):
    the plain live orders after it never had a twin, and are not missing one.
    A session is a shadow one when its start mark names `ShadowLiveExecutor`.
    """
    kept: list[object] = []
    in_shadow = True  # a journal from before sessions were marked: taken as it is
    for entry in entries:
        if isinstance(entry, RiskEvent) and entry.kind == SESSION_STARTED:
            in_shadow = entry.detail.startswith(ShadowLiveExecutor.__name__)
        elif isinstance(entry, OrderSubmitted) and not in_shadow:
            continue
        kept.append(entry)
    return kept


def shadow_section(run_dir: Path, marks: dict[str, float]) -> dict[str, Any] | None:
    """`fidelity` of a run folder's live and twin journals; None if the run was no shadow run.

    A twin journal whose last line is torn (the executor died mid-write) may
    have lost a fill: the section says so and is not `complete`.

    Raises:
        JournalCorrupt: a journal is damaged before its last line.
    """
    twin_path = run_dir / SHADOW_JOURNAL
    if not twin_path.exists():
        return None
    live = shadow_sessions_only(read_entries(run_dir / JOURNAL_FILES["live"]))
    twin, torn = read_entries_and_tail(twin_path)
    section = fidelity(live, twin, marks)
    section["twin_journal_torn"] = torn
    section["complete"] = section["complete"] and not torn
    return section
