"""The codec: golden bytes both ways, and nothing but WireError on bad input."""

from __future__ import annotations

import math

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common import wire
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
    Eos,
    EventBatch,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    PredictionBatch,
    TargetBatch,
    Tick,
    TickBatch,
)
from tests.factories import (
    T0_NS,
    make_fill,
    make_prediction,
    make_rejection,
    make_target,
    make_tick,
    make_trade,
    one_of_each,
    replace,
)

K = "kraken"
SYM = "BTC/USD"
# Every message of `one_of_each()`, written out field by field with the msgpack
# package, an encoder independent of the codec under test.
EXPECTED_ARRAYS = [
    [
        "Tick",
        2,
        K,
        SYM,
        1,
        "quote",
        T0_NS,
        T0_NS + 1000,
        61837.5,
        0.25,
        61837.75,
        1.5,
        None,
        None,
        None,
        [],
        [],
    ],
    [
        "Tick",
        2,
        K,
        SYM,
        1,
        "trade",
        T0_NS,
        T0_NS + 1000,
        None,
        None,
        None,
        None,
        61837.5,
        0.02,
        "sell",
        [],
        [],
    ],
    ["Prediction", 1, SYM, 7, T0_NS, "ab12" * 16, -0.00125, -0.5, T0_NS + 5],
    ["Target", 1, "t-1", SYM, 0.5, 61837.5, 7, T0_NS, T0_NS + 5, 2000],
    [
        "OrderSubmitted",
        2,
        *["o-1", "t-1", SYM, "buy", 0.5, 61837.75, 7, T0_NS + 9],
        *["market", None, "gtc", False, None],
    ],
    [
        "OrderSubmitted",
        2,
        *["o-3", "t-1", SYM, "sell", 0.5, 61837.75, 7, T0_NS + 9],
        *["limit", 61838.0, "gtc", True, "o-1"],
    ],
    ["OrderCancelled", 1, "o-3", SYM, "sell", 0.25, "requote", "touch moved 3.2 bps", T0_NS + 10],
    [
        "OrderRejected",
        1,
        "o-2",
        "t-2",
        SYM,
        "sell",
        3.0,
        "max_position",
        "position 3.5 > 1",
        T0_NS + 10,
    ],
    ["Fill", 1, "o-1", SYM, "buy", 0.25, 61837.75, 61.84, "taker", 8, T0_NS + 11],
    ["Position", 1, SYM, 0.25, 61837.75, 0.0, -0.0625, 61.84, -61.9025, T0_NS + 12],
    [
        "RiskEvent",
        1,
        "circuit_breaker_tripped",
        None,
        {"drawdown": 105.5, "max_loss": 100.0},
        "drawdown over limit",
        T0_NS + 13,
    ],
    [
        "FeedStatus",
        1,
        K,
        SYM,
        "live",
        "snapshot received",
        {"messages": 12, "checksum_failures": 0},
        T0_NS + 14,
    ],
    ["Eos", 1, "feed", 85175, T0_NS + 15],
    ["RunCounters", 1, "model", {"dropped_targets": 3}],
    ["Watermark", 1, "model", 4096],
    ["Hello", 1, "feed", T0_NS + 16],
    ["Ready", 1, "model"],
    ["ReadyAck", 1, "feed", False, "2 frames, expected 1"],
    ["Progress", 1, "executor", 1024, False],
    ["TickFileHeader", 1, 1, "binance", ["BTC/USDT"], "test", T0_NS],
]
# A batch is its items' arrays inside [type, v, symbol, [...]].
EXPECTED_ARRAYS += [
    [
        "TickBatch",
        1,
        SYM,
        [EXPECTED_ARRAYS[0], [*EXPECTED_ARRAYS[1][:4], 2, *EXPECTED_ARRAYS[1][5:]]],
    ],
    ["PredictionBatch", 1, SYM, [EXPECTED_ARRAYS[2]]],
    ["EventBatch", 1, [EXPECTED_ARRAYS[8], ["Fill", 1, "o-2", *EXPECTED_ARRAYS[8][3:]]]],
    [
        "TargetBatch",
        1,
        "model",
        [EXPECTED_ARRAYS[3], ["Target", 1, "t-2", SYM, 0.5, 61837.5, 9, *EXPECTED_ARRAYS[3][7:]]],
        12,
    ],
]


