"""A resumed replay: the executor's re-derived events checked against its journal. Pure.

A lossless replay is deterministic, so a resumed one starts blank and runs the
file again from its first tick: every event the executor derives is compared,
in order, with the journal's entries. A match is what the run already did:
it is suppressed (not journaled again, not published, no order sent). Once
the journal's entries are used up the run carries on as normal. Three things
may differ without meaning anything: an order id and a target id (each
executor and model process draws a fresh prefix for its ids; a re-derived id
is mapped to the journaled one, one to one, so an order submitted before the
kill and filled after it keeps its one id) and a rejection's `ts_ns` (the
wall clock). Anything else that differs is a diverged run:
`ResumeDiverged`, and nothing more may be traded on that state. Positions are
never journaled: while entries are left they were published already, so they
are suppressed too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Final

import msgspec

from common.journal import (
    ACCOUNT_OPENED,
    SESSION_STARTED,
    SESSION_TRADING,
    VENUE_BASELINE,
    JournalEntry,
)
from common.messages import (
    Fill,
    Message,
    OrderCancelled,
    OrderRejected,
    OrderSubmitted,
    Position,
    RiskEvent,
)
from services.executor.errors import ResumeDiverged

log = logging.getLogger("services.executor")

# Journal entries no re-execution derives: marks of a process's start, not of trading.
MARKS: Final = frozenset({SESSION_STARTED, SESSION_TRADING, VENUE_BASELINE, ACCOUNT_OPENED})


class Resumption:
    """Screens the events of a re-executed replay against `entries` (the journal, in order)."""

    def __init__(self, entries: Sequence[JournalEntry]) -> None:
        # (entry number in the journal, 1-based, as a person counts its lines; the entry)
        self._expected = [
            (number, entry)
            for number, entry in enumerate(entries, start=1)
            if not (isinstance(entry, RiskEvent) and entry.kind in MARKS)
        ]
        self._next = 0
        self._ids: dict[str, str] = {}  # re-derived order id -> the journal's
        self._targets: dict[str, str] = {}  # re-derived target id -> the journal's
        self._journal_targets: set[str] = set()  # the journal's ids already mapped to

    @property
    def replaying(self) -> bool:
        """True while journal entries are left to match."""
        return self._next < len(self._expected)

    @property
    def entries(self) -> int:
        """How many journal entries this resumption re-derives."""
        return len(self._expected)

    def screen(self, events: Iterable[Message]) -> list[Message]:
        """The events still to journal and publish: those past the journal's end.

        Raises:
            ResumeDiverged: an event differs from the journal's next entry.
        """
        out: list[Message] = []
        for event in events:
            event = self._with_journal_id(event)
            if not self.replaying:
                out.append(event)
            elif not isinstance(event, Position):  # positions are not journaled
                self._match(event)
        return out

    def check_complete(self) -> None:
        """At the end of the replay: every journal entry must have been derived again.

        Raises:
            ResumeDiverged: the re-execution ended before the journal did.
        """
        if self.replaying:
            number, entry = self._expected[self._next]
            raise ResumeDiverged(number, _text(entry), "nothing: the replay ended first")

    def _with_journal_id(self, event: Message) -> Message:
        if isinstance(event, (Fill, OrderRejected, OrderCancelled)) and event.order_id in self._ids:
            event = msgspec.structs.replace(event, order_id=self._ids[event.order_id])
        if isinstance(event, (OrderSubmitted, OrderRejected)) and event.target_id in self._targets:
            event = msgspec.structs.replace(event, target_id=self._targets[event.target_id])
        return event

    def _match(self, event: Message) -> None:
        number, entry = self._expected[self._next]
        derived = event
        fresh_target = False
        if isinstance(event, (OrderSubmitted, OrderRejected)) and type(entry) is type(event):
            # One to one: a target first met here takes the entry's id, if no other took it
            # (one met before already carries its journal id, from `_with_journal_id`).
            fresh_target = event.target_id not in self._journal_targets
            if fresh_target and entry.target_id not in self._journal_targets:
                derived = msgspec.structs.replace(derived, target_id=entry.target_id)
            derived = msgspec.structs.replace(derived, order_id=entry.order_id)
            if isinstance(derived, OrderRejected):
                derived = msgspec.structs.replace(derived, ts_ns=entry.ts_ns)  # the wall clock
        if derived != entry:
            raise ResumeDiverged(number, _text(entry), _text(event))
        if isinstance(event, (OrderSubmitted, OrderRejected)) and isinstance(entry, type(event)):
            self._ids[event.order_id] = entry.order_id
            if fresh_target:
                self._targets[event.target_id] = entry.target_id
                self._journal_targets.add(entry.target_id)
        self._next += 1
        if not self.replaying:
            log.info(
                "resume caught up with the journal (%d entries re-derived); trading on",
                len(self._expected),
            )


def _text(message: Message) -> str:
    return f"{type(message).__name__} {msgspec.json.encode(message).decode()}"
