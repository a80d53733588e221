"""Kraken's v2 book checksum on real captured frames, and the frame parser."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.conftest import FIXTURES
from venues.kraken.errors import MalformedFrame
from venues.kraken.ws.book import Book, PrecisionError
from venues.kraken.ws.parse import (
    BookMessage,
    Heartbeat,
    Status,
    SubscribeAck,
    TradeMessage,
    parse_frame,
    parse_timestamp_ns,
)

BOOK_FIXTURE = FIXTURES / "kraken" / "pks_book_btcusd_d10_2023-07-30.json"
FRAMES = (FIXTURES / "kraken" / "krakenapi_frames_btcusd_2026-03-15.jsonl").read_text().splitlines()


def _book_messages() -> list[BookMessage]:
    data = json.loads(BOOK_FIXTURE.read_text())
    messages = []
    for raw in [data["init"], *data["updates"]]:
        [message] = parse_frame(json.dumps(raw))
        assert isinstance(message, BookMessage)
        messages.append(message)
    return messages


def test_every_checksum_of_the_real_book_fixture_verifies() -> None:
    """Snapshot plus 509 updates: 510 of 510 checksums match."""
    book = Book(10, 1, 8)
    verified = 0
    for message in _book_messages():
        book.apply(message.bids, message.asks)
        verified += book.checksum() == message.checksum
    assert verified == 510


def test_without_truncation_the_checksums_fail() -> None:
    """Truncating to the subscribed depth is what makes them match (a real trap)."""
    book = Book(1000, 1, 8)
    verified = 0
    for message in _book_messages():
        book.apply(message.bids, message.asks)
        verified += book.checksum() == message.checksum
    assert verified < 100


def test_live_frame_book_snapshot_verifies() -> None:
    """The 2026 live BTC/USD snapshot frame, with its exponent-form quantity."""
    [message] = parse_frame(FRAMES[4])
    assert isinstance(message, BookMessage) and message.is_snapshot
    book = Book(10, 1, 8)
    book.apply(message.bids, message.asks)
    assert book.checksum() == message.checksum == 2552662837


def test_a_quantity_finer_than_the_precision_breaks_the_checksum() -> None:
    """More decimals than Kraken's precision is not Kraken's book: refuse, never round."""
    book = Book(10, 1, 8)
    with pytest.raises(PrecisionError):
        book.apply([(Decimal("100.0"), Decimal("0.000000001"))], [(Decimal("101.0"), Decimal("1"))])
    book.apply([(Decimal("100.0"), Decimal("0.10000000"))], [(Decimal("101.0"), Decimal("1"))])
    assert book.levels()[0][0] == (Decimal("100.0"), Decimal("0.1"))


def test_parser_reads_every_real_frame_kind() -> None:
    """status, heartbeat, ack, book, trade; ticker and ohlc are known but unused."""
    kinds = [type(parse_frame(frame)[0]).__name__ for frame in FRAMES]
    assert kinds == [
        "Status",
        "Heartbeat",
        "SubscribeAck",
        "Unknown",
        "BookMessage",
        "TradeMessage",
        "Unknown",
    ]
    [trade] = parse_frame(FRAMES[5])
    assert isinstance(trade, TradeMessage)
    assert (trade.side, trade.price, trade.qty) == (
        "sell",
        Decimal("71749.0"),
        Decimal("0.00220616"),
    )
    assert trade.exch_ts_ns == parse_timestamp_ns("2026-03-15T11:26:23.023215Z")
    assert isinstance(parse_frame(FRAMES[0])[0], Status)
    assert isinstance(parse_frame(FRAMES[1])[0], Heartbeat)


def test_subscribe_error_is_an_unsuccessful_ack_naming_the_symbol() -> None:
    """The documented failure shape for an unknown pair."""
    [ack] = parse_frame(
        '{"error":"Currency pair not supported XBT/USD","method":"subscribe",'
        '"success":false,"symbol":"XBT/USD"}'
    )
    assert ack == SubscribeAck(None, "XBT/USD", False, "Currency pair not supported XBT/USD")


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        '{"channel":"book","data":[{',
        "[1,2,3]",
        '{"channel":"book","type":"update"}',
        '{"channel":"trade","data":[{"symbol":"BTC/USD","side":"up","price":1,"qty":1,"timestamp":"x"}]}',
        '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":"1"}]}]}',
    ],
)
def test_garbage_and_half_frames_raise_malformed_frame(frame: str) -> None:
    """Anything unreadable is one error class, counted and skipped by the feed."""
    with pytest.raises(MalformedFrame):
        parse_frame(frame)


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("2023-07-30T15:29:58.343415Z", 343_415_000),
        ("2026-03-15T11:26:00.000000001Z", 1),
        ("2026-03-15T11:26:00Z", 0),
    ],
)
def test_timestamps_with_six_or_nine_digits(text: str, nanos: int) -> None:
    """Kraken sends 6 fractional digits, OHLC 9; both parse exactly."""
    assert parse_timestamp_ns(text) % 1_000_000_000 == nanos


def test_backoff_is_jittered_capped_and_survives_a_long_outage() -> None:
    """Delays stay within [0, min(cap, base * 2**n)], and thousands of retries never overflow."""
    import itertools
    import random

    from venues.kraken.ws.client import backoff_delays

    delays = list(itertools.islice(backoff_delays(0.5, 30.0, random.Random(1)), 5000))
    assert all(0 <= d <= min(30.0, 0.5 * 2**n) for n, d in enumerate(delays[:10]))
    assert max(delays) <= 30.0
    assert len(set(delays[:10])) == 10  # jittered, not a fixed schedule
