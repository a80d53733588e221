"""The executor's append-only journal: crash-safe positions, PnL and breaker.

It lives in the run directory and is the run's book of record: the executor
rebuilds from it, and the recorder reconciles its event stream against it.

One JSON line per `OrderSubmitted`, `OrderRejected`, `OrderCancelled`, `Fill` and `RiskEvent`,
written and flushed to the OS *before* the event is published, so a crash
(SIGTERM or kill -9) can lose only what nobody saw. On start the journal is
read back: fills rebuild positions and PnL, a `circuit_breaker_tripped` event
re-trips the breaker, target ids are not acted on twice; for a live venue,
orders neither filled nor rejected are listed for reconciliation, and the
account's balance outside this run is kept as a baseline.

A last line without its newline is torn (the crash or a full disk hit
mid-write): it was never published, so reading drops it with a warning, and
opening the journal to append cuts it off (a copy of the cut bytes is kept
beside it, `<journal>.torn-<n>`) so the next entry never lands after it.
Damage before the last line is an error (`JournalCorrupt`): guessing a
position is worse than not starting. A write, flush or fsync that fails
raises `JournalWriteFailed`; the partial line is cut back where possible and
the journal takes nothing more.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import msgspec

from common.errors import JournalCorrupt, JournalWriteFailed
from common.messages import Fill, OrderCancelled, OrderRejected, OrderSubmitted, RiskEvent

log = logging.getLogger(__name__)

# Paper and live keep separate books, so a live executor never inherits paper positions.
JOURNAL_FILES: Final = {"paper": "executor.journal", "live": "executor-live.journal"}
# A shadow run's paper twin (services/executor/shadow.py): its copy of every live
# order and its own fills. Not a mode's book: nothing here moves a position.
SHADOW_JOURNAL: Final = "executor-shadow.journal"
VENUE_BASELINE: Final = "venue_balance_baseline"  # RiskEvent kind, journaled at a first live start
# RiskEvent kind journaled (never published) when an executor process starts: it
# divides a journal into sessions (orchestration.ledger); `detail` names the executor.
SESSION_STARTED: Final = "executor_session_started"
# RiskEvent kind journaled (never published) once that process is past its start-up
# (live: reconciled with the venue) and about to act on targets: a runner swapping
# executors waits for it (orchestration.handover).
SESSION_TRADING: Final = "executor_session_trading"
# RiskEvent kind journaled (never published) by the first paper executor of a run:
# its `values` are the spot account's starting balances per asset. A restart, a
# resume and result.json rebuild the balances from it and the fills after it.
ACCOUNT_OPENED: Final = "account_opened"
# The session marks (started, trading, account opened): journaled, never
# published, so never in events.jsonl. (`VENUE_BASELINE` is published.)
JOURNAL_ONLY_KINDS: Final = frozenset({SESSION_STARTED, SESSION_TRADING, ACCOUNT_OPENED})
JournalEntry = OrderSubmitted | OrderRejected | OrderCancelled | Fill | RiskEvent
_decoder = msgspec.json.Decoder(JournalEntry)
_encoder = msgspec.json.Encoder()


@dataclass
class OrderProgress:
    """A journaled order and what its journaled fills add up to (quote-currency sums)."""

    order: OrderSubmitted
    filled: float = 0.0
    cost: float = 0.0
    fee: float = 0.0
    closed: bool = False  # a rejection or a cancel of its remainder ends it

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
    # Paper: the spot account's starting balances (None: not journaled yet).
    opening_balances: dict[str, float] | None = None

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
    return read_entries_and_tail(path)[0]


def read_entries_and_tail(path: Path) -> tuple[list[JournalEntry], bool]:
    """`read_entries`, and whether a torn last line was left out."""
    if not path.exists():
        return [], False
    entries: list[JournalEntry] = []
    torn_tail = False
    lines = path.read_bytes().split(b"\n")
    last = len(lines) - 1  # after the final newline: b"" if the file ends cleanly
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        if number - 1 == last:  # no newline after it: the crash tore this write
            torn_tail = True
            log.warning("dropped a torn last journal line in %s", path)
            continue
        try:
            entries.append(_decoder.decode(line))
        except msgspec.DecodeError as e:
            raise JournalCorrupt(path, number, f"unreadable entry ({e})") from None
    return entries, torn_tail


def read_journal(path: Path) -> JournalState:
    state = JournalState()
    entries, state.torn_tail = read_entries_and_tail(path)
    for entry in entries:
        if isinstance(entry, Fill):
            state.fills.append(entry)
            _add_fill(state.progress.get(entry.order_id), entry)
        elif isinstance(entry, OrderCancelled):
            if entry.order_id in state.progress:
                state.progress[entry.order_id].closed = True  # its remainder will never fill
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
    state.opening_balances = opening_balances(entries)
    return state


def opening_balances(entries: list[JournalEntry]) -> dict[str, float] | None:
    """The starting balances of the journal's first `ACCOUNT_OPENED` mark, if any."""
    for entry in entries:
        if isinstance(entry, RiskEvent) and entry.kind == ACCOUNT_OPENED:
            return dict(entry.values)
    return None