def _pack(items: list[object]) -> bytes:
    return msgpack.packb(items, use_bin_type=True)


@pytest.mark.parametrize("index", range(len(EXPECTED_ARRAYS)))
def test_encode_matches_golden_bytes_for_every_message_type(index: int) -> None:
    """Each message encodes to exactly the documented [type, v, *fields] array."""
    message = one_of_each()[index]
    assert wire.encode(message) == _pack(EXPECTED_ARRAYS[index])


@pytest.mark.parametrize("index", range(len(EXPECTED_ARRAYS)))
def test_decode_of_golden_bytes_gives_the_message(index: int) -> None:
    """The golden bytes decode back to an equal message of the same class."""
    message = one_of_each()[index]
    decoded = wire.decode(_pack(EXPECTED_ARRAYS[index]))
    assert type(decoded) is type(message)
    assert decoded == message


# A quote with two levels a side, as the Kraken feed publishes its book.
BOOK_ARRAY = [
    *EXPECTED_ARRAYS[0][:-2],
    [[61837.5, 0.25], [61837.0, 2.0]],
    [[61837.75, 1.5], [61838.25, 0.5]],
]


def _book_tick() -> Tick:
    return make_tick(
        bids=[(61837.5, 0.25), (61837.0, 2.0)], asks=[(61837.75, 1.5), (61838.25, 0.5)]
    )


def test_a_quote_with_levels_has_golden_bytes_both_ways() -> None:
    """Version 2 carries the levels as two [price, size] lists after the version-1 fields."""
    assert wire.encode(_book_tick()) == _pack(BOOK_ARRAY)
    assert wire.decode(_pack(BOOK_ARRAY)) == _book_tick()


def test_a_version_1_tick_still_decodes_without_levels() -> None:
    """Tick files and peers from before the levels: 13 fields, `v` 1, levels empty."""
    v1 = ["Tick", 1, *EXPECTED_ARRAYS[0][2:-2]]
    decoded = wire.decode(_pack(v1))
    assert isinstance(decoded, Tick)
    assert (decoded.v, decoded.bids, decoded.asks) == (1, [], [])
    assert decoded == replace(make_tick(), v=1)


def test_a_version_1_order_still_decodes_as_a_market_order() -> None:
    """Journals from before order terms: 8 fields, `v` 1, a market order."""
    v1 = ["OrderSubmitted", 1, *EXPECTED_ARRAYS[4][2:10]]
    decoded = wire.decode(_pack(v1))
    assert isinstance(decoded, OrderSubmitted)
    assert (decoded.v, decoded.order_type, decoded.limit_price) == (1, OrderType.MARKET, None)


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        (["limit", None, "gtc", False, None], "limit_price"),  # a limit needs a price
        (["market", 61838.0, "gtc", False, None], "limit_price"),  # a market takes none
        (["market", None, "gtc", True, None], "post_only"),  # post-only is a limit
        (["limit", 61838.0, "ioc", True, None], "post_only"),  # ... that rests
    ],
)
def test_order_terms_that_contradict_each_other_are_refused(
    terms: list[object], field: str
) -> None:
    payload = _pack(["OrderSubmitted", 2, *EXPECTED_ARRAYS[4][2:10], *terms])
    with pytest.raises(InvalidField) as caught:
        wire.decode(payload)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("bids", "asks", "field"),
    [
        ([(61837.0, 0.25)], [(61837.75, 1.5)], "bids"),  # first level is not the bid
        ([(61837.5, 0.25)], [(61837.75, 1.0)], "asks"),  # nor the ask size
        ([(61837.5, 0.25), (61837.5, 1.0)], [(61837.75, 1.5)], "bids"),  # a repeat
        ([(61837.5, 0.25)], [(61837.75, 1.5), (61837.5, 1.0)], "asks"),  # not ascending
        ([], [(61837.75, 1.5)], "bids"),  # one side only
    ],
)
def test_levels_out_of_order_or_off_the_top_are_refused(
    bids: list[tuple[float, float]], asks: list[tuple[float, float]], field: str
) -> None:
    """The levels must be the book the quote's top came from."""
    with pytest.raises(InvalidField, match=field):
        wire.decode(wire.encode(make_tick(bids=bids, asks=asks)))


