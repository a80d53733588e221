"""The executor's way out: journal, then log, then publish, for the events of one emit.

An order, rejection, fill or risk event reaches the journal (flushed; fsynced
live) before any other process can see it, so a crash never leaves an event
downstream that the journal does not know. The events of one `emit` are
journaled in one write and published in one call (the service sends runs of
one topic as one message, `wire.event_frames`): in a batched replay a turn
refuses or fills many targets, and a write or a message each cost more than
the events. Nothing here reads a socket or a clock: `send` is the events
publisher in the service, a list's `extend` in tests, and `clock` is handed in.

What reaches run.log (a person reads it; `events.jsonl` has every event):
- every fill, with its order id, side, size, price, fee and the position
  after it, and every order: gathered for up to `LINE_HOLD_S` and written
  `PER_LINE` to a line (a fast replay fills hundreds of orders a second,
  one target at a time); anything logged at once (a risk event, a rejection
  in full) writes what is gathered first, so the order of events holds;
- the first `REJECTIONS_IN_FULL` rejections of each reason in full, then per
  reason one count every `REJECTION_SUMMARY_S` (a tripped breaker rejects
  every target: thousands a second in a fast replay);
- the first `REJECTIONS_IN_FULL` cancels of each reason in full, then per
  reason one count every `REJECTION_SUMMARY_S` (a post-only run re-quotes
  many times a minute);
- every risk event.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Final

from common.journal import Journal
from common.logs import FirstThenCounts
from common.messages import (
    Fill,
    Message,
    OrderCancelled,
    OrderRejected,
    OrderSubmitted,
    Position,
    RiskEvent,
)

log = logging.getLogger("services.executor")

JOURNALED = (OrderSubmitted, OrderRejected, OrderCancelled, Fill, RiskEvent)
PER_LINE: Final = 8  # orders or fills to a line
LINE_HOLD_S: Final = 1.0  # the longest an order or fill waits for its line
REJECTIONS_IN_FULL: Final = 3
REJECTION_SUMMARY_S: Final = 10.0


class Outbox:
    def __init__(
        self,
        journal: Journal,
        send: Callable[[Sequence[Message]], None],
        after_each_batch: Callable[[], None] | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """`after_each_batch` runs once the batch's entries are journaled (live: send orders).

        `clock` (seconds, monotonic) times the rejection summaries; without
        one, the held-back counts come out only at `close`.
        """
        self.journal, self.send, self.after_each_batch = journal, send, after_each_batch
        self.clock = clock
        self._rejection_lines = FirstThenCounts(REJECTIONS_IN_FULL, REJECTION_SUMMARY_S)
        self._cancel_lines = FirstThenCounts(REJECTIONS_IN_FULL, REJECTION_SUMMARY_S)
        # Every rejection and cancel by reason: the log lines' tallies, counted once
        # (the final line and /metrics read them too).
        self.rejections: Counter[str] = self._rejection_lines.total
        self.cancels: Counter[str] = self._cancel_lines.total
        self._orders: list[str] = []  # gathered for their lines
        self._fills: list[tuple[Fill, Position | None]] = []
        self._gathering_since: float | None = None

    def emit(self, events: Sequence[Message]) -> None:
        now_s = self.clock() if self.clock is not None else 0.0
        # On disk before anyone can see them; all or none (a failed write is cut back).
        self.journal.append_many([event for event in events if isinstance(event, JOURNALED)])
        for event in events:
            if isinstance(event, OrderRejected):
                reason = str(event.reason)
                self._line_in_full(
                    self._rejection_lines,
                    reason,
                    now_s,
                    logging.WARNING,
                    "rejected %s (target %s) %s: %s (%s)",
                    (event.order_id, event.target_id, event.symbol, reason, event.detail),
                )
            elif isinstance(event, OrderCancelled):
                reason = str(event.reason)
                self._line_in_full(
                    self._cancel_lines,
                    reason,
                    now_s,
                    logging.INFO,
                    "cancelled %s %s %s %.8f unfilled: %s (%s)",
                    (event.order_id, event.symbol, event.side, event.qty, reason, event.detail),
                )
            elif isinstance(event, RiskEvent):
                self._write_gathered()
                log.error("RISK %s: %s (%s)", event.kind, event.detail, _numbers(event.values))
            elif isinstance(event, OrderSubmitted):
                self._gather(now_s)
                self._orders.append(
                    f"{event.order_id} {event.side} {event.qty:.8f} {event.symbol}"
                    f" (target {event.target_id})"
                )
            elif isinstance(event, Fill):
                self._gather(now_s)
                self._fills.append((event, None))
            elif isinstance(event, Position) and self._fills and self._fills[-1][1] is None:
                fill = self._fills[-1][0]
                if fill.symbol == event.symbol:
                    self._fills[-1] = (fill, event)  # the position right after that fill
        if events:
            self.send(events)
        if self._gathering_since is not None and (
            now_s - self._gathering_since >= LINE_HOLD_S
            or len(self._orders) >= PER_LINE
            or len(self._fills) >= PER_LINE
        ):
            self._write_gathered()
        self._summarise(self._rejection_lines.due(now_s))
        self._summarise(self._cancel_lines.due(now_s), "cancels")
        if self.after_each_batch is not None:
            self.after_each_batch()  # only now: their OrderSubmitted entries are journaled

    def _line_in_full(
        self,
        lines: FirstThenCounts,
        reason: str,
        now_s: float,
        level: int,
        text: str,
        values: tuple[object, ...],
    ) -> None:
        """Count a rejection or cancel; log it in full if it is among its reason's first."""
        if not lines.admit(reason, now_s):  # counted there
            return
        self._write_gathered()
        last = lines.total[reason] == REJECTIONS_IN_FULL
        log.log(
            level,
            text + "%s",
            *values,
            "; more of this reason are counted, not shown" if last else "",
        )

    def close(self) -> None:
        """Log what is still gathered or held back (at the end of the run)."""
        now_s = self.clock() if self.clock is not None else 0.0
        self._write_gathered()
        self._summarise(self._rejection_lines.drain(now_s))
        self._summarise(self._cancel_lines.drain(now_s), "cancels")

    def _gather(self, now_s: float) -> None:
        if self._gathering_since is None:
            self._gathering_since = now_s

    def _write_gathered(self) -> None:
        orders, fills = self._orders, self._fills
        for start in range(0, len(orders), PER_LINE):
            log.info("order %s", "; ".join(orders[start : start + PER_LINE]))
        for start in range(0, len(fills), PER_LINE):
            log.info(
                "fill %s", "; ".join(_fill_text(*pair) for pair in fills[start : start + PER_LINE])
            )
        self._orders, self._fills, self._gathering_since = [], [], None

    @staticmethod
    def _summarise(held: list[tuple[str, int, float]], what: str = "rejections") -> None:
        for reason, count, span_s in held:
            log.warning("%s more %s %s in the last %.0f s", f"{count:,}", reason, what, span_s)


def _fill_text(fill: Fill, after: Position | None) -> str:
    text = (
        f"{fill.order_id} {fill.side} {fill.qty:.8f} {fill.symbol} @ {fill.price:.10g}"
        f" fee {fill.fee:.6g}"
    )
    return text if after is None else f"{text} -> position {after.qty:+.8f}"


def _numbers(values: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.6g}" for name, value in values.items())
