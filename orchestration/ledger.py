"""The run's money, recomputed from the executor journals: the book of record.

Every executor session appends to its mode's journal (`executor.journal` for
paper, `executor-live.journal` for live) and marks its start with a
`RiskEvent` of kind `SESSION_STARTED`. From those files alone this module
rebuilds each session (orders, fills, fees, realized PnL, the position it
ended with) and the totals per mode, so `result.json` says the same as the
journals whatever ended the run: a recorder that died, a feed or model
killed mid-run, a paper -> live swap, a resumed replay (whose recorder heard
only the events after the resume). Paper and live money are never added
into one figure; the order counts (orders, rejections by reason, targets)
cover both journals.

Unrealized PnL needs a price: it is marked at the last quote of each symbol
in the run's own tick file when there is one, and left out (None) otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from common.errors import TickFileError
from common.journal import JOURNAL_FILES, SESSION_STARTED, read_entries
from common.logs import utc_now_text
from common.messages import (
    Fill,
    OrderCancelled,
    OrderRejected,
    OrderSubmitted,
    RiskEvent,
    TickKind,
)
from common.tickfile import TickFileReader
from services.executor import quantities
from services.executor.positions import PositionState

MODES: Final = tuple(JOURNAL_FILES)  # ("paper", "live")


@dataclass
class OrderCounts:
    """What the executors decided, from the journals: orders, rejections, targets."""

    orders: int = 0
    rejections: dict[str, int] = field(default_factory=dict)
    target_ids: set[str] = field(default_factory=set)
    cancels: dict[str, int] = field(default_factory=dict)  # by reason

    def merge(self, other: OrderCounts) -> None:
        self.orders += other.orders
        for reason, n in other.cancels.items():
            self.cancels[reason] = self.cancels.get(reason, 0) + n
        for reason, n in other.rejections.items():
            self.rejections[reason] = self.rejections.get(reason, 0) + n
        self.target_ids |= other.target_ids

    def add(self, entry: OrderSubmitted | OrderRejected) -> None:
        self.target_ids.add(entry.target_id)
        if isinstance(entry, OrderSubmitted):
            self.orders += 1
        else:
            reason = str(entry.reason)
            self.rejections[reason] = self.rejections.get(reason, 0) + 1


@dataclass
class Session:
    """One executor process's stretch of a journal."""

    mode: str
    executor: str  # the class and how it trades, as the executor said at start
    started_ns: int | None = None  # None: a journal from before sessions were marked
    ended_ns: int | None = None  # its last order decision (fills carry market time)
    decisions: OrderCounts = field(default_factory=OrderCounts)
    fills: list[Fill] = field(default_factory=list)
    risk_limits: dict[str, float] | None = None  # as the session's mark gave them


@dataclass
class ModeBook:
    """Positions of one mode, across its sessions in order."""

    positions: dict[str, PositionState] = field(default_factory=dict)

    def apply(self, fill: Fill) -> None:
        book = self.positions.setdefault(fill.symbol, PositionState(fill.symbol))
        book.apply(fill)

    def realized_and_fees(self) -> tuple[float, float]:
        positions = self.positions.values()  # summed in decimal: exact totals stay exact
        realized = quantities.add(*(p.realized_pnl for p in positions))
        return realized, quantities.add(*(p.fees for p in positions))


def sessions(run_dir: Path) -> list[Session]:
    """Every executor session of the run, in the order they started (paper, live, paper...).

    Raises:
        JournalCorrupt: a journal damaged before its last line (from `common.journal`).
    """
    found: list[Session] = []
    for mode in MODES:
        found += _sessions_of(mode, run_dir / JOURNAL_FILES[mode])
    # Each journal is in order already; a stable sort interleaves them by start
    # (an unmarked session, from before sessions were marked, stays first).
    return sorted(found, key=lambda session: session.started_ns or 0)


def order_counts(found: list[Session]) -> dict[str, Any]:
    """`counts.orders`, `counts.rejections` (by reason) and `counts.targets`, over `found`."""
    counts = OrderCounts()
    liquidity = {"maker": 0, "taker": 0}
    for session in found:
        counts.merge(session.decisions)
        for fill in session.fills:
            liquidity[str(fill.liquidity)] += 1
    return {
        "orders": counts.orders,
        "rejections": dict(sorted(counts.rejections.items())),
        "targets": len(counts.target_ids),
        "cancels": dict(sorted(counts.cancels.items())),
        "fills_by_liquidity": liquidity,
    }