def test_levels_on_a_trade_or_a_version_1_tick_are_refused() -> None:
    with pytest.raises(InvalidField, match="version-2 quote"):
        wire.decode(wire.encode(replace(_book_tick(), v=1)))
    with pytest.raises(InvalidField, match="version-2 quote"):
        wire.decode(wire.encode(make_trade(bids=[(1.0, 1.0)], asks=[(2.0, 1.0)])))


def test_eos_golden_bytes_are_pinned_literally() -> None:
    """A byte-level pin: a change of encoding library or layout shows up here."""
    raw = bytes.fromhex("95a3456f7301a466656564ce00014cb7cf17e9e607e8a01953")
    assert wire.encode(Eos(source="feed", last_seq=85175, ts_ns=T0_NS + 15)) == raw
    assert wire.decode(raw) == Eos(source="feed", last_seq=85175, ts_ns=T0_NS + 15)


def test_every_message_class_is_covered_by_the_golden_list() -> None:
    """No message type escapes the golden-bytes tests."""
    from common.messages import MESSAGE_CLASSES

    assert {type(m) for m in one_of_each()} == set(MESSAGE_CLASSES)


def _tick_array(**changes: object) -> list[object]:
    names = [
        "venue",
        "symbol",
        "seq",
        "kind",
        "exch_ts_ns",
        "recv_ts_ns",
        "bid",
        "bid_size",
        "ask",
        "ask_size",
        "last",
        "last_size",
        "side",
    ]
    items = list(EXPECTED_ARRAYS[0])
    for name, value in changes.items():
        items[2 + names.index(name)] = value
    return items


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"bid": math.nan}, "bid"),
        ({"ask": math.inf}, "ask"),
        ({"bid": -1.0}, "bid"),
        ({"bid": 0.0}, "bid"),
        ({"bid_size": -0.5}, "bid_size"),
        ({"seq": -1}, "seq"),
        ({"seq": 1.5}, "seq"),
        ({"symbol": ""}, "symbol"),
        ({"venue": 5}, "venue"),
        ({"kind": "bogus"}, "kind"),
        ({"bid": 61838.0}, "bid"),  # crossed: bid above ask
        ({"bid": 61837.75}, "bid"),  # locked: bid equal to ask
        ({"ask": None}, "ask"),  # a quote without an ask
    ],
)
def test_decode_rejects_bad_tick_field_naming_it(changes: dict[str, object], field: str) -> None:
    """Non-finite, non-positive, mistyped or crossed values are refused by field name."""
    with pytest.raises(InvalidField) as caught:
        wire.decode(_pack(_tick_array(**changes)))
    assert caught.value.field == field
    assert caught.value.msg_type == "Tick"


@pytest.mark.parametrize(
    ("items", "field", "position"),
    [
        (["Eos", 1.0, "feed", 1, 2], "v", 1),  # equal to 1, but not the int the schema says
        (["Eos", 1, "feed", -1, 2], "last_seq", 3),
        (["Eos", 1, "feed", 1, b"2"], "ts_ns", 4),  # the last field, bytes for an int
        (["Ready", 1, ""], "source", 2),
        (["ReadyAck", 1, "feed", 1, ""], "accepted", 3),  # an int is not a bool
        (["Progress", 1, "model", -1, True], "tick_seq", 3),  # the old text report's -1 join
        (["Progress", 1, "model", 5, "yes"], "joined", 4),
        (["RiskEvent", 1, "k", None, {"drawdown": -math.inf}, "", 0], "values", 4),
    ],
)
def test_decode_names_the_first_field_that_fails_on_its_own(
    items: list[object], field: str, position: int
) -> None:
    """Whatever the message, the error carries its type, the bad field and that field's value."""
    with pytest.raises(InvalidField) as caught:
        wire.decode(_pack(items))
    assert (caught.value.msg_type, caught.value.field) == (items[0], field)
    assert caught.value.value == items[position]
    assert caught.value.reason == "invalid_field"


