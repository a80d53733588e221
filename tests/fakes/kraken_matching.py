"""How the fake Kraken venue matches limit orders against a `RecordedMarket` (pure).

On arrival, a limit order takes what the opposite side shows at or through
its price (a post-only order that would take is refused instead). What is
left rests, behind a queue: the size the book displayed at its price when
it arrived (none at a price the book does not show), which must trade
first. It is conservative on purpose, so that a resting order fills no
sooner than it could have behind a real queue:

- a trade at its price (the taker on the other side) first eats the queue
  ahead, and only what is left of the print fills the order;
- a trade through its price (a sell printing below a resting buy) fills it,
  up to the print's size: it had priority over that print;
- the displayed size at its price shrinking below the queue shortens the
  queue (those ahead left; the recording never shows our own order);
- the opposite side reaching its price (the book crossing it) fills it, up
  to the size shown at or through the price; a cross that stays shown is the
  same liquidity, credited once (only size added to it counts again).

Passive fills are at the order's limit price, as maker. The recording is
walked one book update at a time, trades in between, so a quick cross that
a later book undoes still counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tests.fakes.kraken_market import Level, RecordedMarket


@dataclass
class Resting:
    """A limit order's place in the recorded market."""

    symbol: str  # the WS symbol the market records (BTC/USD)
    side: str  # buy | sell
    price: Decimal
    queue_ahead: Decimal  # displayed size at its price that must trade before it
    seen_position: int  # the market position it was last matched to
    cross_credited: Decimal = Decimal(0)  # crossing size already filled from, while it lasts


def crossing_levels(side: str, price: Decimal, bids: list[Level], asks: list[Level]) -> list[Level]:
    """The opposite levels an order at `price` would take, best first."""
    if side == "buy":
        return [(p, q) for p, q in asks if p <= price]
    return [(p, q) for p, q in bids if p >= price]


def displayed_at(side: str, price: Decimal, bids: list[Level], asks: list[Level]) -> Decimal:
    """The size the book shows on the order's own side at its price (the queue ahead)."""
    return dict(bids if side == "buy" else asks).get(price, Decimal(0))


def rest(market: RecordedMarket, symbol: str, side: str, price: Decimal) -> Resting:
    """A limit order's place in the book, as of now: behind what is shown at its price.

    What crosses it now is what it took on arrival (or, post-only, why it was
    refused), so that liquidity is credited already.
    """
    bids, asks = market.book(symbol)
    crossing = crossing_levels(side, price, bids, asks)
    return Resting(
        symbol,
        side,
        price,
        queue_ahead=displayed_at(side, price, bids, asks),
        seen_position=market.position,
        cross_credited=sum((qty for _, qty in crossing), Decimal(0)),
    )


def passive_fill(resting: Resting, left: Decimal, market: RecordedMarket) -> Decimal:
    """How much of `left` the recording has filled since the order was last matched."""
    now = market.position
    trades = market.trades_since(resting.symbol, resting.seen_position)
    filled = Decimal(0)
    for position in range(resting.seen_position + 1, now + 1):
        for trade in (t for t in trades if t.after_updates == position):
            filled += _from_trade(resting, trade.side, trade.price, trade.qty)
        bids, asks = market.book(resting.symbol, position)
        shown = displayed_at(resting.side, resting.price, bids, asks)
        resting.queue_ahead = min(resting.queue_ahead, shown)
        crossing_levels_now = crossing_levels(resting.side, resting.price, bids, asks)
        crossing = sum((qty for _, qty in crossing_levels_now), Decimal(0))
        filled += max(Decimal(0), crossing - resting.cross_credited)
        resting.cross_credited = crossing
        if filled >= left:
            break
    resting.seen_position = now
    return min(filled, left)


def _from_trade(resting: Resting, taker: str, price: Decimal, qty: Decimal) -> Decimal:
    if taker == resting.side:  # same side as ours: it took from the other side, not from us
        return Decimal(0)
    through = price < resting.price if resting.side == "buy" else price > resting.price
    if through:
        return qty
    if price != resting.price:
        return Decimal(0)
    reaching = max(Decimal(0), qty - resting.queue_ahead)
    resting.queue_ahead = max(Decimal(0), resting.queue_ahead - qty)
    return reaching
