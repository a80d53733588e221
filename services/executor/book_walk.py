"""One symbol's book as a paper order meets it: the latest levels, less what paper took.

Pure. A market order walks the levels of the side it takes (a buy the asks,
a sell the bids), best first, taking at each level what is shown there less
what earlier paper orders already took from it. Paper's takings are not in
the real market's later books, so they are remembered per level until that
level refreshes: a later book showing a different size at that price (or no
longer showing the price) is the venue's news about it, and the memory of
that level is dropped; a level shown unchanged still lacks what paper took.

A tick without levels (version 1, a `bookTicker` import) is a one-level book:
its bid/ask and their sizes.
"""

from __future__ import annotations

from typing import Final

from common.messages import Level, Side, Tick

DUST: Final = 1e-12  # below this, a level's rest is float residue, not size


class WalkedBook:
    def __init__(self) -> None:
        self.tick: Tick | None = None  # the latest quote: the book as it stands
        # Per side taken: price -> (size shown when paper took from it, size taken).
        self._taken: dict[Side, dict[float, tuple[float, float]]] = {Side.BUY: {}, Side.SELL: {}}

    def refresh(self, tick: Tick) -> None:
        """A new book: forget what paper took from each level this book shows anew."""
        if tick is self.tick:
            # The same book again (an order meeting the book it arrived on). By
            # identity, not seq: a restarted feed's quote may carry the seq of
            # the one before it, and is still the newer book.
            return
        self.tick = tick
        for side, taken in self._taken.items():
            if not taken:
                continue
            shown = dict(levels_taken_by(tick, side))
            for price, (size, _) in list(taken.items()):
                if shown.get(price) != size:
                    del taken[price]

    @property
    def remembers_takings(self) -> bool:
        """Paper took from a level that no later book has shown anew (refreshes must be seen)."""
        return any(self._taken.values())

    def take(self, side: Side, qty: float, limit_price: float | None = None) -> list[Level]:
        """Walk the book for an order of `qty`: the (price, qty) taken at each level.

        `limit_price`: a limit order takes only levels at that price or better.
        """
        if self.tick is None:
            return []
        taken = self._taken[side]
        got: list[Level] = []
        for price, size in levels_taken_by(self.tick, side):
            if qty <= DUST or (limit_price is not None and not crosses(side, price, limit_price)):
                break
            already = taken.get(price, (size, 0.0))[1]
            here = min(qty, size - already)
            if here <= DUST:
                continue
            taken[price] = (size, already + here)
            got.append((price, here))
            qty = round(qty - here, 12)
        return got


def crosses(side: Side, level_price: float, limit_price: float) -> bool:
    """Whether an order of `side` limited to `limit_price` takes a level at `level_price`."""
    return level_price <= limit_price if side is Side.BUY else level_price >= limit_price


def levels_taken_by(tick: Tick, side: Side) -> list[Level]:
    """The levels a market order of `side` takes, best first (a buy: the asks)."""
    if side is Side.BUY:
        if tick.asks:
            return tick.asks
        return [(tick.ask, tick.ask_size)] if tick.ask and tick.ask_size else []
    if tick.bids:
        return tick.bids
    return [(tick.bid, tick.bid_size)] if tick.bid and tick.bid_size else []


def sweep_price(tick: Tick, side: Side, qty: float) -> float | None:
    """The average price of sweeping `qty` off this book at once; None if it shows less.

    The fidelity oracle's reference: what an order of `qty` would pay on the
    book as it stood at its arrival, with nothing taken before it.
    """
    cost, left = 0.0, qty
    for price, size in levels_taken_by(tick, side):
        here = min(left, size)
        cost += here * price
        left -= here
        if left <= DUST:
            return cost / qty
    return None