def test_decode_rejects_a_trade_without_side() -> None:
    """A trade tick must say which side was the aggressor."""
    items = list(EXPECTED_ARRAYS[1])
    items[-3] = None  # `side`, before the (empty) levels
    with pytest.raises(InvalidField) as caught:
        wire.decode(_pack(items))
    assert caught.value.field == "side"


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"", MalformedPayload),
        (b"\xc1", MalformedPayload),  # a byte msgpack never uses
        (_pack({"type": "Tick"}), MalformedPayload),
        (_pack(["Tick"]), MalformedPayload),
        (_pack(["Nope", 1]), UnknownMessageType),
        (_pack([7, 1]), UnknownMessageType),
        (_pack(["Tick", 3, *EXPECTED_ARRAYS[0][2:]]), UnsupportedVersion),
        (_pack(["Eos", 1, "feed", 1]), MalformedPayload),  # a field missing
        (_pack(["Eos", 1, "feed", 1, 2, 3]), MalformedPayload),  # a field too many
        (b"\x00" * (wire.MAX_PAYLOAD_BYTES + 1), OversizeMessage),
    ],
)
def test_decode_classifies_malformed_payloads(payload: bytes, error: type[WireError]) -> None:
    """Each kind of bad payload raises its own WireError subclass."""
    with pytest.raises(error):
        wire.decode(payload)


def test_decode_refuses_a_non_bytes_payload() -> None:
    """Passing something that is not bytes is a WireError, not a TypeError."""
    with pytest.raises(MalformedPayload):
        wire.decode("Tick")  # type: ignore[arg-type]


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=512))
def test_decode_of_random_bytes_only_raises_wire_errors(payload: bytes) -> None:
    """Garbage never escapes as KeyError, TypeError or a crash."""
    try:
        wire.decode(payload)
    except WireError:
        pass


_json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([row[0] for row in EXPECTED_ARRAYS]),
    st.integers(min_value=0, max_value=2),
    st.lists(_json_like, max_size=16),
)
def test_decode_of_plausible_arrays_only_raises_wire_errors(
    msg_type: str, version: int, fields: list[object]
) -> None:
    """Arrays that look like messages but carry random fields fail cleanly."""
    try:
        wire.decode(_pack([msg_type, version, *fields]))
    except WireError:
        pass


@settings(max_examples=500, deadline=None)
@given(
    st.floats(min_value=1e-6, max_value=1e9),
    st.floats(min_value=1e-9, max_value=1.0),
    st.integers(min_value=0, max_value=2**63 - 1),
)
def test_valid_ticks_round_trip(bid: float, spread: float, seq: int) -> None:
    """Any valid quote survives encode then decode unchanged."""
    tick = make_tick(bid=bid, ask=bid * (1 + spread) + 1e-6, seq=seq)
    assert wire.decode(wire.encode(tick)) == tick


def test_topics_name_the_symbol_or_kind() -> None:
    """Subscribers filter by these prefixes, so they are part of the contract."""
    messages = one_of_each()
    # Never on a PUB socket: one frame on a PUSH/PULL or REQ/REP, or a file record.
    unpublished = (
        *("Target", "TargetBatch", "TickFileHeader", "Watermark", "Ready", "ReadyAck", "Progress"),
    )
    topics = [wire.topic(m) for m in messages if type(m).__name__ not in unpublished]
    assert topics == [
        b"tick.BTC/USD",
        b"tick.BTC/USD",
        b"pred.BTC/USD",
        b"order.BTC/USD",
        b"order.BTC/USD",
        b"cancel.BTC/USD",
        b"reject.BTC/USD",
        b"fill.BTC/USD",
        b"position.BTC/USD",
        b"risk.circuit_breaker_tripped",
        b"feed.status",
        b"eos",
        b"counters",
        b"hello",
        b"tick.BTC/USD",
        b"pred.BTC/USD",
        b"fill.BTC/USD",  # an EventBatch: its events' topic
    ]


