"""The codec: the only module that touches msgpack.

Frames on a PUB/SUB socket are two parts, ``[topic, payload]``; on the targets
PUSH/PULL socket a `Target`, `Watermark` or the model's `Eos` travels as the
payload alone (one frame).

Topics (first frame, ASCII; subscribers match by prefix):

    tick.<SYMBOL>      Tick               feed  -> model, executor, recorder
    feed.status        FeedStatus         feed  -> model, executor, recorder
    hello              Hello              any publisher, readiness probe
    eos                Eos                feed, model, executor (end of stream)
    counters           RunCounters        model, executor, just before their eos
    pred.<SYMBOL>      Prediction         model -> recorder
    order.<SYMBOL>     OrderSubmitted     executor -> recorder
    reject.<SYMBOL>    OrderRejected      executor -> recorder
    fill.<SYMBOL>      Fill               executor -> recorder
    position.<SYMBOL>  Position           executor -> recorder
    risk.<KIND>        RiskEvent          executor -> recorder

Payload: one msgpack array ``[type, v, field_1, ..., field_n]`` with the
fields in the order the message class declares them; `type` is the class name
and `v` its schema version. Enums travel as their string value. An array, not a
map, and msgspec rather than the msgpack package, because together they cut
the codec's cost per tick about tenfold (bench/codec_tickfile.py); the bytes
are plain msgpack, which any msgpack library reads.

`decode` checks the size before unpacking, then the frame shape, `type`, `v`,
every field's type and range (finite positive prices, non-negative sizes and
timestamps, known enum values) and the cross-field rules of a `Tick` (a quote
has an uncrossed bid/ask, a trade has a price, size and side). Whatever the
bytes, it returns a message or raises a `WireError` subclass.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

from common.errors import (
    InvalidField,
    MalformedPayload,
    OversizeMessage,
    UnknownMessageType,
    UnsupportedVersion,
    WireError,
)
from common.messages import (
    MESSAGE_CLASSES,
    Eos,
    FeedStatus,
    Fill,
    Hello,
    Message,
    OrderRejected,
    OrderSubmitted,
    Position,
    Prediction,
    RiskEvent,
    RunCounters,
    Tick,
    TickKind,
)

MAX_PAYLOAD_BYTES: Final = 64 * 1024

TICK_PREFIX: Final = b"tick."
FEED_STATUS_TOPIC: Final = b"feed.status"
HELLO_TOPIC: Final = b"hello"
EOS_TOPIC: Final = b"eos"
COUNTERS_TOPIC: Final = b"counters"
PREDICTION_PREFIX: Final = b"pred."
ORDER_PREFIX: Final = b"order."
REJECT_PREFIX: Final = b"reject."
FILL_PREFIX: Final = b"fill."
POSITION_PREFIX: Final = b"position."
RISK_PREFIX: Final = b"risk."

_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(Message)
_untyped_decoder: Final = msgspec.msgpack.Decoder()
_BY_TYPE: Final = {cls.__name__: cls for cls in MESSAGE_CLASSES}
_FIELD_INDEX = re.compile(r"at `\$\[(\d+)\]")


def encode(message: Message) -> bytes:
    """Encode one message as its msgpack payload (no topic)."""
    return _encoder.encode(message)


def decode(payload: bytes) -> Message:
    """Decode and validate one payload.

    Raises:
        WireError: a subclass naming what is wrong; nothing else escapes.
    """
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise MalformedPayload(f"payload is {type(payload).__name__}, not bytes")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise OversizeMessage(len(payload), MAX_PAYLOAD_BYTES)
    try:
        message: Message = _decoder.decode(payload)
    except msgspec.ValidationError as e:
        raise _explain(payload, e) from None
    except Exception as e:  # DecodeError, and anything odd bytes may provoke
        raise MalformedPayload(f"not msgpack: {type(e).__name__}") from None
    # msgspec ignores trailing array items (forward compatibility); a payload
    # whose version we speak must have exactly our fields, no more.
    if _array_length(payload) != len(message.__struct_fields__) + 1:
        raise MalformedPayload(f"{type(message).__name__} payload has extra fields")
    if type(message) is Tick:
        _check_tick(message)
    return message


def validate(message: Message) -> Message:
    """Return `message` if it would pass `decode`, else raise its `WireError`."""
    decode(encode(message))
    return message


def _array_length(payload: bytes | bytearray | memoryview) -> int:
    # The msgpack array header: fixarray 0x90-0x9f, array16 0xdc, array32 0xdd.
    first = payload[0]
    if 0x90 <= first <= 0x9F:
        return first & 0x0F
    if first == 0xDC:
        return int.from_bytes(payload[1:3], "big")
    if first == 0xDD:
        return int.from_bytes(payload[1:5], "big")
    return -1


def _explain(payload: bytes, error: msgspec.ValidationError) -> WireError:
    # Slow path, errors only: find which rule the typed decoder tripped over.
    try:
        items = _untyped_decoder.decode(payload)
    except Exception as e:  # e.g. trailing bytes after a value the typed decoder disliked
        return MalformedPayload(f"not one msgpack value: {type(e).__name__}")
    if not isinstance(items, list) or len(items) < 2:
        return MalformedPayload("payload is not a [type, v, ...fields] array")
    cls = _BY_TYPE.get(items[0]) if isinstance(items[0], str) else None
    if cls is None:
        return UnknownMessageType(items[0])
    expected = cls.__struct_defaults__[0]  # type: ignore[attr-defined]  # `v` leads every message
    if items[1] != expected or isinstance(items[1], bool):
        return UnsupportedVersion(cls.__name__, items[1], expected)
    names: tuple[str, ...] = cls.__struct_fields__  # type: ignore[attr-defined]
    if len(items) - 1 != len(names):
        return MalformedPayload(
            f"{cls.__name__} has {len(items) - 1} fields, expected {len(names)}"
        )
    match = _FIELD_INDEX.search(str(error))
    if match is None:
        return InvalidField(cls.__name__, "?", None, str(error))
    index = int(match.group(1))
    name = names[index - 1] if 1 <= index <= len(names) else "?"
    value = items[index] if index < len(items) else None
    return InvalidField(cls.__name__, name, value, str(error).split(" - at ")[0])


def _check_tick(tick: Tick) -> None:
    if tick.kind is TickKind.QUOTE:
        for name in ("bid", "bid_size", "ask", "ask_size"):
            if getattr(tick, name) is None:
                raise InvalidField("Tick", name, None, "a quote needs bid, ask and their sizes")
    else:
        for name in ("last", "last_size", "side"):
            if getattr(tick, name) is None:
                raise InvalidField("Tick", name, None, "a trade needs last, last_size and side")
    if tick.bid is not None and tick.ask is not None and tick.bid >= tick.ask:
        raise InvalidField("Tick", "bid", tick.bid, f"crossed or locked book, ask {tick.ask}")


def topic(message: Message) -> bytes:
    """Return the first frame a message is published under."""
    if isinstance(message, Tick):
        return TICK_PREFIX + message.symbol.encode()
    if isinstance(message, Prediction):
        return PREDICTION_PREFIX + message.symbol.encode()
    if isinstance(message, OrderSubmitted):
        return ORDER_PREFIX + message.symbol.encode()
    if isinstance(message, OrderRejected):
        return REJECT_PREFIX + message.symbol.encode()
    if isinstance(message, Fill):
        return FILL_PREFIX + message.symbol.encode()
    if isinstance(message, Position):
        return POSITION_PREFIX + message.symbol.encode()
    if isinstance(message, RiskEvent):
        return RISK_PREFIX + message.kind.encode()
    if isinstance(message, FeedStatus):
        return FEED_STATUS_TOPIC
    if isinstance(message, Eos):
        return EOS_TOPIC
    if isinstance(message, RunCounters):
        return COUNTERS_TOPIC
    if isinstance(message, Hello):
        return HELLO_TOPIC
    raise TypeError(f"{type(message).__name__} is not published on a topic")


def frames(message: Message) -> tuple[bytes, bytes]:
    """Return ``(topic, payload)`` for a PUB socket."""
    return topic(message), encode(message)


def tick_topic(symbol: str) -> bytes:
    return TICK_PREFIX + symbol.encode()
