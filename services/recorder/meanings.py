"""What each figure of `result.json` counts, written into it: the file explains itself.

A trader reading `targets: 5484` next to `targets_sent_by_model: 7337` should
not have to read the code to learn where 1,853 targets went.
"""

from __future__ import annotations

from typing import Final

COUNT_MEANINGS: Final = {
    "ticks": "market ticks the recorder received (and wrote to ticks.gz)",
    "ticks_seen": "ticks each stage handled, from its own counters; a lossless replay has the "
    "same number everywhere, and a smaller one names the stage that fell short",
    "predictions": "model outputs, one per tick it decided on",
    "targets_sent_by_model": "targets the model(s) pushed to the executor: only when the wanted "
    "position changed",
    "targets": "targets the executor acted on: ordered, or refused with a reason (superseded "
    "by a newer one, expired, risk); = targets_sent_by_model - targets_already_met - targets "
    "still queued when the run ended",
    "targets_already_met": "targets the position already met, to the venue's lot size: "
    "nothing to order",
    "orders": "orders submitted (an order can fill in several fills)",
    "fills": "fills, from the executor journals (the book of record) under the runner",
    "rejections": "refused orders and targets by reason; each is in events.jsonl",
    "cancels": "orders whose unfilled rest was cancelled, by reason (requote: the touch moved; "
    "retarget: the target changed; ioc: an immediate-or-cancel rest; risk: the breaker "
    "tripped with it adding to the position; venue: the venue's own; stop: the run ended)",
    "fills_by_liquidity": "fills that rested on the book (maker, maker fee) and that took "
    "liquidity (taker, taker fee)",
    "dropped_targets": "targets the model could not queue (the executor was not taking them)",
    "malformed_messages": "undecodable messages each service received and skipped",
    "rejected_input": "input each service refused, by reason (malformed, unauthenticated, "
    "from a source not allowed to send it)",
}

# Tick-to-order time in a full-speed replay is how long ticks waited in queues
# (the feed sends faster than the chain handles): a fact of the replay, not of the system.
LATENCY_PACED: Final = "time in the running system: tick arrival to order, order to fill"
LATENCY_QUEUEING: Final = (
    "queueing: a full-speed replay sends ticks faster than they are handled, so these figures "
    "are mostly waiting in queues, not the system's latency (run paced or live to measure it)"
)
