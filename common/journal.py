"""The executor's append-only journal: crash-safe positions, PnL and breaker.

It lives in the run directory and is the run's book of record: the executor
rebuilds from it, and the recorder reconciles its event stream against it.

One JSON line per `OrderSubmitted`, `OrderRejected`, `Fill` and `RiskEvent`,
written and flushed to the OS *before* the event is published, so a crash
(SIGTERM or kill -9) can lose only what nobody saw. On start the journal is
read back: fills rebuild positions and PnL, a `circuit_breaker_tripped` event
re-trips the breaker, target ids are not acted on twice; for a live venue,
orders neither filled nor rejected are listed for reconciliation, and the
account's balance outside this run is kept as a baseline. A torn last line
(the crash hit mid-write) is dropped with a warning; damage before it is an
error: guessing a position is worse than not starting.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Final

import msgspec

from common.errors import JournalCorrupt
from common.messages import Fill, OrderRejected, OrderSubmitted, RiskEvent

log = logging.getLogger(__name__)

# Paper and live keep separate books, so a live executor never inherits paper positions.
JOURNAL_FILES: Final = {"paper": "executor.journal", "live": "executor-live.journal"}
VENUE_BASELINE: Final = "venue_balance_baseline"  # RiskEvent kind, journaled at a first live start
# RiskEvent kind journaled (never published) when an executor process starts: it
# divides a journal into sessions (orchestration.ledger); `detail` names the executor.
SESSION_STARTED: Final = "executor_session_started"
JournalEntry = OrderSubmitted | OrderRejected | Fill | RiskEvent
_decoder = msgspec.json.Decoder(JournalEntry)
_encoder = msgspec.json.Encoder()


@dataclass
class OrderProgress:
    """A journaled order and what its journaled fills add up to (quote-currency sums)."""

    order: OrderSubmitted
    filled: float = 0.0
    cost: float = 0.0
    fee: float = 0.0
    closed: bool = False  # a rejection of its remainder ends it

    @property
    def remaining(self) -> float:
        return 0.0 if self.closed else max(self.order.qty - self.filled, 0.0)


@dataclass
class JournalState:
    fills: list[Fill] = field(default_factory=list)
    target_ids: set[str] = field(default_factory=set)
    orders: int = 0
    breaker_tripped: bool = False
    torn_tail: bool = False
    progress: dict[str, OrderProgress] = field(default_factory=dict)
    # Live: the venue's base-asset balance that is not this run's, per symbol.
    venue_baselines: dict[str, float] = field(default_factory=dict)

    def unresolved(self) -> list[OrderProgress]:
        """Orders with quantity neither filled nor rejected: a live venue may still hold them.

        (Lot-size dust below 1e-12 is float noise, not an open quantity.)
        """
        return [p for p in self.progress.values() if p.remaining > 1e-12]


def read_entries(path: Path) -> list[JournalEntry]:
    """Every entry of a journal in order (none if it does not exist); a torn last line is left out.

    Raises:
        JournalCorrupt: a line before the last cannot be read.
    """
    return _read(path)[0]


def _read(path: Path) -> tuple[list[JournalEntry], bool]:
    if not path.exists():
        return [], False
    entries: list[JournalEntry] = []
    torn_tail = False
    lines = path.read_bytes().split(b"\n")
    last = len(lines) - 1  # after the final newline: b"" if the file ends cleanly
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        try:
            entries.append(_decoder.decode(line))
        except msgspec.DecodeError as e:
            if number - 1 == last:  # no newline after it: the crash tore this write
                torn_tail = True
                log.warning("dropped a torn last journal line in %s", path)
                continue
            raise JournalCorrupt(path, number, f"unreadable entry ({e})") from None
    return entries, torn_tail


def read_journal(path: Path) -> JournalState:
    state = JournalState()
    entries, state.torn_tail = _read(path)
    for entry in entries:
        if isinstance(entry, Fill):
            state.fills.append(entry)
            _add_fill(state.progress.get(entry.order_id), entry)
        elif isinstance(entry, OrderRejected) and entry.order_id in state.progress:
            state.progress[entry.order_id].closed = True  # the venue refused the remainder
        elif isinstance(entry, (OrderSubmitted, OrderRejected)):
            state.orders += 1
            state.target_ids.add(entry.target_id)
            if isinstance(entry, OrderSubmitted):
                state.progress[entry.order_id] = OrderProgress(entry)
        elif isinstance(entry, RiskEvent) and entry.kind == "circuit_breaker_tripped":
            state.breaker_tripped = True
        elif isinstance(entry, RiskEvent) and entry.kind == VENUE_BASELINE and entry.symbol:
            state.venue_baselines[entry.symbol] = entry.values["base_balance"]
    return state


def fill_identity(fill: Fill) -> tuple[str, int, int]:
    """What makes a fill itself: its order, the tick it met and its time (never a resend)."""
    return fill.order_id, fill.tick_seq, fill.ts_ns


def _add_fill(progress: OrderProgress | None, fill: Fill) -> None:
    if progress is not None:
        progress.filled += fill.qty
        progress.cost += fill.qty * fill.price
        progress.fee += fill.fee


class Journal:
    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        self._file: BinaryIO = open(path, "ab")
        if self._file.tell() > 0:
            self._ensure_line_start(path)

    def _ensure_line_start(self, path: Path) -> None:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":  # a torn line from a crash: start ours on a new line
                self._file.write(b"\n")

    def append(self, entry: JournalEntry) -> None:
        self._file.write(_encoder.encode(entry) + b"\n")
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()