def test_one_frame_messages_have_no_topic() -> None:
    """Messages that never go out on a PUB socket cannot be given a topic by mistake."""
    for message in one_of_each():
        if type(message).__name__ in (
            "Target",
            "TargetBatch",
            "Watermark",
            "TickFileHeader",
            "Ready",
            "ReadyAck",
            "Progress",
        ):
            with pytest.raises(TypeError):
                wire.topic(message)


def test_validate_returns_a_valid_message_and_refuses_a_crossed_one() -> None:
    """`validate` lets importers check a message they built without sending it."""
    good = make_trade()
    assert wire.validate(good) is good
    with pytest.raises(InvalidField):
        wire.validate(make_tick(bid=2.0, ask=1.0))


def test_a_decoded_tick_is_immutable() -> None:
    """Messages never change once built."""
    tick = wire.decode(wire.encode(make_tick()))
    assert isinstance(tick, Tick)
    with pytest.raises(AttributeError):
        tick.bid = 1.0  # type: ignore[misc]


def _batch_array(*ticks: list[object], symbol: str = SYM) -> bytes:
    return _pack(["TickBatch", 1, symbol, list(ticks)])


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (_batch_array(_tick_array(seq=1), _tick_array(seq=2, bid=math.nan)), "ticks[1]"),
        (_batch_array(_tick_array(seq=1), _tick_array(seq=2, bid=61838.0)), "ticks[1]"),  # crossed
        (_batch_array(_tick_array(seq=1), _tick_array(seq=2, symbol="ETH/USD")), "ticks[1].symbol"),
        (_batch_array(_tick_array(seq=2), _tick_array(seq=2)), "ticks[1].seq"),
        (_batch_array(_tick_array(seq=1), [*_tick_array(seq=2), "extra"]), "ticks[1]"),
        (_batch_array(), "ticks"),
        (_batch_array(*[_tick_array(seq=n) for n in range(1, 258)]), "ticks"),  # over BATCH_MAX
    ],
)
def test_decode_rejects_a_tick_batch_naming_the_bad_item(payload: bytes, field: str) -> None:
    """A batch is valid only if each tick would be alone, all of its symbol, seqs increasing."""
    with pytest.raises(InvalidField) as caught:
        wire.decode(payload)
    assert (caught.value.msg_type, caught.value.field) == ("TickBatch", field)


def test_decode_rejects_a_prediction_batch_of_another_symbol() -> None:
    """The topic names the batch's symbol, so every item must be of it."""
    payload = wire.encode(
        PredictionBatch(symbol="ETH/USD", predictions=[make_prediction(symbol="BTC/USD")])
    )
    with pytest.raises(InvalidField) as caught:
        wire.decode(payload)
    assert caught.value.field == "predictions[0].symbol"


def test_a_target_batch_round_trips_with_repeated_seqs_and_through_at_its_last_target() -> None:
    """Targets of one tick (two symbols) in a row, `through` at the last target's tick: valid."""
    batch = TargetBatch(
        source="model",
        targets=[make_target(tick_seq=3), make_target(id="t-2", symbol="ETH/USD", tick_seq=3)],
        through=3,
    )
    assert wire.decode(wire.encode(batch)) == batch


def _target_array(**overrides: object) -> list[object]:
    return msgpack.unpackb(wire.encode(make_target(**overrides)))


def _target_batch(*targets: list[object], through: object = 100) -> bytes:
    return _pack(["TargetBatch", 1, "model", list(targets), through])


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (
            _target_batch(_target_array(tick_seq=5), _target_array(tick_seq=4)),
            "targets[1].tick_seq",
        ),
        (_target_batch(_target_array(tick_seq=5), through=4), "through"),
        (_target_batch(_target_array(), through=-1), "through"),
        (_target_batch(_target_array(), _target_array(ref_price=0.0)), "targets[1]"),
        (_target_batch(_target_array(), ["Tick", 2]), "targets[1]"),
        (_target_batch(), "targets"),
        (_target_batch(*[_target_array(tick_seq=n) for n in range(BATCH_MAX + 1)]), "targets"),
    ],
)
def test_decode_rejects_a_target_batch_naming_the_bad_field(payload: bytes, field: str) -> None:
    """Each target valid alone, tick seqs never falling, `through` not below the last one:
    the executor's watermark never goes back."""
    with pytest.raises(InvalidField) as caught:
        wire.decode(payload)
    assert (caught.value.msg_type, caught.value.field) == ("TargetBatch", field)


