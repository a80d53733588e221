"""One symbol's Kraken order book, in exact decimals, and its v2 checksum.

Pure: apply levels, truncate to the subscribed depth, read the top, compute
the CRC32 Kraken sends with every snapshot and update (docs/kraken-ws-v2.md
section 5; verified on tests/fixtures/kraken/pks_book_btcusd_d10_2023-07-30.json).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from decimal import Decimal

Level = tuple[Decimal, Decimal]  # (price, qty)


class PrecisionError(ValueError):
    """A number carries more decimals than the pair's precision: not Kraken's book."""


class Book:
    def __init__(self, depth: int, price_precision: int, qty_precision: int) -> None:
        self.depth = depth
        self.price_precision = price_precision
        self.qty_precision = qty_precision
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        # Checksum text of each level, made once when the level is set: most
        # levels survive many updates, and formatting decimals is the hot spot.
        self._texts: dict[tuple[bool, Decimal], str] = {}

    def apply(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Apply levels in order (qty 0 deletes), then cut each side to the depth.

        Raises:
            PrecisionError: a level has more decimals than the pair allows.
        """
        for is_bid, side, levels in ((True, self.bids, bids), (False, self.asks, asks)):
            for price, qty in levels:
                if qty == 0:
                    side.pop(price, None)
                    self._texts.pop((is_bid, price), None)
                else:
                    self._texts[(is_bid, price)] = self._level_text(price, qty)
                    side[price] = qty
        # Kraken sends no deletes for levels pushed out of range (section 5, step 1).
        if len(self.bids) > self.depth:
            for price in sorted(self.bids, reverse=True)[self.depth :]:
                del self.bids[price]
                del self._texts[(True, price)]
        if len(self.asks) > self.depth:
            for price in sorted(self.asks)[self.depth :]:
                del self.asks[price]
                del self._texts[(False, price)]

    def levels(self) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """Every level kept (the subscribed depth), best first: (bids, asks)."""
        bids = tuple((price, self.bids[price]) for price in sorted(self.bids, reverse=True))
        asks = tuple((price, self.asks[price]) for price in sorted(self.asks))
        return bids, asks

    def checksum(self) -> int:
        """CRC32 of the best 10 asks (ascending) then best 10 bids (descending)."""
        texts = self._texts
        parts = [texts[(False, price)] for price in sorted(self.asks)[:10]]
        parts += [texts[(True, price)] for price in sorted(self.bids, reverse=True)[:10]]
        return zlib.crc32("".join(parts).encode()) & 0xFFFFFFFF

    def _level_text(self, price: Decimal, qty: Decimal) -> str:
        return _digits(price, self.price_precision) + _digits(qty, self.qty_precision)


def _digits(value: Decimal, precision: int) -> str:
    text = f"{value:.{precision}f}"
    if Decimal(text) != value:  # formatting rounded: the value had more decimals
        raise PrecisionError(f"{value} has more than {precision} decimals")
    return text.replace(".", "").lstrip("0")
