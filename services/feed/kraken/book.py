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

    def apply(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Apply levels in order (qty 0 deletes), then cut each side to the depth."""
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, qty in levels:
                if qty == 0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        # Kraken sends no deletes for levels pushed out of range (section 5, step 1).
        if len(self.bids) > self.depth:
            for price in sorted(self.bids, reverse=True)[self.depth :]:
                del self.bids[price]
        if len(self.asks) > self.depth:
            for price in sorted(self.asks)[self.depth :]:
                del self.asks[price]

    def best_bid(self) -> Level | None:
        if not self.bids:
            return None
        price = max(self.bids)
        return price, self.bids[price]

    def best_ask(self) -> Level | None:
        if not self.asks:
            return None
        price = min(self.asks)
        return price, self.asks[price]

    def checksum(self) -> int:
        """CRC32 of the best 10 asks (ascending) then best 10 bids (descending)."""
        parts = [
            self._level_text(price, self.asks[price]) for price in sorted(self.asks)[:10]
        ] + [
            self._level_text(price, self.bids[price])
            for price in sorted(self.bids, reverse=True)[:10]
        ]
        return zlib.crc32("".join(parts).encode()) & 0xFFFFFFFF

    def _level_text(self, price: Decimal, qty: Decimal) -> str:
        return _digits(price, self.price_precision) + _digits(qty, self.qty_precision)


def _digits(value: Decimal, precision: int) -> str:
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > precision and value != value.quantize(
        Decimal(1).scaleb(-precision)
    ):
        raise PrecisionError(f"{value} has more than {precision} decimals")
    text = f"{value:.{precision}f}"
    return text.replace(".", "").lstrip("0")
