"""Binance raw websocket captures (the hftbacktest sample format) -> ticks.

Input: gzip text, one event per line, ``<local_receive_ns> <json>``, where the
JSON is a combined-stream message ``{"stream": "<sym>@<channel>", "data": ...}``
(see data/PROVENANCE.md). `bookTicker` becomes a quote `Tick`, `trade` a trade
`Tick`. With `depth` N > 0 the L2 `depth` diffs and the REST depth snapshot
rebuild the book (`binance_book.py`) and each quote carries its top N levels
a side; with 0 they are skipped (top of book only) and counted.

Spot `bookTicker` carries no exchange time, so a quote's `exch_ts_ns` is its
local receive time; a trade's is Binance's trade time `T`. The capture host's
clock ran about 1.27 s behind Binance's, so trade exchange times are later than
their receive times; the file keeps both as recorded.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from common import wire
from common.errors import WireError
from common.messages import Side, Tick, TickKind
from services.feed.importers.binance_book import BinanceBook
from services.feed.importers.errors import ImportFormatError

VENUE: Final = "binance"
_QUOTE_ASSETS: Final = ("USDT", "USDC", "FDUSD", "BUSD", "USD", "EUR", "BTC", "ETH")


def symbol_from_binance(raw: str) -> str:
    """Return ``BTC/USDT`` for ``BTCUSDT`` (the quote asset split off the end)."""
    upper = raw.upper()
    for quote in _QUOTE_ASSETS:
        if upper.endswith(quote) and len(upper) > len(quote):
            return f"{upper[: -len(quote)]}/{quote}"
    raise ValueError(f"cannot split {raw!r} into base/quote")


def read_events(
    paths: Sequence[Path], *, max_seconds: float | None, skipped: Counter[str], depth: int = 0
) -> Iterator[Tick]:
    """Yield ticks from the files in order (they must continue one another).

    Args:
        paths: capture files, in time order.
        max_seconds: stop after this span of local time from the first event.
        skipped: counts what was passed over, by kind.
        depth: levels a side on each quote, from the rebuilt book; 0: the top only.

    Raises:
        ImportFormatError: a line that cannot be read, or time going backwards.
    """
    seq = 0
    book = BinanceBook() if depth > 0 else None
    first_ns: int | None = None
    last_ns = 0
    for path in paths:
        for line_number, recv_ns, event in _lines(path):
            if first_ns is None:
                first_ns = recv_ns
            if max_seconds is not None and recv_ns - first_ns > max_seconds * 1e9:
                return
            if recv_ns < last_ns:
                raise ImportFormatError(path, line_number, "receive time goes backwards")
            last_ns = recv_ns
            try:
                tick = _tick_from_event(event, seq + 1, recv_ns, skipped, book, depth)
                if tick is not None:
                    wire.validate(tick)
            except (KeyError, TypeError, ValueError) as e:
                detail = str(e) if isinstance(e, WireError) else f"{type(e).__name__}: {e}"
                raise ImportFormatError(path, line_number, detail) from None
            if tick is not None:
                seq += 1
                yield tick
    if book is not None and book.gaps:
        skipped["depth_gaps"] += book.gaps


def _lines(path: Path) -> Iterator[tuple[int, int, dict[str, Any]]]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as text:
            for line_number, line in enumerate(text, start=1):
                stamp, _, body = line.partition(" ")
                try:
                    yield line_number, int(stamp), json.loads(body)
                except ValueError as e:
                    raise ImportFormatError(path, line_number, f"not '<ns> <json>': {e}") from None
    except (OSError, EOFError) as e:
        raise ImportFormatError(path, 0, f"cannot read: {e}") from None


def _tick_from_event(
    event: dict[str, Any],
    seq: int,
    recv_ns: int,
    skipped: Counter[str],
    book: BinanceBook | None,
    depth: int,
) -> Tick | None:
    stream = event.get("stream")
    if stream is None:
        if book is not None and "lastUpdateId" in event:
            book.on_snapshot(event)
            return None
        skipped["rest_snapshot" if "lastUpdateId" in event else "unknown"] += 1
        return None
    channel = stream.split("@", 1)[1]
    data = event["data"]
    if channel.startswith("depth") and book is not None:
        book.on_diff(data)
        return None
    if channel == "bookTicker":
        top = (float(data["b"]), float(data["B"]), float(data["a"]), float(data["A"]))
        bids, asks = book.levels(top, depth) if book is not None else ([], [])
        return Tick(
            venue=VENUE,
            symbol=symbol_from_binance(data["s"]),
            seq=seq,
            kind=TickKind.QUOTE,
            exch_ts_ns=recv_ns,
            recv_ts_ns=recv_ns,
            bid=top[0],
            bid_size=top[1],
            ask=top[2],
            ask_size=top[3],
            bids=bids,
            asks=asks,
        )
    if channel == "trade":
        return Tick(
            venue=VENUE,
            symbol=symbol_from_binance(data["s"]),
            seq=seq,
            kind=TickKind.TRADE,
            exch_ts_ns=int(data["T"]) * 1_000_000,
            recv_ts_ns=recv_ns,
            last=float(data["p"]),
            last_size=float(data["q"]),
            side=Side.SELL if data["m"] else Side.BUY,  # buyer is maker: the aggressor sold
        )
    skipped[channel.split("@")[0]] += 1
    return None
