"""`QueuePosition`: where a resting paper order stands in its price level's queue. Pure.

The rules (docs/EXECUTION.md has a worked example):
- Joining: the order joins behind the size the book displays at its price on
  its side when it arrives; 0 ahead if its price improves on the best (a new
  level), or lies inside the displayed range where no level is shown. A
  price deeper than the displayed depth has an unknown queue (`ahead` None):
  the first book that shows the level sets `ahead` to all of it (everyone
  there counts as ahead: conservative).
- A trade at the order's price, by an aggressor on the other side (a sell
  for a resting buy), first reduces the queue ahead; only what is left of
  it reaches the order. An unknown queue takes nothing from trades at its
  price.
- A trade printing through the price (a buy's: below it) means the whole
  level traded: the order fills whole at its price.
- A book where the level shrank by more than what traded there since the
  last book: the rest of the decrease was cancellations, spread over the
  queue in proportion, so `ahead` drops by ahead x cancelled / level size
  (the level's size after those trades, before the cancellations).
  Growth is joiners behind us: `ahead` stays.
- The book trading through the level (the best opposite price at or across
  ours) is left to the paper executor: it fills against that displayed size.
Never a fill before the queue ahead is gone.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.messages import Side, Tick
from services.executor.book_walk import levels_taken_by

INFINITE = float("inf")


@dataclass
class QueuePosition:
    side: Side  # the resting order's side
    price: float
    ahead: float | None  # displayed size ahead of the order; None: its level is not shown yet
    level_size: float | None  # displayed size at the price in the last book (None: not shown)
    traded_since_book: float = 0.0  # traded at the price since the last book

    def on_book(self, book: Tick) -> None:
        """A new book: learn cancellations ahead from the level's size."""
        size = displayed_size(book, self.side, self.price)
        if self.ahead is None:
            self.ahead = size  # first sight of the level: everyone shown is ahead
        elif size is not None and self.level_size:
            # What left the level beyond what traded there was cancelled, spread over
            # the level as it stood after those trades.
            remaining = self.level_size - self.traded_since_book
            cancelled = remaining - size
            if cancelled > 0 and remaining > 0:
                self.ahead -= self.ahead * min(cancelled / remaining, 1.0)
            self.ahead = max(0.0, min(self.ahead, size))  # never more ahead than is shown
        elif size is not None:
            self.ahead = min(self.ahead, size)
        self.level_size = size
        self.traded_since_book = 0.0

    def on_trade(self, price: float, size: float, aggressor: Side | None) -> float:
        """What of this trade reaches the order: INFINITE for a trade through its price."""
        if self.side is Side.BUY:
            through, at = price < self.price, price == self.price
        else:
            through, at = price > self.price, price == self.price
        if through:
            return INFINITE
        if not at or aggressor is self.side:
            return 0.0  # elsewhere, or it took the other side of the book
        self.traded_since_book += size
        if self.ahead is None:
            return 0.0
        used = min(size, self.ahead)
        self.ahead -= used
        return size - used


def join(book: Tick, side: Side, price: float) -> QueuePosition:
    """The queue position of an order of `side` at `price` arriving on `book`."""
    size = displayed_size(book, side, price)
    return QueuePosition(side, price, ahead=size, level_size=size)


def displayed_size(book: Tick, side: Side, price: float) -> float | None:
    """The size displayed at `price` on the side an order of `side` rests on.

    0 when the price is better than the best or inside the displayed range with
    no level there; None when it is deeper than the book shows.
    """
    # An order rests among the levels an order of the other side would take (a buy: the bids).
    levels = levels_taken_by(book, Side.SELL if side is Side.BUY else Side.BUY)
    if not levels:
        return None
    if _better(side, price, levels[0][0]):
        return 0.0
    for level_price, level_size in levels:
        if level_price == price:
            return level_size
    return 0.0 if _better(side, price, levels[-1][0]) else None


def _better(side: Side, price: float, than: float) -> bool:
    """Whether `price` is a better resting price for `side` than `than` (a buy: higher)."""
    return price > than if side is Side.BUY else price < than
