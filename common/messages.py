"""The wire messages of ARCHITECTURE.md: immutable, versioned, plain data.

A message never changes once built; a stage that needs other values builds a
new one. Each class is a frozen `msgspec.Struct`: its annotations *are* the schema
that `common.wire.decode` enforces (types, ranges, finiteness, enum values), so
a field's rule is written once, next to the field. Field order is the wire
order, so a new field goes at the end of its class together with a `VERSION`
bump. Cross-field rules (a quote's bid below its ask) live in `common.wire`.
Encoding lives in `common.wire`, not here.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Final, Literal, get_args

import msgspec
from msgspec import Meta

_MAX: Final = sys.float_info.max
# Bounds on both sides also reject NaN and +/-inf: every comparison with NaN fails.
Finite = Annotated[float, Meta(ge=-_MAX, le=_MAX)]
NonNegative = Annotated[float, Meta(ge=0.0, le=_MAX)]
Positive = Annotated[float, Meta(gt=0.0, le=_MAX)]
Count = Annotated[int, Meta(ge=0)]  # sequence numbers, timestamps (ns)
PositiveInt = Annotated[int, Meta(gt=0)]
Name = Annotated[str, Meta(min_length=1, max_length=128)]


class WireMessage(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    array_like=True,
    tag=True,
    forbid_unknown_fields=True,
):
    """Base of every message: immutable; on the wire `[type, v, *fields]`.

    `tag=True` makes the class name the wire `type`; each subclass's first
    field `v` is its schema version, checked on decode. A payload of a version
    we speak must have exactly our fields (msgspec would skip trailing ones),
    nested messages too: `forbid_unknown_fields`.
    """


class TickKind(StrEnum):
    QUOTE = "quote"
    TRADE = "trade"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(StrEnum):
    GTC = "gtc"  # rests until filled or cancelled
    IOC = "ioc"  # what does not fill on arrival is cancelled


class CancelReason(StrEnum):
    """Why an order stopped working before it filled whole."""

    REQUOTE = "requote"  # the touch moved away from its price: replaced
    RETARGET = "retarget"  # the target changed: replaced or no longer wanted
    IOC = "ioc"  # the unfilled rest of an immediate-or-cancel order
    RISK = "risk"  # the circuit breaker tripped: an order adding to its position stops
    VENUE = "venue"  # the venue cancelled it (dead-man switch, expiry, ...)
    STOP = "stop"  # the executor stopped with it working


class FeedState(StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    STALE = "stale"
    RESYNCING = "resyncing"
    DOWN = "down"
    REPLAYING = "replaying"


class RejectReason(StrEnum):
    """Why the executor refused or dropped an order or target."""

    MAX_ORDER_NOTIONAL = "max_order_notional"
    MAX_POSITION = "max_position"
    CIRCUIT_BREAKER = "circuit_breaker"
    STALE_MARKET = "stale_market"
    EXPIRED_TARGET = "expired_target"
    SUPERSEDED_TARGET = "superseded_target"
    RATE_LIMIT = "rate_limit"
    PRICE_BAND = "price_band"
    MIN_ORDER_SIZE = "min_order_size"
    MIN_COST = "min_cost"
    UNKNOWN_SYMBOL = "unknown_symbol"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXCHANGE_REJECTED = "exchange_rejected"
    EXCHANGE_UNAVAILABLE = "exchange_unavailable"
    EXCHANGE_HALTED = "exchange_halted"  # live: the venue refused our credentials or locked us out
    POST_ONLY = "post_only"  # a post-only order that would have taken ("EOrder:Post only order")


Level = tuple[Positive, Positive]  # (price, size) of one displayed book level
LEVELS_MAX: Final = 1_000  # Kraken's deepest book subscription


class Tick(WireMessage, frozen=True, kw_only=True):
    """One market event: a book change (`quote`) or one trade (`trade`).

    A quote carries bid/ask and their sizes, and since version 2 the top
    levels of each side (`bids` best first descending, `asks` best first
    ascending; their first level is bid/ask), as deep as the feed's book
    subscription; empty when the source showed only the top (a version-1
    tick, a `bookTicker` import). A trade carries last/last_size and the
    aggressor side. Fields a kind does not carry are None (levels: empty).
    Version-1 payloads (13 fields, no levels) still decode.
    """

    v: Literal[1, 2] = 2
    venue: Name
    symbol: Name
    seq: Count  # feed-assigned, gap-free within a run
    kind: TickKind
    exch_ts_ns: Count
    recv_ts_ns: Count
    bid: Positive | None = None
    bid_size: NonNegative | None = None
    ask: Positive | None = None
    ask_size: NonNegative | None = None
    last: Positive | None = None
    last_size: NonNegative | None = None
    side: Side | None = None  # aggressor side of a trade
    bids: Annotated[list[Level], Meta(max_length=LEVELS_MAX)] = []
    asks: Annotated[list[Level], Meta(max_length=LEVELS_MAX)] = []

    @property
    def mid(self) -> float | None:
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2.0


BATCH_MAX: Final = 256  # items in one TickBatch, PredictionBatch, TargetBatch or EventBatch


class TickBatch(WireMessage, frozen=True, kw_only=True):
    """Consecutive ticks of one symbol in one message: the fast replay's batched mode.

    Only a lossless `--speed 0` replay sends them (`--replay-batch N`); a
    subscriber handles each tick in order, exactly as if it had come alone, so
    a batched replay decides, fills and records the same as an unbatched one.
    Seqs increase strictly within a batch (checked on decode).
    """

    v: Literal[1] = 1
    symbol: Name
    ticks: Annotated[list[Tick], Meta(min_length=1, max_length=BATCH_MAX)]


class Prediction(WireMessage, frozen=True, kw_only=True):
    """The model's output for one tick, with the target position it implies."""

    v: Literal[1] = 1
    symbol: Name
    tick_seq: Count
    tick_ts_ns: Count
    model_id: Name  # SHA-256 of the checkpoint
    value: Finite
    target_position: Finite  # base units
    created_ns: Count


