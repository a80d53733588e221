"""Kraken WS v2 frames -> plain events. Numbers stay exact (`Decimal`).

Pure: text in, events out. Unknown channels become `Unknown` (logged and
skipped by the caller); anything unreadable raises `MalformedFrame`.
"""

from __future__ import annotations

import calendar
import json
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from venues.kraken.errors import MalformedFrame

Level = tuple[Decimal, Decimal]


@dataclass(frozen=True)
class BookMessage:
    symbol: str
    is_snapshot: bool
    bids: list[Level]
    asks: list[Level]
    checksum: int
    exch_ts_ns: int | None  # old snapshots carry no timestamp


@dataclass(frozen=True)
class TradeMessage:
    symbol: str
    side: str  # taker side: "buy" | "sell"
    price: Decimal
    qty: Decimal
    exch_ts_ns: int


@dataclass(frozen=True)
class SubscribeAck:
    channel: str | None
    symbol: str | None
    success: bool
    error: str | None


@dataclass(frozen=True)
class Heartbeat:
    pass


@dataclass(frozen=True)
class Status:
    system: str


@dataclass(frozen=True)
class Unknown:
    what: str


Event = BookMessage | TradeMessage | SubscribeAck | Heartbeat | Status | Unknown


def parse_frame(text: str | bytes) -> list[Event]:
    """Return the events in one frame; raise MalformedFrame if it is unreadable."""
    try:
        frame = json.loads(text, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as e:
        raise MalformedFrame(f"not JSON: {str(e)[:80]}") from None
    if not isinstance(frame, dict):
        raise MalformedFrame(f"a JSON {type(frame).__name__}, not an object")
    try:
        return _events(frame)
    except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError) as e:
        raise MalformedFrame(f"{type(e).__name__}: {str(e)[:80]}") from None


def _events(frame: dict[str, Any]) -> list[Event]:
    method = frame.get("method")
    if method in ("subscribe", "unsubscribe") or "success" in frame:
        result = frame.get("result") or {}
        return [
            SubscribeAck(
                channel=result.get("channel"),
                symbol=result.get("symbol", frame.get("symbol")),
                success=bool(frame.get("success")) and "error" not in frame,
                error=frame.get("error"),
            )
        ]
    if method is not None:
        return [Unknown(f"method {method}")]
    channel = frame["channel"]
    if channel == "heartbeat":
        return [Heartbeat()]
    if channel == "status":
        return [Status(system=str(entry["system"])) for entry in frame["data"]]
    if channel == "book":
        snapshot = frame["type"] == "snapshot"
        return [_book(entry, snapshot) for entry in frame["data"]]
    if channel == "trade":
        return [_trade(entry) for entry in frame["data"]]
    return [Unknown(f"channel {channel}")]


def _book(entry: dict[str, Any], snapshot: bool) -> BookMessage:
    stamp = entry.get("timestamp")
    return BookMessage(
        symbol=str(entry["symbol"]),
        is_snapshot=snapshot,
        bids=[_level(level) for level in entry.get("bids", [])],
        asks=[_level(level) for level in entry.get("asks", [])],
        checksum=int(entry["checksum"]),
        exch_ts_ns=parse_timestamp_ns(stamp) if stamp is not None else None,
    )


def _trade(entry: dict[str, Any]) -> TradeMessage:
    side = entry["side"]
    if side not in ("buy", "sell"):
        raise ValueError(f"side {side!r}")
    return TradeMessage(
        symbol=str(entry["symbol"]),
        side=side,
        price=_decimal(entry["price"]),
        qty=_decimal(entry["qty"]),
        exch_ts_ns=parse_timestamp_ns(entry["timestamp"]),
    )


def _level(level: dict[str, Any]) -> Level:
    return _decimal(level["price"]), _decimal(level["qty"])


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise ValueError(f"not a number: {value!r}")
    number = Decimal(value)
    if not number.is_finite() or number < 0:
        raise ValueError(f"not a finite non-negative number: {value!r}")
    return number


def parse_timestamp_ns(text: str) -> int:
    """RFC 3339 with 0-9 fractional digits and a `Z`, to integer nanoseconds."""
    if not isinstance(text, str) or not text.endswith("Z"):
        raise ValueError(f"timestamp {text!r}")
    whole, _, fraction = text[:-1].partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    if fraction and (not fraction.isdigit() or len(fraction) > 9):
        raise ValueError(f"timestamp {text!r}")
    return seconds * 1_000_000_000 + int(fraction.ljust(9, "0") or 0)
