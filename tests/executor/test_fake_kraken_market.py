"""`RecordedMarket`: the recorded book and trades a fake venue meets, on the feed's clock.

And the fake Kraken REST server pricing market orders on it."""

from __future__ import annotations

import base64
import os
from decimal import Decimal

import krakenex

from tests.fakes.kraken_market import RecordedMarket, RecordedTrade, trades_from_frames
from tests.fakes.kraken_rest import FakeKrakenRest
from tests.fakes.kraken_ws import FakeKrakenServer, load_book_fixture, load_frames
from venues.kraken.ws.book import Book

KEY = "market-test-key"
SECRET = base64.b64encode(os.urandom(64)).decode()
D = Decimal


def _market(trades: list[RecordedTrade] | None = None) -> RecordedMarket:
    init, updates = load_book_fixture()
    return RecordedMarket({"BTC/USD": (init, updates)}, trades or [])


def test_book_is_the_recorded_book_at_the_streams_position() -> None:
    """Position n is the snapshot plus the first n updates, as the feed's own book has it."""
    init, updates = load_book_fixture()
    market = _market()
    bids, asks = market.book("BTC/USD")
    assert bids[0] == (D("29430.2"), D("0.18967538")) and asks[0] == (D("29430.3"), D("8.25215653"))
    market.advance(40)
    expected = Book(10, 1, 8)
    for message in [init, *updates[:40]]:
        entry = message["data"][0]
        expected.apply(
            [(D(str(x["price"])), D(str(x["qty"]))) for x in entry["bids"]],
            [(D(str(x["price"])), D(str(x["qty"]))) for x in entry["asks"]],
        )
    assert expected.checksum() == updates[39]["data"][0]["checksum"]  # the recording's own
    got_bids, got_asks = market.book("BTC/USD")
    assert (tuple(got_bids), tuple(got_asks)) == expected.levels()
    assert market.book("BTC/USD", position=0) == (bids, asks)  # and back again


def test_take_walks_the_levels_and_remembers_what_it_took_until_the_book_changes_them() -> None:
    """A second order does not take again what the first took from an unchanged level."""
    market = _market()
    first = market.take("BTC/USD", "buy", D("9"))
    assert first == [(D("29430.3"), D("8.25215653")), (D("29430.4"), D("0.74784347"))]
    second = market.take("BTC/USD", "buy", D("1"))
    assert second == [(D("29430.4"), D("1"))]  # the best ask is used up
    sold = market.take("BTC/USD", "sell", D("0.2"))
    assert sold == [(D("29430.2"), D("0.18967538")), (D("29429.6"), D("0.00011621"))] + [
        (D("29427.4"), D("0.001")),
        (D("29426.7"), D("0.00920841")),
    ]
    # Update 2 shows the best ask anew (8.25182177): what was taken there is forgotten;
    # 29430.4 is shown unchanged, so it still lacks the 1.74784347 taken from it.
    market.advance(2)
    third = market.take("BTC/USD", "buy", D("9"))
    assert third == [(D("29430.3"), D("8.25182177")), (D("29430.4"), D("0.74817823"))]


def test_trades_since_a_position_are_those_seen_after_it() -> None:
    """A trade at the position an order arrived at is not counted (it may have come first)."""
    trades = [
        RecordedTrade("BTC/USD", D("29430.2"), D("0.1"), "sell", after_updates=2),
        RecordedTrade("BTC/USD", D("29430.3"), D("0.1"), "buy", after_updates=5),
    ]
    market = _market(trades)
    assert market.trades_since("BTC/USD", 0) == []
    market.advance(3)
    assert market.trades_since("BTC/USD", 0) == trades[:1]
    assert market.trades_since("BTC/USD", 2) == []
    market.advance(10)
    assert market.trades_since("BTC/USD", 2) == trades[1:]


def test_the_ws_fixtures_trade_frame_becomes_a_recorded_trade() -> None:
    """The trade the fake WebSocket plays, as the market reads it."""
    [trade] = trades_from_frames(load_frames())
    assert (trade.symbol, trade.price, trade.qty, trade.side) == (
        "BTC/USD",
        D("71749.0"),
        D("0.00220616"),
        "sell",
    )


def test_fake_rest_prices_market_orders_on_the_book_the_fake_ws_last_sent() -> None:
    """The venue's fill walks the book as of the feed's stream position, not a fixed mark."""
    with FakeKrakenServer(paced=True) as ws:
        market = RecordedMarket.following(ws)
        assert market.position == 0
        ws.sent_updates = 25  # the feed's stream position (what `allow` + a client would reach)
        bids, asks = market.book("BTC/USD")
        with FakeKrakenRest(KEY, SECRET, market=market) as fake:
            api = krakenex.API(KEY, SECRET)
            api.uri = fake.url
            reply = api.query_private(
                "AddOrder",
                {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.01"},
                timeout=5,
            )
            assert reply["error"] == []
            [txid] = reply["result"]["txid"]
            order = fake.orders[txid]
    best, size = asks[0]
    assert size >= D("0.01")  # the fixture's touch at 25 is deep enough for this order
    assert order["status"] == "closed" and Decimal(order["price"]) == best
    assert Decimal(order["cost"]) == best * D("0.01")


def test_fake_rest_leaves_open_what_the_recorded_book_does_not_show() -> None:
    """A market order bigger than the ten levels fills what they hold; the rest stays open."""
    market = _market()
    _, asks = market.book("BTC/USD")
    shown = sum(qty for _, qty in asks)
    with FakeKrakenRest(KEY, SECRET, market=market) as fake:
        fake.balances["ZUSD"] = D("10000000")
        api = krakenex.API(KEY, SECRET)
        api.uri = fake.url
        reply = api.query_private(
            "AddOrder",
            {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "100"},
            timeout=5,
        )
        order = fake.orders[reply["result"]["txid"][0]]
    assert order["status"] == "open" and Decimal(order["vol_exec"]) == shown
    walked = sum(price * qty for price, qty in asks)
    assert abs(Decimal(order["cost"]) - walked) < D("0.0001")  # cost is kept to 5 decimals