def _sessions_of(mode: str, path: Path) -> Iterator[Session]:
    current: Session | None = None
    for entry in read_entries(path):
        if isinstance(entry, RiskEvent) and entry.kind == SESSION_STARTED:
            if current is not None:
                yield current
            current = Session(
                mode,
                entry.detail,
                started_ns=entry.ts_ns,
                ended_ns=entry.ts_ns,
                risk_limits=dict(entry.values) or None,  # marks before limits were kept: none
            )
            continue
        if current is None:
            current = Session(mode, "unknown (journal written before sessions were marked)")
        if isinstance(entry, Fill):
            current.fills.append(entry)
        elif isinstance(entry, OrderCancelled):
            reason = str(entry.reason)
            current.decisions.cancels[reason] = current.decisions.cancels.get(reason, 0) + 1
        elif isinstance(entry, (OrderSubmitted, OrderRejected)):  # stamped by the wall clock
            current.decisions.add(entry)
            current.ended_ns = max(current.ended_ns or 0, entry.ts_ns)
    if current is not None:
        yield current


def quote_marks(tick_file: Path) -> tuple[dict[str, float], dict[str, float]]:
    """Each symbol's first and last quote mid in a tick file (as far as it can be read).

    The last value the positions (`money`); the first and the last, the paper
    account's equity (`account_book`): one read of the file serves both.
    """
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    try:
        with TickFileReader(tick_file) as reader:
            for tick in reader:
                if tick.kind is TickKind.QUOTE and tick.bid is not None and tick.ask is not None:
                    last[tick.symbol] = (tick.bid + tick.ask) / 2
                    first.setdefault(tick.symbol, last[tick.symbol])
    except (OSError, TickFileError):
        pass  # a torn or missing file: what was read is still the run's market
    return first, last


def money(run_dir: Path, marks: dict[str, float]) -> dict[str, Any]:
    """The `result.json` sections that come from the journals: sessions and totals per mode."""
    books: dict[str, ModeBook] = {}
    fills: dict[str, int] = {}
    described = []
    found = sessions(run_dir)
    for session in found:
        book = books.setdefault(session.mode, ModeBook())
        fills[session.mode] = fills.get(session.mode, 0) + len(session.fills)
        before = book.realized_and_fees()
        for fill in session.fills:
            book.apply(fill)
        after = book.realized_and_fees()
        described.append(
            {
                "mode": session.mode,
                "executor": session.executor,
                "started_at": _time(session.started_ns),
                "ended_at": _time(session.ended_ns),
                "orders": session.decisions.orders,
                "fills": len(session.fills),
                "fees": quantities.subtract(after[1], before[1]),
                "realized_pnl": quantities.subtract(after[0], before[0]),
                "positions_at_end": {s: p.qty for s, p in sorted(book.positions.items())},
                "risk_limits": session.risk_limits,
            }
        )
    by_mode = {mode: _totals(book, marks, fills[mode]) for mode, book in books.items()}
    return {"sessions": described, "by_mode": by_mode, "counts": order_counts(found)}


def _totals(book: ModeBook, marks: dict[str, float], fills: int) -> dict[str, Any]:
    for symbol, position in book.positions.items():
        position.mark_price = marks.get(symbol)
    unmarked = [s for s, p in book.positions.items() if p.qty != 0 and p.mark_price is None]
    realized, fees = book.realized_and_fees()
    unrealized = None if unmarked else sum(p.unrealized_pnl for p in book.positions.values())
    return {
        "fills": fills,
        "pnl": {
            "realized": realized,
            "unrealized": unrealized,
            "fees": fees,
            "total": None if unrealized is None else realized + unrealized - fees,
        },
        "positions": {
            p.symbol: {
                "qty": p.qty,
                "avg_price": p.avg_price,
                "realized_pnl": p.realized_pnl,
                "unrealized_pnl": None if p.mark_price is None else p.unrealized_pnl,
                "fees": p.fees,
                "mark_price": p.mark_price,
            }
            for p in sorted(book.positions.values(), key=lambda p: p.symbol)
        },
    }


def _time(ts_ns: int | None) -> str | None:
    return utc_now_text(ts_ns) if ts_ns else None
