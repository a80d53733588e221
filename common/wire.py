"""The codec: the only module that touches msgpack.

Frames on a PUB/SUB socket are two parts, ``[topic, payload]``. Every other
socket carries the payload alone, one frame per message, with no topic:

    targets   PUSH/PULL  Target, TargetBatch, Watermark,     model -> executor
                         the model's Eos
    progress  PUSH/PULL  Progress                             subscribers -> feed (replay)
    ready     REQ/REP    Ready, answered by ReadyAck          subscriber <-> publisher

Topics (first frame, ASCII; subscribers match by prefix; `_TOPICS` below is
this table in code, and a class missing from it has no topic):

    tick.<SYMBOL>      Tick, TickBatch    feed  -> model, executor, recorder
    feed.status        FeedStatus         feed  -> model, executor, recorder
    hello              Hello              any publisher, readiness probe
    eos                Eos                feed, model, executor (end of stream)
    counters           RunCounters        model, executor, just before their eos
    pred.<SYMBOL>      Prediction,        model -> recorder
                       PredictionBatch
    order.<SYMBOL>     OrderSubmitted     executor -> recorder
    reject.<SYMBOL>    OrderRejected      executor -> recorder
    cancel.<SYMBOL>    OrderCancelled     executor -> recorder
    fill.<SYMBOL>      Fill               executor -> recorder
    position.<SYMBOL>  Position           executor -> recorder
    risk.<KIND>        RiskEvent          executor -> recorder
    (any of these)     EventBatch         executor -> recorder: consecutive events
                                          of that one topic (`event_frames`)

Payload: one msgpack array ``[type, v, field_1, ..., field_n]`` with the
fields in the order the message class declares them; `type` is the class name
and `v` its schema version. Enums travel as their string value. An array, not a
map, and msgspec rather than the msgpack package, because together they cut
the codec's cost per tick about tenfold (bench/codec_tickfile.py); the bytes
are plain msgpack, which any msgpack library reads.

`decode` checks the size before unpacking, then the frame shape, `type`, `v`,
every field's type and range (finite positive prices, non-negative sizes and
timestamps, known enum values) and the cross-field rules of a `Tick` (a quote
has an uncrossed bid/ask, a trade has a price, size and side) and of an
`OrderSubmitted` (its terms). A batch gets the same checks for each item,
plus its own rule: a `TickBatch`'s ticks are of its symbol, seqs increasing;
a `PredictionBatch`'s predictions are of its symbol; a `TargetBatch`'s tick
seqs never decrease and its `through` is at least the last of them; an
`EventBatch`'s events are of one class and one topic. (The rules but the
last live in `common.wire_rules`.) Whatever the bytes, it
returns a message or raises a `WireError` subclass. An `InvalidField` names
the first field whose value fails its own type (a batch's: the first item that
fails alone, as ``ticks[1]``), found by checking the fields one by one, never
by reading a library's error text.

`encode_batches` builds batches from items already encoded (a replay's file
bytes), splitting so that no batch passes the size cap. `decode_ticks`
decodes many tick payloads (a tick file's records) to what `decode` gives
each, without a Python call per payload.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, get_args

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
    BATCH_MAX,
    MESSAGE_CLASSES,
    Eos,
    EventBatch,
    ExecutionEvent,
    FeedStatus,
    Fill,
    Hello,
    Message,
    OrderCancelled,
    OrderRejected,
    OrderSubmitted,
    Position,
    Prediction,
    PredictionBatch,
    RiskEvent,
    RunCounters,
    TargetBatch,
    Tick,
    TickBatch,
    WireMessage,
)
from common.wire_rules import (
    check_order_terms,
    check_prediction_batch,
    check_target_batch,
    check_tick,
    check_tick_batch,
    first_not_plain,
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
CANCEL_PREFIX: Final = b"cancel."
FILL_PREFIX: Final = b"fill."
POSITION_PREFIX: Final = b"position."
RISK_PREFIX: Final = b"risk."

# Each published message's topic: a whole topic (nothing appended), or a prefix
# and the field whose value follows it. A class not here is never published.
_TOPICS: Final[dict[type[WireMessage], tuple[bytes, str | None]]] = {
    Tick: (TICK_PREFIX, "symbol"),
    TickBatch: (TICK_PREFIX, "symbol"),
    Prediction: (PREDICTION_PREFIX, "symbol"),
    PredictionBatch: (PREDICTION_PREFIX, "symbol"),
    OrderSubmitted: (ORDER_PREFIX, "symbol"),
    OrderRejected: (REJECT_PREFIX, "symbol"),
    OrderCancelled: (CANCEL_PREFIX, "symbol"),
    Fill: (FILL_PREFIX, "symbol"),
    Position: (POSITION_PREFIX, "symbol"),
    RiskEvent: (RISK_PREFIX, "kind"),
    FeedStatus: (FEED_STATUS_TOPIC, None),
    Eos: (EOS_TOPIC, None),
    RunCounters: (COUNTERS_TOPIC, None),
    Hello: (HELLO_TOPIC, None),
}

_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(Message)
_untyped_decoder: Final = msgspec.msgpack.Decoder()
# A batch's frame, `[type, v, symbol, [item, ...]]`, with the items left as their bytes.
_batch_items_decoder: Final = msgspec.msgpack.Decoder(tuple[str, int, str, list[msgspec.Raw]])
_tick_decoder: Final = msgspec.msgpack.Decoder(Tick)
_BY_TYPE: Final = {cls.__name__: cls for cls in MESSAGE_CLASSES}
_EXECUTION_EVENTS: Final = frozenset(get_args(ExecutionEvent))  # what an `EventBatch` holds
# Each class's fields with their resolved types, `v` first: the wire order.
_FIELDS: Final = {cls: msgspec.structs.fields(cls) for cls in MESSAGE_CLASSES}
# The versions of each message this codec reads: its `v` annotation's values.
_VERSIONS: Final = {cls: get_args(_FIELDS[cls][0].type) for cls in MESSAGE_CLASSES}
_BATCH_FIELDS: Final = {
    "TickBatch": "ticks",
    "PredictionBatch": "predictions",
    "EventBatch": "events",
    "TargetBatch": "targets",
}
# An upper bound on a batch's bytes besides its items, [type, v, symbol, [...]]:
# two array headers (5 bytes at most each), the type name, the version, and a
# symbol of up to 128 characters of up to 4 UTF-8 bytes, with their headers.
_BATCH_OVERHEAD: Final = 2 * 5 + (2 + len("PredictionBatch")) + 1 + (3 + 4 * 128)
_ITEMS_ROOM: Final = MAX_PAYLOAD_BYTES - _BATCH_OVERHEAD  # for a batch's items' bytes


def encode(message: Message) -> bytes:
    """Encode one message as its msgpack payload (no topic)."""
    return _encoder.encode(message)


def encode_item(item: tuple[object, ...]) -> bytes:
    """A message given as a tuple in its wire order (`[type, v, field_1, ...]`): what
    `encode` gives for it, byte for byte, without the message object."""
    return _encoder.encode(item)


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
    except msgspec.ValidationError:
        raise _explain(payload) from None
    except Exception as e:  # DecodeError, and anything odd bytes may provoke
        raise MalformedPayload(f"not msgpack: {type(e).__name__}") from None
    if type(message) is Tick:
        check_tick(message)
    elif type(message) is TickBatch:
        check_tick_batch(message)
    elif type(message) is PredictionBatch:
        check_prediction_batch(message)
    elif type(message) is TargetBatch:
        check_target_batch(message)
    elif type(message) is OrderSubmitted:
        check_order_terms(message)
    elif type(message) is EventBatch:
        _check_event_batch(message)
    return message


def validate(message: Message) -> Message:
    """Return `message` if it would pass `decode`, else raise its `WireError`."""
    decode(encode(message))
    return message


def encode_batches(
    kind: type[TickBatch] | type[PredictionBatch], symbol: str, payloads: list[bytes]
) -> list[bytes]:
    """Batch payloads of already-encoded items of `symbol`, in order, each batch under the cap.

    The items' bytes go in as they are (`msgspec.Raw`): nothing is decoded or
    encoded again. Each batch holds at most `BATCH_MAX` items.
    """
    version = kind.__struct_defaults__[0]  # `v` leads every message
    head = (kind.__name__, version, symbol)
    return [_batch(head, part) for part in _parts_under_cap(payloads)]


def _parts_under_cap(payloads: list[bytes]) -> list[list[bytes]]:
    """`payloads` cut, in order, into parts a batch can hold: `BATCH_MAX` items, the size cap."""
    if len(payloads) <= BATCH_MAX and sum(map(len, payloads)) <= _ITEMS_ROOM:
        return [payloads] if payloads else []  # the common case: one part
    parts: list[list[bytes]] = []
    start, size = 0, _BATCH_OVERHEAD
    for end, payload in enumerate(payloads):
        if end > start and (end - start >= BATCH_MAX or size + len(payload) > MAX_PAYLOAD_BYTES):
            parts.append(payloads[start:end])
            start, size = end, _BATCH_OVERHEAD
        size += len(payload)
    parts.append(payloads[start:])
    return parts


def encode_item_batches(
    kind: type[TickBatch] | type[PredictionBatch], symbol: str, items: list[tuple[object, ...]]
) -> list[bytes]:
    """Batch items given as tuples in their wire order (`[type, v, field_1, ...]`), like
    `encode_batches` of their encodings, byte for byte, in one encoder call when they fit one.

    A columnar stage builds no message object per item; the tuples must hold
    what the items' fields hold (the caller's tests compare with `encode`).
    """
    if not items:
        return []
    if len(items) <= BATCH_MAX:
        version = kind.__struct_defaults__[0]
        payload = _encoder.encode((kind.__name__, version, symbol, items))
        if len(payload) <= MAX_PAYLOAD_BYTES:
            return [payload]
    return encode_batches(kind, symbol, [encode_item(item) for item in items])


def event_frames(messages: Sequence[Message]) -> list[tuple[bytes, bytes]]:
    """`(topic, payload)` for each message, in order, runs of execution events batched.

    Consecutive execution events of one topic go as `EventBatch`es (each under
    the size cap and `BATCH_MAX`), the events' own bytes joined, not encoded
    again; an event alone, or any other message, goes as itself. Each message
    wakes every process on its way (ZeroMQ's I/O threads, the subscriber): a
    batched replay's turn refuses or fills several targets, and one message
    for them costs what one event did.
    """
    frames: list[tuple[bytes, bytes]] = []
    run: list[bytes] = []
    run_topic = b""
    for message in messages:
        message_topic = topic(message)
        batchable = type(message) in _EXECUTION_EVENTS
        if run and not (batchable and message_topic == run_topic):
            frames += _event_run(run_topic, run)
            run = []
        if batchable:
            run_topic = message_topic
            run.append(_encoder.encode(message))
        else:
            frames.append((message_topic, _encoder.encode(message)))
    if run:
        frames += _event_run(run_topic, run)
    return frames


def _event_run(run_topic: bytes, payloads: list[bytes]) -> list[tuple[bytes, bytes]]:
    head = (EventBatch.__name__, EventBatch.__struct_defaults__[0])
    return [
        (run_topic, part[0] if len(part) == 1 else _batch(head, part))
        for part in _parts_under_cap(payloads)
    ]


def decode_ticks(payloads: list[bytes]) -> list[Tick] | None:
    """Decode payloads that each hold one `Tick`, as `decode` would, without a Python call each.

    None if any payload would not decode alone as a valid `Tick` (another
    message, bad bytes, a field or a book `decode` refuses): the caller then
    decodes them one by one, and `decode` names the first failure. Each
    payload must already be within `MAX_PAYLOAD_BYTES` (a tick file's framing
    checks it).
    """
    try:  # the typed decoder called from C on each payload: one value each, as `decode` takes
        ticks = list(map(_tick_decoder.decode, payloads))
    except Exception:  # DecodeError, ValidationError, anything odd bytes may provoke
        return None
    unchecked = iter(ticks)
    while (tick := first_not_plain(unchecked)) is not None:
        try:
            check_tick(tick)  # levels, or a rule it breaks
        except InvalidField:
            return None
    return ticks


def batch_items(payload: bytes) -> list[msgspec.Raw]:
    """The items of a batch payload `decode` accepted, each as its own message's bytes.

    Cut out of the batch, not encoded again (a recorder writes each tick's
    bytes): a `msgspec.Raw` is a buffer over `payload`, usable as bytes.
    """
    return _batch_items_decoder.decode(payload)[3]


def _batch(head: tuple[object, ...], payloads: list[bytes]) -> bytes:
    """A batch's frame: its fields before the items (`[type, v, ...]`), then the items.

    The items joined under their array's header: the bytes a list of one
    `msgspec.Raw` each encodes to, for a copy of them all rather than an object each.
    """
    items = _array_head(len(payloads)) + b"".join(payloads)
    return _encoder.encode((*head, msgspec.Raw(items)))


def _array_head(count: int) -> bytes:
    # msgpack's shortest header for an array of `count` items, as msgspec writes it.
    if count < 16:
        return bytes((0x90 | count,))
    if count < 1 << 16:
        return b"\xdc" + count.to_bytes(2, "big")
    return b"\xdd" + count.to_bytes(4, "big")


def _explain(payload: bytes) -> WireError:
    # Slow path, errors only: the typed decode failed, so find which rule from
    # the structure, not from the error's text. Decode untyped, check the shape,
    # then convert field by field: the first value that fails its own type
    # alone is the culprit (strict, as the msgpack decoder is).
    try:
        items = _untyped_decoder.decode(payload)
    except Exception as e:  # e.g. trailing bytes after a value the typed decoder disliked
        return MalformedPayload(f"not one msgpack value: {type(e).__name__}")
    if not isinstance(items, list) or len(items) < 2:
        return MalformedPayload("payload is not a [type, v, ...fields] array")
    cls = _BY_TYPE.get(items[0]) if isinstance(items[0], str) else None
    if cls is None:
        return UnknownMessageType(items[0])
    expected = cls.__struct_defaults__[0]  # `v` leads every message: the newest version
    if items[1] not in _VERSIONS[cls] or isinstance(items[1], bool):
        return UnsupportedVersion(cls.__name__, items[1], expected)
    fields = _FIELDS[cls]
    if len(items) - 1 != len(fields) and not _older_layout(cls, items):
        return MalformedPayload(
            f"{cls.__name__} has {len(items) - 1} fields, expected {len(fields)}"
        )
    for field, value in zip(fields, items[1:]):
        try:
            msgspec.convert(value, field.type, strict=True)
        except msgspec.ValidationError as e:
            if field.name == _BATCH_FIELDS.get(cls.__name__) and isinstance(value, list):
                return _explain_item(cls.__name__, field.name, value)
            return InvalidField(cls.__name__, field.name, value, str(e))
    return MalformedPayload(f"{cls.__name__}: every field is valid alone, not together")


# Fields a message's newest version added at its end, by class: a version-1
# payload is the newest layout without them (their defaults fill in).
_ADDED_SINCE_V1: Final[dict[type, int]] = {Tick: 2, OrderSubmitted: 5}


def _older_layout(cls: type, items: list[object]) -> bool:
    added = _ADDED_SINCE_V1.get(cls)
    return added is not None and items[1] == 1 and len(items) - 1 == len(_FIELDS[cls]) - added


def _explain_item(batch: str, field: str, items: list[object]) -> WireError:
    # Name the first item that fails on its own, and why (not the whole list).
    if not 1 <= len(items) <= BATCH_MAX:
        return InvalidField(batch, field, f"{len(items)} items", f"1 to {BATCH_MAX} items")
    for position, item in enumerate(items):
        try:
            decode(_encoder.encode(item))
        except WireError as e:
            return InvalidField(batch, f"{field}[{position}]", type(item).__name__, str(e))
    return InvalidField(batch, field, "items", "an item is not of the batch's message type")


def _check_event_batch(batch: EventBatch) -> None:
    # One class and one topic: the batch travels under its first event's topic,
    # and a subscriber filtering by topic must get nothing it did not ask for.
    first = batch.events[0]
    kind, first_topic = type(first), topic(first)
    for position, event in enumerate(batch.events):
        if type(event) is not kind or topic(event) != first_topic:
            raise InvalidField(
                "EventBatch", f"events[{position}]", type(event).__name__, "not the batch's topic"
            )
        if type(event) is OrderSubmitted:
            try:
                check_order_terms(event)
            except InvalidField as e:
                raise InvalidField(
                    "EventBatch", f"events[{position}]", "OrderSubmitted", str(e)
                ) from None


def topic(message: Message) -> bytes:
    """Return the first frame a message is published under.

    Raises:
        TypeError: the message travels without a topic (see the table above).
    """
    if type(message) is EventBatch:
        return topic(message.events[0])  # every event's (checked on decode)
    try:
        head, field = _TOPICS[type(message)]
    except KeyError:
        raise TypeError(f"{type(message).__name__} is not published on a topic") from None
    if field is None:
        return head
    value: str = getattr(message, field)
    return head + value.encode()


def frames(message: Message) -> tuple[bytes, bytes]:
    """Return ``(topic, payload)`` for a PUB socket."""
    return topic(message), encode(message)


def tick_topic(symbol: str) -> bytes:
    return TICK_PREFIX + symbol.encode()


def prediction_topic(symbol: str) -> bytes:
    return PREDICTION_PREFIX + symbol.encode()
