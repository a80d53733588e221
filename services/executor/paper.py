"""`PaperOrderExecutor`: paper orders filled on the book and trades as they stand at arrival.

Pure, deterministic in event time. An order decided at event time t reaches
the simulated venue at t + a latency drawn from a seeded model
(`latency.py`); so does a cancel, and the order fills until its cancel
arrives (the cancel race).

Market orders are priced on the book as it stands at arrival: the first
quote tick at or after it, never an older one. They walk that book's levels
(`book_walk.py`), taking at each what the book shows less what earlier paper
orders took from it; one fill per level. What the shown depth cannot fill
waits for the next quote tick.

Limit orders (docs/EXECUTION.md) arrive on that same first book. A post-only
one whose price would take is refused (`post_only`, as Kraken refuses it).
Otherwise the crossing part walks the book up to the limit price and pays the
taker fee; the rest is cancelled (IOC) or rests, joining the queue at its
price (`passive_queue.py`). A resting order fills at its own price with the
maker fee: from trades that reach it once the queue ahead is gone, from a
trade printing through its price, or from the book trading through it (the
displayed size across its price, less what paper took there).

Trades fill market orders only on a symbol whose book paper has never seen (a
replay of trade history): at a trade's price, up to the trade's size, on
trades at or after its arrival whose aggressor was on the order's side (a buy
fills where someone else's buy lifted the offer). Once a quote has been seen,
the book alone prices market orders. Limit orders need a book to arrive on.

Kraken's pair rules refuse what Kraken would refuse: quantities are cut to
the lot size, then the minimum size and minimum cost apply.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.messages import (
    CancelReason,
    Fill,
    Liquidity,
    OrderCancelled,
    OrderRejected,
    RejectReason,
    Side,
    Tick,
    TickKind,
    TimeInForce,
)
from services.executor.book_walk import DUST, WalkedBook, crosses, levels_taken_by
from services.executor.latency import LatencyModel
from services.executor.order_executor import (
    MARKET,
    NEVER,
    OrderTerms,
    Refusal,
    VenueEvent,
    conform_to_pair_rules,
)
from services.executor.passive_queue import INFINITE, QueuePosition, join
from services.executor.quantities import floor_lots
from venues.kraken.pairs import PairRules

KRAKEN_POST_ONLY: str = "EOrder:Post only order"


@dataclass
class PaperOrder:
    order_id: str
    target_id: str
    symbol: str
    side: Side
    remaining: float
    due_ns: int  # arrival at the venue: the first event time at which the market may fill it
    terms: OrderTerms = MARKET
    queue: QueuePosition | None = None  # a limit order resting on the book
    cancel_due_ns: int | None = None  # a cancel on its way: when it reaches the venue
    cancel_reason: CancelReason | None = None

    @property
    def limit_price(self) -> float | None:
        return self.terms.limit_price


class PaperOrderExecutor:
    """Paper fills from ticks; see the module docstring for the rules."""

    def __init__(
        self,
        pairs: dict[str, PairRules],
        *,
        latency_ms: float,
        taker_fee_bps: float,
        maker_fee_bps: float | None = None,
        latency_jitter_ms: float = 0.0,
        latency_seed: int = 0,
    ) -> None:
        self.pairs = pairs
        self.latency = LatencyModel(latency_ms, latency_jitter_ms, latency_seed)
        self.fee_rate = taker_fee_bps / 1e4
        self.maker_fee_rate = (taker_fee_bps if maker_fee_bps is None else maker_fee_bps) / 1e4
        self.open_orders: dict[str, PaperOrder] = {}
        self.books: dict[str, WalkedBook] = {}

    def conform(self, symbol: str, qty: float, price: float) -> tuple[float, Refusal | None]:
        return conform_to_pair_rules(self.pairs, symbol, qty, price)

    def submit(
        self,
        order_id: str,
        target_id: str,
        symbol: str,
        side: Side,
        qty: float,
        event_ts_ns: int,
        terms: OrderTerms = MARKET,
    ) -> PaperOrder:
        due_ns = event_ts_ns + self.latency.draw_ns()
        order = PaperOrder(order_id, target_id, symbol, side, qty, due_ns, terms)
        self.open_orders[order_id] = order
        return order

    def cancel(self, order_id: str, event_ts_ns: int, reason: CancelReason) -> None:
        """Send a cancel: it reaches the venue after a latency draw, as orders do."""
        order = self.open_orders.get(order_id)
        if order is None or order.cancel_due_ns is not None:
            return  # filled already (Kraken: unknown order), or a cancel is on its way
        order.cancel_due_ns = event_ts_ns + self.latency.draw_ns()
        order.cancel_reason = reason

    def on_tick(self, tick: Tick, only_order_id: str | None = None) -> list[VenueEvent]:
        """What this tick makes happen, oldest order first.

        `only_order_id`: the engine offers a just-submitted order the book it
        was decided on; it fills there only if it arrives no later (latency 0).
        """
        if tick.kind is TickKind.QUOTE:
            book = self._refreshed(tick)
            if not self.open_orders:
                return []  # nothing to fill: the usual quote
            return self._fill(tick, only_order_id, book)
        if tick.symbol not in self.books:  # never a book for this symbol: trades price
            return self._fill(tick, only_order_id, None)
        if any(o.terms.limit_price is not None for o in self.open_orders.values()):
            return self._fill(tick, only_order_id, None, trades_reach_limits=True)
        return []

    def _fill(
        self,
        tick: Tick,
        only_order_id: str | None,
        book: WalkedBook | None,
        *,
        trades_reach_limits: bool = False,
    ) -> list[VenueEvent]:
        events: list[VenueEvent] = []
        trade_left = tick.last_size or 0.0
        for order in list(self.open_orders.values()):
            if order.symbol != tick.symbol:
                continue
            if only_order_id is not None and order.order_id != only_order_id:
                continue
            if order.terms.limit_price is not None:
                trade_left = self._work_limit(order, tick, book, trade_left, events)
                continue
            if trades_reach_limits or order.due_ns > tick.recv_ts_ns:
                continue  # not yet at the venue: never priced on a book older than its arrival
            if book is not None:
                taken = book.take(order.side, order.remaining)
            elif order.side is tick.side and tick.last is not None and trade_left > DUST:
                taken = [(tick.last, min(order.remaining, trade_left))]
                trade_left -= taken[0][1]
            else:
                taken = []
            for price, qty in taken:
                order.remaining = round(order.remaining - qty, 12)
                events.append(self._fill_of(order, tick, price, qty))
            if order.remaining <= DUST:
                del self.open_orders[order.order_id]
        return events

    def _work_limit(
        self,
        order: PaperOrder,
        tick: Tick,
        book: WalkedBook | None,
        trade_left: float,
        events: list[VenueEvent],
    ) -> float:
        """One tick for a limit order: arrival, its cancel, passive fills. Returns trade left."""
        if order.queue is None:  # not resting yet: it arrives on the first book at or after due
            if book is None or order.due_ns > tick.recv_ts_ns:
                return trade_left
            self._arrive(order, tick, book, events)
        elif order.cancel_due_ns is None or order.cancel_due_ns > tick.recv_ts_ns:
            if book is not None:  # the book trading through its price
                order.queue.on_book(tick)
                self._fill_passive(
                    order, tick, book.take(order.side, order.remaining, order.limit_price), events
                )
            elif tick.last is not None and trade_left > DUST:
                reach = order.queue.on_trade(tick.last, trade_left, tick.side)
                qty = min(order.remaining, reach)
                if reach != INFINITE:
                    trade_left -= qty
                self._fill_passive(order, tick, [(tick.last, qty)], events)
        if (
            order.order_id in self.open_orders
            and order.queue is not None
            and order.cancel_due_ns is not None
            and order.cancel_due_ns <= tick.recv_ts_ns
        ):
            reason = order.cancel_reason or CancelReason.STOP
            self._cancel_rest(
                order, reason, "the cancel reached the venue", order.cancel_due_ns, events
            )
        return trade_left

    def _arrive(
        self, order: PaperOrder, tick: Tick, book: WalkedBook, events: list[VenueEvent]
    ) -> None:
        limit = order.terms.limit_price
        assert limit is not None  # only limit orders arrive here
        if order.terms.post_only:
            opposite = levels_taken_by(tick, order.side)
            if opposite and crosses(order.side, opposite[0][0], limit):
                del self.open_orders[order.order_id]
                events.append(self._post_only_refusal(order, tick, opposite[0][0]))
                return
        for price, qty in book.take(order.side, order.remaining, limit):
            order.remaining = round(order.remaining - qty, 12)
            events.append(self._fill_of(order, tick, price, qty))
        if order.remaining <= DUST:
            del self.open_orders[order.order_id]
            return
        if order.terms.time_in_force is TimeInForce.IOC:
            self._cancel_rest(
                order, CancelReason.IOC, "immediate-or-cancel rest", tick.recv_ts_ns, events
            )
            return
        order.queue = join(tick, order.side, limit)

    def _fill_passive(
        self,
        order: PaperOrder,
        tick: Tick,
        reached: list[tuple[float, float]],
        events: list[VenueEvent],
    ) -> None:
        """Maker fills at the order's own price for what reached it, on the lot grid."""
        limit = order.terms.limit_price
        assert limit is not None
        for _, qty in reached:
            qty = self._to_lots(order.symbol, min(qty, order.remaining))
            if qty <= DUST:
                continue
            order.remaining = round(order.remaining - qty, 12)
            events.append(self._fill_of(order, tick, limit, qty, Liquidity.MAKER))
        if order.remaining <= DUST:
            del self.open_orders[order.order_id]

    def _to_lots(self, symbol: str, qty: float) -> float:
        rules = self.pairs.get(symbol)
        if rules is None or qty == INFINITE:
            return qty
        return floor_lots(qty, rules.qty_increment)

    def _cancel_rest(
        self,
        order: PaperOrder,
        reason: CancelReason,
        detail: str,
        ts_ns: int,
        events: list[VenueEvent],
    ) -> None:
        del self.open_orders[order.order_id]
        events.append(
            OrderCancelled(
                order_id=order.order_id,
                symbol=order.symbol,
                side=order.side,
                qty=order.remaining,
                reason=reason,
                detail=detail,
                ts_ns=ts_ns,
            )
        )

    def _post_only_refusal(self, order: PaperOrder, tick: Tick, touch: float) -> OrderRejected:
        return OrderRejected(
            order_id=order.order_id,
            target_id=order.target_id,
            symbol=order.symbol,
            side=order.side,
            qty=order.remaining,
            reason=RejectReason.POST_ONLY,
            detail=f"{KRAKEN_POST_ONLY}: {order.terms.limit_price:.10g} would take at {touch:.10g}",
            ts_ns=tick.recv_ts_ns,
        )

    def _fill_of(
        self,
        order: PaperOrder,
        tick: Tick,
        price: float,
        qty: float,
        liquidity: Liquidity = Liquidity.TAKER,
    ) -> Fill:
        rate = self.maker_fee_rate if liquidity is Liquidity.MAKER else self.fee_rate
        return Fill(
            order_id=order.order_id,
            symbol=order.symbol,
            side=order.side,
            qty=qty,
            price=price,
            fee=qty * price * rate,
            liquidity=liquidity,
            tick_seq=tick.seq,
            ts_ns=tick.recv_ts_ns,
        )

    def quiet_until(self, symbol: str) -> int | None:
        """Until when (event time, ns) no tick of `symbol` can fill or matter later (`QuietRuns`).

        None while a limit order of the symbol is open: it rests, and any tick
        may fill it. 0 while paper remembers takings from the symbol's book:
        every refresh must be seen, until one shows the level anew. Otherwise
        the symbol's open orders are market orders still on their way, which
        `_fill` passes by on every tick before the first one's arrival (the
        time returned; `NEVER` with none open), and a quiet run's last quote
        alone is the book (`refresh_book`).
        """
        due = NEVER
        for order in self.open_orders.values():
            if order.symbol == symbol:
                if order.terms.limit_price is not None:
                    return None
                due = min(due, order.due_ns)
        book = self.books.get(symbol)
        if book is not None and book.remembers_takings:
            return 0
        return due

    def refresh_book(self, last_quote: Tick) -> None:
        """A quiet run's last quote becomes its symbol's book (`quiet_until`)."""
        self._refreshed(last_quote)

    def _refreshed(self, quote: Tick) -> WalkedBook:
        """`quote`'s symbol's book, refreshed by it (made on the symbol's first quote)."""
        book = self.books.get(quote.symbol)
        if book is None:  # not `setdefault`: that builds a book on every quote
            book = self.books[quote.symbol] = WalkedBook()
        book.refresh(quote)
        return book
