"""`PaperOrderExecutor`: market orders filled against the market as it really was.

Pure. An order submitted at event time t is priced on the first quote tick at
or after t + latency: a buy takes the ask, a sell the bid, at most the size
shown there; the rest waits for the next quote tick (the top of book is all a
quote tick shows, so that is all one tick can fill). Taker fee on every fill.
Kraken's pair rules refuse what Kraken would refuse: quantities are cut to the
lot size, then the minimum size and minimum cost apply.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from common.messages import Fill, Liquidity, Side, Tick, TickKind
from services.executor.order_executor import Refusal, conform_to_pair_rules
from venues.kraken.pairs import PairRules

KRAKEN_BASE_TAKER_FEE_BPS = 40.0  # 0.40 %, Kraken spot's entry tier
TAKEN_MEMORY_TICKS = 50_000  # at least the engine's tick history across symbols


@dataclass
class PaperOrder:
    order_id: str
    target_id: str
    symbol: str
    side: Side
    remaining: float
    due_ns: int  # first event time at which the market may fill it


class PaperOrderExecutor:
    """Paper fills from ticks; see the module docstring for the rules."""

    def __init__(
        self, pairs: dict[str, PairRules], *, latency_ms: float, taker_fee_bps: float
    ) -> None:
        self.pairs = pairs
        self.latency_ns = int(latency_ms * 1_000_000)
        self.fee_rate = taker_fee_bps / 1e4
        self.open_orders: dict[str, PaperOrder] = {}
        # Size already taken at each recent tick, so a late order replayed over
        # past ticks meets only what earlier orders left there.
        self._taken: OrderedDict[tuple[str, int], dict[Side, float]] = OrderedDict()

    def conform(self, symbol: str, qty: float, price: float) -> tuple[float, Refusal | None]:
        return conform_to_pair_rules(self.pairs, symbol, qty, price)

    def submit(
        self, order_id: str, target_id: str, symbol: str, side: Side, qty: float, event_ts_ns: int
    ) -> PaperOrder:
        order = PaperOrder(order_id, target_id, symbol, side, qty, event_ts_ns + self.latency_ns)
        self.open_orders[order_id] = order
        return order

    def on_tick(self, tick: Tick, only_order_id: str | None = None) -> list[Fill]:
        """Fill what this tick's top of book can fill, oldest order first.

        `only_order_id` replays a past tick for one late order alone: the
        others already met that tick when it was live.
        """
        if tick.kind is not TickKind.QUOTE or not self.open_orders:
            return []
        fills: list[Fill] = []
        taken = self._taken_at(tick)
        available = {
            Side.BUY: (tick.ask_size or 0.0) - taken[Side.BUY],
            Side.SELL: (tick.bid_size or 0.0) - taken[Side.SELL],
        }
        for order in list(self.open_orders.values()):
            if order.symbol != tick.symbol or order.due_ns > tick.recv_ts_ns:
                continue
            if only_order_id is not None and order.order_id != only_order_id:
                continue
            qty = min(order.remaining, available[order.side])
            if qty <= 0:
                continue
            price = tick.ask if order.side is Side.BUY else tick.bid
            if price is None:
                continue
            available[order.side] -= qty
            taken[order.side] += qty
            order.remaining = round(order.remaining - qty, 12)
            fills.append(
                Fill(
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
            )
            if order.remaining <= 0:
                del self.open_orders[order.order_id]
        return fills

    def _taken_at(self, tick: Tick) -> dict[Side, float]:
        key = (tick.symbol, tick.seq)
        taken = self._taken.get(key)
        if taken is None:
            taken = self._taken[key] = {Side.BUY: 0.0, Side.SELL: 0.0}
            if len(self._taken) > TAKEN_MEMORY_TICKS:
                self._taken.popitem(last=False)
        return taken
