"""What the engine needs from an order executor, paper or live, and the pair rules both apply.

`PaperOrderExecutor` fills from ticks; `LiveOrderExecutor` sends to a venue
and reports back later. The engine sizes, risk-checks and numbers the orders;
an executor only conforms, carries out and (paper) fills them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Protocol

from common.messages import Fill, OrderType, RejectReason, Side, Tick, TimeInForce
from venues.kraken.pairs import ONLINE, PairRules

Refusal = tuple[RejectReason, str]


@dataclass(frozen=True)
class OrderTerms:
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None  # on the pair's price grid
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False


MARKET = OrderTerms()


class OrderExecutor(Protocol):
    pairs: dict[str, PairRules]  # the venue's pair rules: fills are kept on their lot grid

    def conform(self, symbol: str, qty: float, price: float) -> tuple[float, Refusal | None]:
        """Cut `qty` to what the venue accepts, or say why it would refuse it."""
        ...

    def submit(
        self, order_id: str, target_id: str, symbol: str, side: Side, qty: float, event_ts_ns: int
    ) -> object: ...

    def on_tick(self, tick: Tick, only_order_id: str | None = None) -> list[Fill]:
        """Fills this tick makes (paper); a live venue's fills come another way."""
        ...


def conform_to_pair_rules(
    pairs: dict[str, PairRules], symbol: str, qty: float, price: float
) -> tuple[float, Refusal | None]:
    """Cut `qty` to the pair's lot size and check Kraken's minimum size and cost.

    A pair Kraken has not `online` (cancel_only, post_only, ...) takes no market order.
    """
    rules = pairs.get(symbol)
    if rules is None:
        return 0.0, (RejectReason.UNKNOWN_SYMBOL, f"no pair rules for {symbol}")
    if rules.status != ONLINE:  # cancel_only, post_only, ...: Kraken takes no market order
        return 0.0, (RejectReason.EXCHANGE_REJECTED, f"EService:Market in {rules.status} mode")
    lots = (Decimal(repr(qty)) / rules.qty_increment).to_integral_value(ROUND_DOWN)
    conformed = float(lots * rules.qty_increment)
    if conformed < float(rules.qty_min):
        return conformed, (RejectReason.MIN_ORDER_SIZE, f"{conformed} < minimum {rules.qty_min}")
    if conformed * price < float(rules.cost_min):
        cost = conformed * price
        return conformed, (RejectReason.MIN_COST, f"cost {cost:.4f} < minimum {rules.cost_min}")
    return conformed, None
