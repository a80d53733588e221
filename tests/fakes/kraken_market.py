"""The recorded market a fake Kraken venue's orders meet: book states and trades on one clock.

`RecordedMarket` holds, per WebSocket symbol (`BTC/USD`), a recorded book (a
snapshot and its updates, as Kraken's WS v2 sends them) and the trades that
printed, each placed after a number of book updates. Its clock is a stream
position: how many updates have been played. A test advances it by hand
(`advance`), or the market follows a `FakeKrakenServer` (`following`), whose
`sent_updates` is that position: then the fake REST venue's orders meet exactly
the book the fake feed last sent, which is what a live executor's orders would
meet behind a real feed.

A market order `take`s the levels of the current book, best first, less what
earlier orders already took from each level; what was taken from a level is
remembered until a later book shows that level with another size (or not at
all), as services/executor/book_walk.py does for paper.

The WS fixture's one trade frame (tests/fixtures/kraken/krakenapi_frames_...)
comes from another capture (2026, at $71,749) than the book (2023, ~$29,430):
`following` plays it, at position 0, as the fake feed does, and it fills no
order resting near that book. Tests that want fills driven by trades give
their own, on the book's prices.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from venues.kraken.ws.book import Book

if TYPE_CHECKING:
    from tests.fakes.kraken_ws import FakeKrakenServer

Level = tuple[Decimal, Decimal]  # (price, qty)
DEPTH = 10  # the fixture's subscription depth
PRICE_DECIMALS, QTY_DECIMALS = 1, 8  # BTC/USD on Kraken


@dataclass(frozen=True)
class RecordedTrade:
    """One print: `side` is the taker's (a `sell` hit the bids)."""

    symbol: str
    price: Decimal
    qty: Decimal
    side: str  # "buy" | "sell"
    after_updates: int  # the book updates played before it printed


def trades_from_frames(frames: Iterable[str], after_updates: int = 0) -> list[RecordedTrade]:
    """The trades in Kraken WS v2 `trade` frames (JSON text), all at one stream position."""
    trades = []
    for frame in frames:
        message = json.loads(frame)
        if message.get("channel") != "trade":
            continue
        for entry in message.get("data", []):
            trades.append(
                RecordedTrade(
                    symbol=entry["symbol"],
                    price=Decimal(str(entry["price"])),
                    qty=Decimal(str(entry["qty"])),
                    side=entry["side"],
                    after_updates=after_updates,
                )
            )
    return trades


class _Recording:
    """One symbol's book messages, replayed to any position (incrementally when moving on)."""

    def __init__(self, snapshot: dict[str, Any], updates: Sequence[dict[str, Any]]) -> None:
        self.snapshot, self.updates = snapshot, updates
        self._book = self._fresh()
        self._position = 0

    def _fresh(self) -> Book:
        book = Book(DEPTH, PRICE_DECIMALS, QTY_DECIMALS)
        _apply(book, self.snapshot)
        return book

    def book_at(self, position: int) -> Book:
        position = min(position, len(self.updates))
        if position < self._position:  # a test went back: replay from the snapshot
            self._book, self._position = self._fresh(), 0
        for message in self.updates[self._position : position]:
            _apply(self._book, message)
        self._position = position
        return self._book


class RecordedMarket:
    """Recorded books and trades at a stream position; see the module docstring."""

    def __init__(
        self,
        books: dict[str, tuple[dict[str, Any], Sequence[dict[str, Any]]]],
        trades: Sequence[RecordedTrade] = (),
        position: Callable[[], int] | None = None,
    ) -> None:
        """`books`: symbol -> (snapshot, updates) as WS v2 messages; `position`: the clock
        to follow (default: this market's own, moved by `advance`)."""
        self._recordings = {symbol: _Recording(*book) for symbol, book in books.items()}
        self.trades = sorted(trades, key=lambda trade: trade.after_updates)
        self._own_position = 0
        self._position = position or (lambda: self._own_position)
        self._lock = threading.Lock()
        # Per symbol and taker side: price -> (size shown when taken from, size taken).
        self._taken: dict[tuple[str, str], dict[Decimal, tuple[Decimal, Decimal]]] = {}
        self._taken_at: dict[str, int] = {}  # the position `_taken` was last checked against

    @classmethod
    def following(
        cls, server: FakeKrakenServer, trades: Sequence[RecordedTrade] | None = None
    ) -> RecordedMarket:
        """The market a `FakeKrakenServer` plays: its book, its trades, its stream position."""
        if trades is None:
            trades = trades_from_frames(server.frames)
        return cls(
            {"BTC/USD": (server.init, server.updates)},
            trades,
            position=lambda: server.sent_updates,
        )

    @property
    def position(self) -> int:
        """Book updates played so far: the market's clock."""
        return self._position()

    def advance(self, updates: int = 1) -> int:
        """Play `updates` more book updates (a market that follows a server ignores this)."""
        self._own_position += updates
        return self.position

    def symbols(self) -> list[str]:
        return list(self._recordings)

    def book(self, symbol: str, position: int | None = None) -> tuple[list[Level], list[Level]]:
        """(bids, asks), best first, as of `position` (default: now)."""
        with self._lock:
            return self._levels(symbol, self.position if position is None else position)

    def _levels(self, symbol: str, position: int) -> tuple[list[Level], list[Level]]:
        book = self._recordings[symbol].book_at(position)
        bids, asks = book.levels()
        return list(bids), list(asks)

    def take(self, symbol: str, side: str, qty: Decimal) -> list[Level]:
        """Walk the current book for a market order of `qty`: (price, qty) taken per level."""
        with self._lock:
            bids, asks = self._levels(symbol, self.position)
            shown = asks if side == "buy" else bids
            taken = self._refreshed_takings(symbol, side, shown)
            got: list[Level] = []
            for price, size in shown:
                if qty <= 0:
                    break
                already = taken.get(price, (size, Decimal(0)))[1]
                here = min(qty, size - already)
                if here <= 0:
                    continue
                taken[price] = (size, already + here)
                got.append((price, here))
                qty -= here
            return got

    def _refreshed_takings(
        self, symbol: str, side: str, shown: list[Level]
    ) -> dict[Decimal, tuple[Decimal, Decimal]]:
        # A level shown with another size than when taken from is the venue's news:
        # forget what was taken there. Unchanged, it still lacks what was taken.
        taken = self._taken.setdefault((symbol, side), {})
        levels = dict(shown)
        for price, (size, _) in list(taken.items()):
            if levels.get(price) != size:
                del taken[price]
        return taken

    def trades_since(self, symbol: str, position: int) -> list[RecordedTrade]:
        """Trades of `symbol` seen after stream `position`, up to now.

        A trade placed at `position` itself is not included: it may have printed
        before whatever arrived at that position (the conservative reading), and
        a caller moving its own position forward never sees a trade twice.
        """
        now = self.position
        return [
            trade
            for trade in self.trades
            if trade.symbol == symbol and position < trade.after_updates <= now
        ]


def _apply(book: Book, message: dict[str, Any]) -> None:
    entry = message["data"][0]
    book.apply(_levels(entry["bids"]), _levels(entry["asks"]))


def _levels(levels: list[dict[str, Any]]) -> list[Level]:
    return [(Decimal(str(level["price"])), Decimal(str(level["qty"]))) for level in levels]
