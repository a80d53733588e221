"""The executor's way out: journal, then log, then publish, for every event.

An order, rejection, fill or risk event reaches the journal (flushed; fsynced
live) before any other process can see it, so a crash never leaves an event
downstream that the journal does not know. Nothing here reads a socket or
a clock: `send` is the events publisher in the service, a list in tests.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable

from common.journal import Journal
from common.messages import Fill, Message, OrderRejected, OrderSubmitted, RiskEvent

log = logging.getLogger("services.executor")

JOURNALED = (OrderSubmitted, OrderRejected, Fill, RiskEvent)


class Outbox:
    def __init__(
        self,
        journal: Journal,
        send: Callable[[Message], None],
        after_each_batch: Callable[[], None] | None = None,
    ) -> None:
        """`after_each_batch` runs once the batch's entries are journaled (live: send orders)."""
        self.journal, self.send, self.after_each_batch = journal, send, after_each_batch
        self.rejections: Counter[str] = Counter()

    def emit(self, events: Iterable[Message]) -> None:
        for event in events:
            if isinstance(event, JOURNALED):
                self.journal.append(event)  # flushed before anyone can see the event
            if isinstance(event, OrderRejected):
                self.rejections[event.reason] += 1
                log.warning(
                    "rejected %s %s: %s (%s)",
                    event.target_id,
                    event.symbol,
                    event.reason,
                    event.detail,
                )
            elif isinstance(event, RiskEvent):
                log.error("RISK %s: %s %s", event.kind, event.detail, event.values)
            elif isinstance(event, OrderSubmitted):
                log.info(
                    "order %s %s %s %.8f (target %s)",
                    event.order_id,
                    event.side,
                    event.symbol,
                    event.qty,
                    event.target_id,
                )
            self.send(event)
        if self.after_each_batch is not None:
            self.after_each_batch()  # only now: their OrderSubmitted entries are journaled