def test_encode_batches_keeps_the_item_bytes_and_their_order() -> None:
    """Batches built from encoded ticks decode to exactly those ticks, at most BATCH_MAX each."""
    ticks = [make_tick(seq=n, bid=100.0 + n, ask=101.0 + n) for n in range(1, 601)]
    batches = wire.encode_batches(TickBatch, SYM, [wire.encode(t) for t in ticks])
    decoded = [wire.decode(b) for b in batches]
    assert [len(b.ticks) for b in decoded] == [BATCH_MAX, BATCH_MAX, 600 - 2 * BATCH_MAX]
    assert [t for b in decoded for t in b.ticks] == ticks
    assert batches[0] == wire.encode(TickBatch(symbol=SYM, ticks=ticks[:BATCH_MAX]))


def test_encode_batches_splits_below_the_size_cap() -> None:
    """Long names make big ticks: a batch is cut before it would pass the cap."""
    venue = "v" * 128
    ticks = [make_tick(seq=n, venue=venue, symbol="S" * 128) for n in range(1, BATCH_MAX + 1)]
    batches = wire.encode_batches(TickBatch, "S" * 128, [wire.encode(t) for t in ticks])
    assert len(batches) > 1
    assert all(len(b) <= wire.MAX_PAYLOAD_BYTES for b in batches)
    assert [t for b in batches for t in wire.decode(b).ticks] == ticks


