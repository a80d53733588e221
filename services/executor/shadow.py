"""Shadow mode: live orders at the pair's minimum size, each paired with a paper twin.

`--shadow` measures how far paper is from live, order by order. The engine
decides its orders as always; `ShadowLiveExecutor` (the live executor with
one rule changed) sizes every order at the pair's minimum, so the live money
at stake is the least Kraken takes, and sends it. Every order the executor
journals (`OrderSubmitted`, with all its terms and its send time, the event
time the engine decided it at) also goes to a `PaperTwin`: a
`PaperOrderExecutor` with the run's paper settings (latency, fees) that
fills the very same order from the ticks the executor receives.

The twin's fills never reach the engine: positions, the account and the risk
limits move with the live fills alone. The twin writes its copy of each
order and its fills to its own journal (`SHADOW_JOURNAL` in the run folder,
the journal's line format), which `orchestration.shadow_fidelity` pairs with
the live journal once the run is over. The twin's events are not published:
the recorder, the dashboard and result.json's money are the live book's.

`PaperTwin` is pure apart from the `record` callable it is handed (the
shadow journal's `append` in the service; a list in tests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import ROUND_CEILING
from typing import Any

from common.journal import JournalEntry
from common.messages import (
    CancelReason,
    Fill,
    Message,
    OrderSubmitted,
    RejectReason,
    Tick,
)
from services.executor.live import LiveOrderExecutor
from services.executor.order_executor import OrderTerms, Refusal
from services.executor.paper import PaperOrderExecutor
from services.executor.quantities import exact, exact_fill
from venues.kraken.pairs import PairRules


def minimum_order_qty(rules: PairRules, price: float) -> float:
    """The pair's smallest order at `price`: `qty_min` on the lot grid, raised to `cost_min`."""
    increment = rules.qty_increment
    qty = (rules.qty_min / increment).to_integral_value(ROUND_CEILING) * increment
    price_exact = exact(price)
    if qty * price_exact < rules.cost_min:
        lots = (rules.cost_min / price_exact / increment).to_integral_value(ROUND_CEILING)
        qty = lots * increment
    return float(qty)


class PaperTwin:
    """The paper executor's fills for the live orders, kept apart from positions and risk."""

    def __init__(self, paper: PaperOrderExecutor, record: Callable[[JournalEntry], None]) -> None:
        self.paper, self.record = paper, record
        self.orders = 0
        self.fills = 0

    def on_tick(self, tick: Tick) -> None:
        """The market moves: the twin's orders that are due fill on it."""
        self._record_fills(self.paper.on_tick(tick))

    def on_event(self, event: Message) -> None:
        """An event the executor journaled: a live order is the twin's order too.

        Cancels are not taken from here: the twin's copy is cancelled when the
        engine decides it (`ShadowLiveExecutor.cancel`), at the same event time,
        and its own latency decides whether a fill wins that race.
        """
        if isinstance(event, OrderSubmitted):
            self._submit(event)

    def _submit(self, order: OrderSubmitted) -> None:
        self.record(order)  # journaled first: the twin's book names every order it carried
        self.orders += 1
        # The same order id, side, size and send time (the engine's event time):
        # the paper executor is given exactly what the engine gives it in a paper run.
        self.paper.submit(
            order.order_id,
            order.target_id,
            order.symbol,
            order.side,
            order.qty,
            order.ts_ns,
            OrderTerms.of(order),
        )
        book = self.paper.books.get(order.symbol)  # the paper venue's latest quote
        quote = None if book is None else book.tick
        if quote is not None:
            # As in a paper run: the book it was decided on fills it only if it
            # arrives no later (latency 0); otherwise the first book after does.
            self._record_fills(self.paper.on_tick(quote, only_order_id=order.order_id))

    def _record_fills(self, events: Sequence[JournalEntry]) -> None:
        """What the paper venue made of the twin's orders, into the twin's journal."""
        for event in events:
            if isinstance(event, Fill):  # on the lot grid, fee rounded, as the engine keeps fills
                rules = self.paper.pairs.get(event.symbol)
                event = exact_fill(event, rules.qty_increment if rules else None)
                self.fills += 1
            self.record(event)


class ShadowLiveExecutor(LiveOrderExecutor):
    """The live executor at the pair's minimum order size, feeding its paper twin the ticks."""

    def __init__(self, *args: Any, twin: PaperTwin, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.twin = twin

    def conform(self, symbol: str, qty: float, price: float) -> tuple[float, Refusal | None]:
        """The pair's minimum order, when `qty` is at least that; otherwise as live refuses it."""
        conformed, refusal = super().conform(symbol, qty, price)
        if refusal is not None and refusal[0] is not RejectReason.MIN_COST:
            return conformed, refusal  # unknown or offline pair, below qty_min: as live
        minimum = minimum_order_qty(self.pairs[symbol], price)
        if conformed < minimum:
            detail = f"{conformed} is under the shadow run's order size {minimum}"
            return conformed, refusal or (RejectReason.MIN_COST, detail)
        return minimum, None

    def cancel(self, order_id: str, event_ts_ns: int, reason: CancelReason) -> None:
        """Cancel the live order, and its twin at the same event time."""
        super().cancel(order_id, event_ts_ns, reason)
        self.twin.paper.cancel(order_id, event_ts_ns, reason)

    def on_tick(self, tick: Tick, only_order_id: str | None = None) -> list[Fill]:
        if only_order_id is None:  # the engine's offer of a new order's book: the twin's own
            self.twin.on_tick(tick)
        return []  # the venue fills the live orders; the twin's fills stay the twin's