def fill_identity(fill: Fill) -> tuple[str, int, int, float]:
    """What makes a fill itself: its order, the tick it met, its time and price (never a resend).

    The price: a paper order walking the book fills at several levels of one tick.
    """
    return fill.order_id, fill.tick_seq, fill.ts_ns, fill.price


def published(entries: Sequence[JournalEntry]) -> list[JournalEntry]:
    """The entries the executor also published (all but its session marks), in order."""
    return [
        entry
        for entry in entries
        if not (isinstance(entry, RiskEvent) and entry.kind in JOURNAL_ONLY_KINDS)
    ]


# What tells a journaled event from every other, by class: fields its
# events.jsonl line has too. An order id is one order's (or one refused
# target's); its cancel and a venue's refusal of its remainder share it and
# differ by class and time. A fill's are `fill_identity`'s.
IDENTITY_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "Fill": ("order_id", "tick_seq", "ts_ns", "price"),
    "OrderSubmitted": ("order_id", "ts_ns"),
    "OrderRejected": ("order_id", "ts_ns"),
    "OrderCancelled": ("order_id", "ts_ns"),
    "RiskEvent": ("kind", "symbol", "ts_ns"),
}


def event_identity(entry: JournalEntry) -> tuple[object, ...]:
    """The class's name and its `IDENTITY_FIELDS`' values."""
    name = type(entry).__name__
    return (name, *(getattr(entry, field) for field in IDENTITY_FIELDS[name]))


def line_identity(line: dict[str, object]) -> tuple[object, ...] | None:
    """`event_identity` of the event an events.jsonl line holds (None: not journaled)."""
    name = line.get("type")
    fields = IDENTITY_FIELDS.get(name) if isinstance(name, str) else None
    return None if fields is None else (name, *(line[field] for field in fields))


def _add_fill(progress: OrderProgress | None, fill: Fill) -> None:
    if progress is not None:
        progress.filled += fill.qty
        progress.cost += fill.qty * fill.price
        progress.fee += fill.fee


class Journal:
    """The journal opened for appending; a torn last line is cut off first.

    Raises:
        OSError: the file cannot be opened, or its torn tail cannot be cut.
        JournalWriteFailed: from `append`, when an entry cannot reach the file.
    """

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        self.failed: JournalWriteFailed | None = None
        # Unbuffered: a failed write leaves nothing queued in Python for a later flush.
        self._file = open(path, "a+b", buffering=0)
        try:
            self._size = self._cut_torn_tail()
        except BaseException:
            self._file.close()
            raise

    @staticmethod
    def encode(entry: JournalEntry) -> bytes:
        """One journal line, newline included."""
        return _encoder.encode(entry) + b"\n"

    def _cut_torn_tail(self) -> int:
        """Move an unterminated last line to `<journal>.torn-<n>`; return the clean size."""
        fd = self._file.fileno()
        size = os.fstat(fd).st_size
        if size == 0:
            return 0
        # Torn lines are short (one entry); look back in steps until a newline.
        start, tail = size, b""
        while start > 0 and b"\n" not in tail:
            step = min(start, 1 << 16)
            start -= step
            tail = os.pread(fd, step, start) + tail
        keep = start + tail.rfind(b"\n") + 1  # 0 when the only line is torn
        if keep == size:
            return size
        copy = self._free_torn_name()
        with open(copy, "xb") as f:
            f.write(tail[keep - start :])
            f.flush()
            os.fsync(f.fileno())
        os.ftruncate(fd, keep)
        if self.fsync:
            os.fsync(fd)
        log.warning(
            "cut a torn last line (%d bytes) off %s, kept in %s", size - keep, self.path, copy
        )
        return keep

    def _free_torn_name(self) -> Path:
        n = 1
        while (copy := self.path.with_name(f"{self.path.name}.torn-{n}")).exists():
            n += 1
        return copy

    def append(self, entry: JournalEntry) -> None:
        """Write one entry (flushed to the OS; fsynced if asked) before anyone sees it.

        Raises:
            JournalWriteFailed: the entry is not in the journal (this one and every later one).
        """
        self.append_many([entry])

    def append_many(self, entries: Sequence[JournalEntry]) -> None:
        """Write entries in one write (and one fsync if asked), all or none of them.

        Raises:
            JournalWriteFailed: none of them is in the journal (nor any later one).
        """
        if self.failed is not None:
            raise self.failed
        lines = b"".join(map(self.encode, entries))
        if not lines:
            return
        fd = self._file.fileno()
        try:
            view = memoryview(lines)
            while view:  # a write may take part of the lines (a disk filling up)
                view = view[os.write(fd, view) :]
            if self.fsync:
                os.fsync(fd)
        except OSError as e:
            self.failed = JournalWriteFailed(self.path, e)
            self._cut_back()
            raise self.failed from e
        self._size += len(lines)

    def _cut_back(self) -> None:
        # Leave whole lines only; if even this fails, the next open cuts a torn tail,
        # but whole lines of this write would stay.
        try:
            os.ftruncate(self._file.fileno(), self._size)
        except OSError as e:
            log.error(
                "could not cut %s back to its last whole write (%d bytes): %s; "
                "entries never published may stay in it",
                self.path,
                self._size,
                e,
            )

    def close(self) -> None:
        self._file.close()