def test_encode_batches_makes_one_batch_exactly_while_the_items_fit_under_the_cap() -> None:
    """The one-batch shortcut cuts where the item-by-item rule does: at the cap's last byte."""
    room = wire.MAX_PAYLOAD_BYTES - wire._BATCH_OVERHEAD  # what the items of one batch may take
    item = wire.encode(make_tick(venue="v" * 128, symbol="s" * 128))  # under BATCH_MAX fill it
    fill = [item] * (room // len(item) - 1)
    last = room - len(item) * len(fill)  # bytes left for one msgpack string that fills the room
    for extra, batches in ((0, 1), (1, 2)):
        size = last - 5 + extra  # a str 32: 0xdb, its length in 4 bytes, the text
        payloads = [*fill, b"\xdb" + size.to_bytes(4, "big") + b"x" * size]
        assert sum(map(len, payloads)) == room + extra
        made = wire.encode_batches(TickBatch, SYM, payloads)
        assert len(made) == batches
        assert all(len(batch) <= wire.MAX_PAYLOAD_BYTES for batch in made)


# Tick payloads `decode` refuses, one per rule, and payloads that are not one tick.
_NOT_SOUND_TICKS = [
    _pack(_tick_array(bid=math.nan)),
    _pack(_tick_array(bid=61838.0)),  # crossed
    _pack(_tick_array(ask=None)),  # a quote without an ask
    _pack([*EXPECTED_ARRAYS[1][:-3], None, [], []]),  # a trade without a side
    wire.encode(make_tick(bids=[(61837.0, 0.25)], asks=[(61837.75, 1.5)])),  # off the top
    wire.encode(replace(make_tick(bids=[(61837.5, 0.25)], asks=[(61837.75, 1.5)]), v=1)),
    _pack(["Tick", 3, *EXPECTED_ARRAYS[0][2:]]),
    _pack([*EXPECTED_ARRAYS[0], "extra"]),
    wire.encode(make_tick()) + wire.encode(make_tick()),  # two values in one payload
    wire.encode(make_tick())[:-1],  # a value cut short
    wire.encode(Eos(source="feed", last_seq=1, ts_ns=T0_NS)),
    b"",
]


@pytest.mark.parametrize("bad", _NOT_SOUND_TICKS)
def test_decode_ticks_gives_what_decode_gives_each_and_none_if_one_is_refused(bad: bytes) -> None:
    """Version-1 and version-2 ticks, with levels or none, come out as `decode` makes them;
    one payload `decode` would refuse, or find not a tick, and there is no answer."""
    sound = [
        _pack(["Tick", 1, *EXPECTED_ARRAYS[0][2:-2]]),
        _pack(EXPECTED_ARRAYS[0]),
        _pack(EXPECTED_ARRAYS[1]),
        _pack(BOOK_ARRAY),
    ]
    decoded = [wire.decode(p) for p in sound]
    ticks = wire.decode_ticks(sound)
    assert ticks == decoded and [t.v for t in ticks] == [1, 2, 2, 2]
    assert [type(t) for t in ticks] == [Tick] * 4
    try:
        refused = type(wire.decode(bad)) is not Tick
    except WireError:
        refused = True
    assert refused
    assert wire.decode_ticks([*sound, bad]) is None


def _rejections(count: int, detail: str = "rate limit") -> list[OrderRejected]:
    return [make_rejection(n, detail=detail) for n in range(count)]


def test_event_frames_send_each_run_of_one_topic_as_one_message_in_order() -> None:
    """Runs of one topic batched, anything else alone: the same events, in order, filtered alike."""
    fill, position = make_fill(), one_of_each()[9]
    eos = Eos(source="executor", last_seq=3, ts_ns=1)
    rejected = _rejections(3)
    sent = [*rejected, fill, position, fill, eos, *rejected[:2]]
    frames = wire.event_frames(sent)
    assert [topic for topic, _ in frames] == [
        b"reject.BTC/USD",
        b"fill.BTC/USD",
        b"position.BTC/USD",
        b"fill.BTC/USD",
        b"eos",
        b"reject.BTC/USD",
    ]
    decoded = [wire.decode(payload) for _, payload in frames]
    assert [type(m).__name__ for m in decoded] == [
        "EventBatch", "Fill", "Position", "Fill", "Eos", "EventBatch"
    ]  # fmt: skip
    flat = [e for m in decoded for e in (m.events if isinstance(m, EventBatch) else [m])]
    assert flat == sent
    assert [wire.topic(m) for m in decoded] == [topic for topic, _ in frames]
    assert frames[1] == wire.frames(fill)  # alone, exactly as before batches


def _flat(frames: list[tuple[bytes, bytes]]) -> list[object]:
    decoded = [wire.decode(payload) for _, payload in frames]
    return [e for m in decoded for e in (m.events if isinstance(m, EventBatch) else [m])]


def test_a_long_run_of_events_is_cut_under_the_caps() -> None:
    """Past `BATCH_MAX` events or the payload cap, a run goes as several messages, in order."""
    many = _rejections(BATCH_MAX + 1)
    frames = wire.event_frames(many)
    assert [type(wire.decode(p)).__name__ for _, p in frames] == ["EventBatch", "OrderRejected"]
    assert _flat(frames) == many
    wordy = _rejections(200, detail="x" * 1_000)  # 200 kB of events
    frames = wire.event_frames(wordy)
    assert len(frames) > 1 and all(len(p) <= wire.MAX_PAYLOAD_BYTES for _, p in frames)
    assert _flat(frames) == wordy


@pytest.mark.parametrize(
    ("events", "position"),
    [
        ([make_fill(), make_fill(symbol="ETH/USD")], 1),  # another topic
        ([make_rejection(1), make_fill()], 1),  # another class
    ],
)
def test_an_event_batch_mixing_topics_is_refused(events: list[object], position: int) -> None:
    """A subscriber filtering by topic must get nothing it did not subscribe to."""
    payload = _pack(["EventBatch", 1, [msgpack.unpackb(wire.encode(e)) for e in events]])
    with pytest.raises(InvalidField, match=rf"events\[{position}\].*not the batch's topic"):
        wire.decode(payload)


def test_an_event_batch_checks_each_order_as_alone() -> None:
    """An order's cross-field rules hold inside a batch too, naming the item."""
    order = one_of_each()[4]
    head = msgpack.unpackb(wire.encode(order))[:10]  # [type, v, ..., ts_ns]
    market_with_price = [*head, "market", 61838.0, "gtc", False, None]
    payload = _pack(["EventBatch", 1, [msgpack.unpackb(wire.encode(order)), market_with_price]])
    with pytest.raises(InvalidField, match=r"events\[1\].*market order takes no price"):
        wire.decode(payload)
