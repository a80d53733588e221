"""The feed's view of one Kraken connection: books, ticks, states, counters.

Pure: frames and the time go in; ticks, state changes and resubscribe
requests come out. The client (`client.py`) does the I/O. Sequence numbers
continue across reconnects, so they stay gap-free for the whole run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from common.messages import FeedState, Side, Tick, TickKind
from venues.kraken.errors import MalformedFrame, SubscriptionRejected
from venues.kraken.pairs import PairRules
from venues.kraken.ws.book import Book, Level, PrecisionError
from venues.kraken.ws.parse import (
    BookMessage,
    Heartbeat,
    Status,
    SubscribeAck,
    TradeMessage,
    Unknown,
    parse_frame,
)

log = logging.getLogger(__name__)
VENUE = "kraken"


@dataclass
class FeedCounters:
    messages: int = 0
    ticks: int = 0
    checksum_failures: int = 0
    resyncs: int = 0
    reconnects: int = 0
    malformed: int = 0
    dropped_before_snapshot: int = 0


@dataclass
class Actions:
    """What one frame asks the client to do."""

    ticks: list[Tick] = field(default_factory=list)
    states: list[tuple[str, FeedState, str]] = field(default_factory=list)
    resubscribe: list[str] = field(default_factory=list)


@dataclass
class SymbolFeed:
    state: FeedState = FeedState.DOWN
    book: Book | None = None  # None until a snapshot arrives
    # The levels last published (bids, asks), to publish only a changed book.
    published: tuple[tuple[Level, ...], tuple[Level, ...]] | None = None
    last_tick_ns: int | None = None


class KrakenSession:
    def __init__(self, symbols: tuple[str, ...], depth: int, pairs: dict[str, PairRules]) -> None:
        self.depth = depth
        self.pairs = pairs
        self.symbols = {symbol: SymbolFeed() for symbol in symbols}
        self.counters = FeedCounters()
        self.seq = 0
        self.system = "unknown"

    def on_connect(self) -> Actions:
        """A new connection: every book is gone until its snapshot arrives."""
        actions = Actions()
        for symbol, feed in self.symbols.items():
            feed.book, feed.published = None, None
            self._set_state(actions, symbol, FeedState.CONNECTING, "subscribing")
        return actions

    def on_disconnect(self, reason: str) -> Actions:
        actions = Actions()
        for symbol in self.symbols:
            self._set_state(actions, symbol, FeedState.DOWN, reason)
        return actions

    def on_silence(self, silent_s: float) -> Actions:
        actions = Actions()
        for symbol, feed in self.symbols.items():
            if feed.state is FeedState.LIVE:
                self._set_state(actions, symbol, FeedState.STALE, f"no frame for {silent_s:.1f} s")
        return actions

    def on_frame(self, text: str | bytes, now_ns: int) -> Actions:
        """Handle one frame.

        Raises:
            SubscriptionRejected: Kraken refused a configured symbol.
        """
        self.counters.messages += 1
        actions = Actions()
        try:
            events = parse_frame(text)
        except MalformedFrame as e:
            self.counters.malformed += 1
            log.warning("malformed frame skipped: %s", e)
            return actions
        for symbol, feed in self.symbols.items():  # any frame is proof of life
            if feed.state is FeedState.STALE and feed.book is not None:
                self._set_state(actions, symbol, FeedState.LIVE, "frames again")
        for event in events:
            if isinstance(event, BookMessage):
                self._on_book(event, now_ns, actions)
            elif isinstance(event, TradeMessage):
                self._on_trade(event, now_ns, actions)
            elif isinstance(event, SubscribeAck):
                self._on_ack(event)
            elif isinstance(event, Status):
                self.system = event.system
                log.info("Kraken system status: %s", event.system)
            elif isinstance(event, (Heartbeat, Unknown)):
                pass
        return actions

    def _on_ack(self, ack: SubscribeAck) -> None:
        if ack.success:
            return
        if ack.symbol in self.symbols or ack.symbol is None:
            raise SubscriptionRejected(ack.symbol, ack.channel, ack.error or "no reason given")
        log.warning("ignored a failed ack for %s: %s", ack.symbol, ack.error)

    def _on_book(self, message: BookMessage, now_ns: int, actions: Actions) -> None:
        feed = self.symbols.get(message.symbol)
        if feed is None:
            return
        if message.is_snapshot:
            rules = self.pairs[message.symbol]
            feed.book = Book(self.depth, rules.price_precision, rules.qty_precision)
            feed.published = None
        elif feed.book is None:
            self.counters.dropped_before_snapshot += 1  # stale update of a discarded book
            return
        book = feed.book
        try:
            book.apply(message.bids, message.asks)
            verified = book.checksum() == message.checksum
        except PrecisionError:
            verified = False
        if not verified:
            self._resync(message.symbol, feed, actions)
            return
        if feed.state is not FeedState.LIVE:
            self._set_state(actions, message.symbol, FeedState.LIVE, "book verified")
        self._maybe_quote(message, book, feed, now_ns, actions)

    def _resync(self, symbol: str, feed: SymbolFeed, actions: Actions) -> None:
        self.counters.checksum_failures += 1
        self.counters.resyncs += 1
        feed.book, feed.published = None, None
        self._set_state(actions, symbol, FeedState.RESYNCING, "checksum mismatch")
        actions.resubscribe.append(symbol)

    def _maybe_quote(
        self, message: BookMessage, book: Book, feed: SymbolFeed, now_ns: int, actions: Actions
    ) -> None:
        # The whole subscribed depth goes on the tick: a change anywhere in it is
        # a new book a paper order may walk, not only a change at the top.
        bids, asks = book.levels()
        if not bids or not asks:
            return
        levels = (bids, asks)
        if levels == feed.published:
            return
        feed.published = levels
        bid, ask = bids[0], asks[0]
        self.seq += 1
        actions.ticks.append(
            Tick(
                venue=VENUE,
                symbol=message.symbol,
                seq=self.seq,
                kind=TickKind.QUOTE,
                exch_ts_ns=message.exch_ts_ns or now_ns,
                recv_ts_ns=now_ns,
                bid=float(bid[0]),
                bid_size=float(bid[1]),
                ask=float(ask[0]),
                ask_size=float(ask[1]),
                bids=[(float(price), float(qty)) for price, qty in bids],
                asks=[(float(price), float(qty)) for price, qty in asks],
            )
        )
        feed.last_tick_ns = now_ns
        self.counters.ticks += 1

    def _on_trade(self, message: TradeMessage, now_ns: int, actions: Actions) -> None:
        feed = self.symbols.get(message.symbol)
        if feed is None or message.price <= 0 or message.qty <= 0:
            return
        self.seq += 1
        actions.ticks.append(
            Tick(
                venue=VENUE,
                symbol=message.symbol,
                seq=self.seq,
                kind=TickKind.TRADE,
                exch_ts_ns=message.exch_ts_ns,
                recv_ts_ns=now_ns,
                last=float(message.price),
                last_size=float(message.qty),
                side=Side(message.side),
            )
        )
        feed.last_tick_ns = now_ns
        self.counters.ticks += 1

    def _set_state(self, actions: Actions, symbol: str, state: FeedState, detail: str) -> None:
        feed = self.symbols[symbol]
        if feed.state is state:
            return
        feed.state = state
        actions.states.append((symbol, state, detail))
