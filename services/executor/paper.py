"""`PaperOrderExecutor`: market orders filled on the book as it stands when they arrive.

Pure. An order decided at event time t reaches the simulated venue at
t + a latency drawn from a seeded model (`latency.py`). It is priced on the
book as it stands at arrival: the first quote tick at or after it, never an
older one. It walks that book's levels (`book_walk.py`), taking at each what
the book shows less what earlier paper orders took from it; one fill per
level. What the shown depth cannot fill waits for the next quote tick.

Trades fill only a symbol whose book paper has never seen (a replay of
trade history): a market order then fills at a trade's price, up to the
trade's size, on trades at or after its arrival whose aggressor was on the
order's side (a buy fills where someone else's buy lifted the offer). Once a
quote has been seen, the book alone prices orders.

Taker fee on every fill. Kraken's pair rules refuse what Kraken would
refuse: quantities are cut to the lot size, then the minimum size and
minimum cost apply.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.messages import Fill, Liquidity, Side, Tick, TickKind
from services.executor.book_walk import DUST, WalkedBook
from services.executor.latency import LatencyModel
from services.executor.order_executor import Refusal, conform_to_pair_rules
from venues.kraken.pairs import PairRules


@dataclass
class PaperOrder:
    order_id: str
    target_id: str
    symbol: str
    side: Side
    remaining: float
    due_ns: int  # arrival at the venue: the first event time at which the market may fill it


class PaperOrderExecutor:
    """Paper fills from ticks; see the module docstring for the rules."""

    def __init__(
        self,
        pairs: dict[str, PairRules],
        *,
        latency_ms: float,
        taker_fee_bps: float,
        latency_jitter_ms: float = 0.0,
        latency_seed: int = 0,
    ) -> None:
        self.pairs = pairs
        self.latency = LatencyModel(latency_ms, latency_jitter_ms, latency_seed)
        self.fee_rate = taker_fee_bps / 1e4
        self.open_orders: dict[str, PaperOrder] = {}
        self.books: dict[str, WalkedBook] = {}

    def conform(self, symbol: str, qty: float, price: float) -> tuple[float, Refusal | None]:
        return conform_to_pair_rules(self.pairs, symbol, qty, price)

    def submit(
        self, order_id: str, target_id: str, symbol: str, side: Side, qty: float, event_ts_ns: int
    ) -> PaperOrder:
        due_ns = event_ts_ns + self.latency.draw_ns()
        order = PaperOrder(order_id, target_id, symbol, side, qty, due_ns)
        self.open_orders[order_id] = order
        return order

    def on_tick(self, tick: Tick, only_order_id: str | None = None) -> list[Fill]:
        """Fill what this tick can fill, oldest order first.

        `only_order_id`: the engine offers a just-submitted order the book it
        was decided on; it fills there only if it arrives no later (latency 0).
        """
        if tick.kind is TickKind.QUOTE:
            book = self.books.setdefault(tick.symbol, WalkedBook())
            book.refresh(tick)
            return self._fill(tick, only_order_id, book)
        if tick.symbol not in self.books:  # never a book for this symbol: trades price
            return self._fill(tick, only_order_id, None)
        return []

    def _fill(self, tick: Tick, only_order_id: str | None, book: WalkedBook | None) -> list[Fill]:
        fills: list[Fill] = []
        trade_left = tick.last_size or 0.0
        for order in list(self.open_orders.values()):
            if order.symbol != tick.symbol or order.due_ns > tick.recv_ts_ns:
                continue  # not yet at the venue: never priced on a book older than its arrival
            if only_order_id is not None and order.order_id != only_order_id:
                continue
            if book is not None:
                taken = book.take(order.side, order.remaining)
            elif order.side is tick.side and tick.last is not None and trade_left > DUST:
                taken = [(tick.last, min(order.remaining, trade_left))]
                trade_left -= taken[0][1]
            else:
                taken = []
            for price, qty in taken:
                order.remaining = round(order.remaining - qty, 12)
                fills.append(self._fill_of(order, tick, price, qty))
            if order.remaining <= DUST:
                del self.open_orders[order.order_id]
        return fills

    def _fill_of(self, order: PaperOrder, tick: Tick, price: float, qty: float) -> Fill:
        return Fill(
            order_id=order.order_id,
            symbol=order.symbol,
            side=order.side,
            qty=qty,
            price=price,
            fee=qty * price * self.fee_rate,
            liquidity=Liquidity.TAKER,
            tick_seq=tick.seq,
            ts_ns=tick.recv_ts_ns,
        )

    def skip_quiet(self, symbol: str, last_quote: Tick | None) -> bool:
        """Take a run of `symbol`'s ticks in one step if none of them can fill or matter later.

        Nothing can fill with no open order of the symbol, and the book's
        intermediate refreshes matter only while paper remembers takings from
        it; then only the run's last quote (`last_quote`, None for trades
        alone) is the book. False (and nothing changed): apply tick by tick.
        """
        if any(order.symbol == symbol for order in self.open_orders.values()):
            return False
        book = self.books.get(symbol)
        if book is not None and book.remembers_takings:
            return False
        if last_quote is not None:
            self.books.setdefault(symbol, WalkedBook()).refresh(last_quote)
        return True
