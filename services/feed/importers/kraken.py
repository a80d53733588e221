"""Kraken trade files -> trade ticks.

- REST ``GET /0/public/Trades`` JSON: ``{"error": [], "result": {"<PAIR>":
  [[price, volume, time_s, side "b"|"s", ordertype, misc, trade_id], ...],
  "last": "<ns>"}}``. `side` is the taker side.
- The downloadable trade history CSV: ``timestamp,price,volume`` rows
  (seconds since the epoch, possibly fractional), no header, no side. The
  aggressor side is inferred with the tick test (uptick -> buy, downtick ->
  sell, unchanged -> as the previous trade; the first trade with no
  reference -> buy), and the header's `source` says so.
Receive time equals exchange time: these files carry no receive clock.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

from common import wire
from common.errors import WireError
from common.messages import Side, Tick, TickKind
from services.feed.importers.errors import ImportFormatError

VENUE: Final = "kraken"
_LEGACY_ASSETS: Final = {
    "XBT": "BTC",
    "XXBT": "BTC",
    "XDG": "DOGE",
    "XXDG": "DOGE",
    "XETH": "ETH",
    "ZUSD": "USD",
    "ZEUR": "EUR",
}


def symbol_from_rest_pair(pair: str) -> str:
    """``XBTUSDT`` -> ``BTC/USDT``, ``XXBTZUSD`` -> ``BTC/USD`` (Kraken's REST names)."""
    for quote in ("USDT", "USDC", "ZUSD", "ZEUR", "USD", "EUR"):
        if pair.endswith(quote) and len(pair) > len(quote):
            base = pair[: -len(quote)]
            return f"{_LEGACY_ASSETS.get(base, base)}/{_LEGACY_ASSETS.get(quote, quote)}"
    raise ValueError(f"cannot split Kraken pair {pair!r}")


def _seconds_to_ns(value: Any) -> int:
    # Through Decimal: a float seconds value would lose the microseconds.
    return int(Decimal(str(value)) * 1_000_000_000)


def read_rest_trades(path: Path, symbol: str | None) -> Iterator[Tick]:
    try:
        body = json.loads(path.read_text())
        if body.get("error"):
            raise ImportFormatError(path, 1, f"the response carries errors: {body['error']}")
        pairs = {k: v for k, v in body["result"].items() if k != "last"}
    except (OSError, ValueError, KeyError, AttributeError) as e:
        raise ImportFormatError(path, 1, f"not a Kraken Trades response: {e}") from None
    if len(pairs) != 1:
        raise ImportFormatError(path, 1, f"expected one pair, found {sorted(pairs)}")
    [(pair, rows)] = pairs.items()
    name = symbol or symbol_from_rest_pair(pair)
    for index, row in enumerate(rows, start=1):
        try:
            price, volume, time_s, side = row[0], row[1], row[2], row[3]
            tick = _trade(
                name,
                index,
                _seconds_to_ns(time_s),
                price,
                volume,
                {"b": Side.BUY, "s": Side.SELL}[side],
            )
        except (IndexError, KeyError, TypeError, ValueError, InvalidOperation) as e:
            raise ImportFormatError(path, index, f"trade row {row!r}: {e}") from None
        yield tick


def read_csv_trades(path: Path, symbol: str) -> Iterator[Tick]:
    last_price: Decimal | None = None
    side = Side.BUY
    try:
        with open(path, newline="") as f:
            for line_number, row in enumerate(csv.reader(f), start=1):
                if not row:
                    continue
                try:
                    time_s, price_text, volume_text = row
                    price = Decimal(price_text)
                    if last_price is not None and price != last_price:
                        side = Side.BUY if price > last_price else Side.SELL
                    last_price = price
                    tick = _trade(
                        symbol, line_number, _seconds_to_ns(time_s), price_text, volume_text, side
                    )
                except (ValueError, InvalidOperation) as e:
                    raise ImportFormatError(path, line_number, f"row {row!r}: {e}") from None
                yield tick
    except OSError as e:
        raise ImportFormatError(path, 0, f"cannot read: {e.strerror}") from None


def _trade(symbol: str, seq: int, ts_ns: int, price: Any, volume: Any, side: Side) -> Tick:
    tick = Tick(
        venue=VENUE,
        symbol=symbol,
        seq=seq,
        kind=TickKind.TRADE,
        exch_ts_ns=ts_ns,
        recv_ts_ns=ts_ns,
        last=float(price),
        last_size=float(volume),
        side=side,
    )
    try:
        return wire.validate(tick)  # type: ignore[return-value]
    except WireError as e:
        raise ValueError(str(e)) from None