class PredictionBatch(WireMessage, frozen=True, kw_only=True):
    """Predictions of consecutive ticks of one symbol, in order: those of one `TickBatch`
    (batched in, batched out), or of single ticks the model decided together."""

    v: Literal[1] = 1
    symbol: Name
    predictions: Annotated[list[Prediction], Meta(min_length=1, max_length=BATCH_MAX)]


class Target(WireMessage, frozen=True, kw_only=True):
    """Wanted position for one symbol; the executor acts on the newest per symbol."""

    v: Literal[1] = 1
    id: Name
    symbol: Name
    target_position: Finite  # base units
    ref_price: Positive
    tick_seq: Count
    tick_ts_ns: Count
    created_ns: Count
    ttl_ms: PositiveInt


class TargetBatch(WireMessage, frozen=True, kw_only=True):
    """Targets the model decided in one step (a batch's ticks, or queued ones), in tick order.

    The executor takes them as if each had come alone, then as a `Watermark`
    at `through`: the model has decided every tick up to it, so the watermarks
    the step would have sent are folded in. Only a step that decided several
    ticks sends one; a tick decided alone still sends its `Target`. Tick seqs
    never decrease, and `through` is at least the last one (checked on decode).
    `source` names the model, as a `Watermark`'s does: the executor takes a
    batch (and its `through`) only from one of the run's models.
    """

    v: Literal[1] = 1
    source: Name
    targets: Annotated[list[Target], Meta(min_length=1, max_length=BATCH_MAX)]
    through: Count  # the last tick seq the model had decided when it sent the batch


class OrderSubmitted(WireMessage, frozen=True, kw_only=True):
    """An order the executor sent (to the paper engine or the exchange).

    Version 2 added the order's terms: its type, limit price, time in force,
    post-only flag, and the order it replaces (a cancel/replace). Version-1
    payloads (market orders, 8 fields) still decode.
    """

    v: Literal[1, 2] = 2
    order_id: Name  # also the client order id sent to the exchange
    target_id: Name
    symbol: Name
    side: Side
    qty: Positive  # base units
    ref_price: Positive
    tick_seq: Count
    ts_ns: Count
    order_type: OrderType = OrderType.MARKET
    limit_price: Positive | None = None  # limit orders only, on the pair's price grid
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    replaces: Name | None = None  # the order this one replaces (cancelled with REQUOTE/RETARGET)


class OrderCancelled(WireMessage, frozen=True, kw_only=True):
    """A working order that stopped before it filled whole; `qty` never will fill."""

    v: Literal[1] = 1
    order_id: Name
    symbol: Name
    side: Side
    qty: Positive  # base units left unfilled
    reason: CancelReason
    detail: str
    ts_ns: Count  # event time the cancel took effect at the venue


class OrderRejected(WireMessage, frozen=True, kw_only=True):
    """An order or target the executor refused, with a reason code."""

    v: Literal[1] = 1
    order_id: Name
    target_id: Name
    symbol: Name
    side: Side | None
    qty: NonNegative  # base units; 0 when the rejection is of a whole target
    reason: RejectReason
    detail: str
    ts_ns: Count


class Fill(WireMessage, frozen=True, kw_only=True):
    """A (possibly partial) execution of an order."""

    v: Literal[1] = 1
    order_id: Name
    symbol: Name
    side: Side
    qty: Positive  # base units
    price: Positive
    fee: Finite  # quote currency; negative would be a rebate
    liquidity: Liquidity
    tick_seq: Count  # the market tick the fill was priced against
    ts_ns: Count


class Position(WireMessage, frozen=True, kw_only=True):
    """Position and PnL of one symbol after a fill or a mark-to-market."""

    v: Literal[1] = 1
    symbol: Name
    qty: Finite  # base units, signed
    avg_price: NonNegative  # 0 when flat
    realized_pnl: Finite
    unrealized_pnl: Finite
    fees: Finite
    equity: Finite  # realized + unrealized - fees, since the run started
    ts_ns: Count


class RiskEvent(WireMessage, frozen=True, kw_only=True):
    """A risk state change, e.g. `circuit_breaker_tripped`, with its numbers."""

    v: Literal[1] = 1
    kind: Name
    symbol: Name | None
    values: dict[Name, Finite] = {}
    detail: str = ""
    ts_ns: Count = 0


# What the executor publishes, and all an `EventBatch` may hold.
ExecutionEvent = OrderSubmitted | OrderRejected | OrderCancelled | Fill | Position | RiskEvent


class EventBatch(WireMessage, frozen=True, kw_only=True):
    """Consecutive execution events of one topic, in the order they happened.

    The executor publishes what one turn of its loop decided (a batched
    replay: a batch's targets, refused or filled) as runs of events of one
    topic; a run of two or more travels as one message under that topic, so a
    subscriber's topic filter selects what it selected when each came alone.
    A subscriber handles each event in order, exactly as if it had come alone.
    Every event is of one class and one topic (checked on decode).
    """

    v: Literal[1] = 1
    events: Annotated[list[ExecutionEvent], Meta(min_length=1, max_length=BATCH_MAX)]


class FeedStatus(WireMessage, frozen=True, kw_only=True):
    """The feed's connection state, sent on every change and on an interval."""

    v: Literal[1] = 1
    venue: Name
    symbol: Name | None  # None: the whole feed
    state: FeedState
    detail: str
    counters: dict[Name, Count] = {}
    ts_ns: Count = 0


class Eos(WireMessage, frozen=True, kw_only=True):
    """End of stream: nothing follows from `source`; `last_seq` is its last tick."""

    v: Literal[1] = 1
    source: Name
    last_seq: Count
    ts_ns: Count


class RunCounters(WireMessage, frozen=True, kw_only=True):
    """A service's final counters (dropped targets, malformed messages, ...), sent before `eos`."""

    v: Literal[1] = 1
    source: Name
    counters: dict[Name, Count] = {}


class Watermark(WireMessage, frozen=True, kw_only=True):
    """The model has finished with every tick up to `tick_seq` (lossless replay only).

    Sent on the targets socket between targets; an executor following the
    model processes ticks no further than the watermark, so targets meet the
    ticks they were computed from in the same order on every replay.
    """

    v: Literal[1] = 1
    source: Name
    tick_seq: Count


class Hello(WireMessage, frozen=True, kw_only=True):
    """Readiness probe a publisher sends until its expected subscribers answer."""

    v: Literal[1] = 1
    source: Name
    ts_ns: Count


class TickFileHeader(WireMessage, frozen=True, kw_only=True):
    """First record of a tick file (see `common.tickfile`)."""

    v: Literal[1] = 1
    format_version: PositiveInt
    venue: Name
    symbols: Annotated[list[Name], Meta(min_length=1)]
    source: str  # where the ticks came from: a capture, a live run, an import
    created_ns: Count


class Ready(WireMessage, frozen=True, kw_only=True):
    """A subscriber's answer to `Hello`: `source` receives the publisher's data (REQ, one frame)."""

    v: Literal[1] = 1
    source: Name  # the subscriber, one of the publisher's expected names


class ReadyAck(WireMessage, frozen=True, kw_only=True):
    """The publisher's reply to every request on its ready socket; not `accepted` if unreadable."""

    v: Literal[1] = 1
    source: Name  # the publisher
    accepted: bool  # False: the request was not a `Ready` (it does not count)
    detail: str = ""  # why not, for people; nothing branches on it


class Progress(WireMessage, frozen=True, kw_only=True):
    """A replay subscriber's position for flow control (PUSH, one frame; see `common.flow`)."""

    v: Literal[1] = 1
    source: Name  # the subscriber
    tick_seq: Count  # every tick up to this seq is handled; ignored when `joined`
    joined: bool  # just (re)joined: count it as caught up with what was sent


Message = (
    Tick
    | TickBatch
    | Prediction
    | PredictionBatch
    | Target
    | TargetBatch
    | OrderSubmitted
    | OrderRejected
    | OrderCancelled
    | Fill
    | Position
    | RiskEvent
    | EventBatch
    | FeedStatus
    | Eos
    | RunCounters
    | Watermark
    | Hello
    | Ready
    | ReadyAck
    | Progress
    | TickFileHeader
)

# Every message class, listed once (in `Message`): the codec's table of types.
MESSAGE_CLASSES: Final[tuple[type[WireMessage], ...]] = get_args(Message)
