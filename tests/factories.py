"""Valid messages for tests; a test overrides only the field it is about."""

from __future__ import annotations

from typing import Any

import msgspec

from common.messages import (
    CancelReason,
    Eos,
    EventBatch,
    FeedState,
    FeedStatus,
    Fill,
    Hello,
    Liquidity,
    OrderCancelled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    Position,
    Prediction,
    PredictionBatch,
    Progress,
    Ready,
    ReadyAck,
    RejectReason,
    RiskEvent,
    RunCounters,
    Side,
    Target,
    TargetBatch,
    Tick,
    TickBatch,
    TickFileHeader,
    TickKind,
    Watermark,
)

T0_NS = 1_723_161_254_087_891_268


def make_tick(**overrides: Any) -> Tick:
    fields: dict[str, Any] = dict(
        venue="kraken",
        symbol="BTC/USD",
        seq=1,
        kind=TickKind.QUOTE,
        exch_ts_ns=T0_NS,
        recv_ts_ns=T0_NS + 1_000,
        bid=61837.5,
        bid_size=0.25,
        ask=61837.75,
        ask_size=1.5,
    )
    fields.update(overrides)
    return Tick(**fields)


def make_trade(**overrides: Any) -> Tick:
    fields: dict[str, Any] = dict(
        kind=TickKind.TRADE,
        bid=None,
        bid_size=None,
        ask=None,
        ask_size=None,
        last=61837.5,
        last_size=0.02,
        side=Side.SELL,
    )
    fields.update(overrides)
    return make_tick(**fields)


def replace(message: Any, **changes: Any) -> Any:
    return msgspec.structs.replace(message, **changes)


def one_of_each() -> list[Any]:
    """One valid instance of every message type, in a fixed order."""
    return [
        make_tick(),
        make_trade(),
        make_prediction(),
        make_target(),
        OrderSubmitted(
            order_id="o-1",
            target_id="t-1",
            symbol="BTC/USD",
            side=Side.BUY,
            qty=0.5,
            ref_price=61837.75,
            tick_seq=7,
            ts_ns=T0_NS + 9,
        ),
        OrderSubmitted(
            order_id="o-3",
            target_id="t-1",
            symbol="BTC/USD",
            side=Side.SELL,
            qty=0.5,
            ref_price=61837.75,
            tick_seq=7,
            ts_ns=T0_NS + 9,
            order_type=OrderType.LIMIT,
            limit_price=61838.0,
            post_only=True,
            replaces="o-1",
        ),
        OrderCancelled(
            order_id="o-3",
            symbol="BTC/USD",
            side=Side.SELL,
            qty=0.25,
            reason=CancelReason.REQUOTE,
            detail="touch moved 3.2 bps",
            ts_ns=T0_NS + 10,
        ),
        OrderRejected(
            order_id="o-2",
            target_id="t-2",
            symbol="BTC/USD",
            side=Side.SELL,
            qty=3.0,
            reason=RejectReason.MAX_POSITION,
            detail="position 3.5 > 1",
            ts_ns=T0_NS + 10,
        ),
        make_fill(),
        Position(
            symbol="BTC/USD",
            qty=0.25,
            avg_price=61837.75,
            realized_pnl=0.0,
            unrealized_pnl=-0.0625,
            fees=61.84,
            equity=-61.9025,
            ts_ns=T0_NS + 12,
        ),
        RiskEvent(
            kind="circuit_breaker_tripped",
            symbol=None,
            values={"drawdown": 105.5, "max_loss": 100.0},
            detail="drawdown over limit",
            ts_ns=T0_NS + 13,
        ),
        FeedStatus(
            venue="kraken",
            symbol="BTC/USD",
            state=FeedState.LIVE,
            detail="snapshot received",
            counters={"messages": 12, "checksum_failures": 0},
            ts_ns=T0_NS + 14,
        ),
        Eos(source="feed", last_seq=85175, ts_ns=T0_NS + 15),
        RunCounters(source="model", counters={"dropped_targets": 3}),
        Watermark(source="model", tick_seq=4096),
        Hello(source="feed", ts_ns=T0_NS + 16),
        Ready(source="model"),
        ReadyAck(source="feed", accepted=False, detail="2 frames, expected 1"),
        Progress(source="executor", tick_seq=1024, joined=False),
        TickFileHeader(
            format_version=1,
            venue="binance",
            symbols=["BTC/USDT"],
            source="test",
            created_ns=T0_NS,
        ),
        TickBatch(symbol="BTC/USD", ticks=[make_tick(seq=1), make_trade(seq=2)]),
        PredictionBatch(symbol="BTC/USD", predictions=[make_prediction()]),
        EventBatch(events=[make_fill(), make_fill(order_id="o-2")]),
        TargetBatch(
            source="model", targets=[make_target(), make_target(id="t-2", tick_seq=9)], through=12
        ),
    ]


def make_target(**overrides: Any) -> Target:
    """The `Target` of `one_of_each`; a test overrides only its field."""
    fields: dict[str, Any] = dict(
        id="t-1",
        symbol="BTC/USD",
        target_position=0.5,
        ref_price=61837.5,
        tick_seq=7,
        tick_ts_ns=T0_NS,
        created_ns=T0_NS + 5,
        ttl_ms=2000,
    )
    fields.update(overrides)
    return Target(**fields)


def make_prediction(**overrides: Any) -> Prediction:
    fields: dict[str, Any] = dict(
        symbol="BTC/USD",
        tick_seq=7,
        tick_ts_ns=T0_NS,
        model_id="ab12" * 16,
        value=-0.00125,
        target_position=-0.5,
        created_ns=T0_NS + 5,
    )
    fields.update(overrides)
    return Prediction(**fields)


def make_order(n: int, **overrides: Any) -> OrderSubmitted:
    """A market order `o-<n>` for target `t-<n>`, decided on tick 7."""
    fields: dict[str, Any] = dict(
        order_id=f"o-{n}",
        target_id=f"t-{n}",
        symbol="BTC/USD",
        side=Side.BUY,
        qty=0.5,
        ref_price=61837.75,
        tick_seq=7,
        ts_ns=T0_NS + n,
    )
    fields.update(overrides)
    return OrderSubmitted(**fields)


def make_fill(**overrides: Any) -> Fill:
    """A taker buy fill of BTC/USD; a test overrides only its field."""
    fields: dict[str, Any] = dict(
        order_id="o-1",
        symbol="BTC/USD",
        side=Side.BUY,
        qty=0.25,
        price=61837.75,
        fee=61.84,
        liquidity=Liquidity.TAKER,
        tick_seq=8,
        ts_ns=T0_NS + 11,
    )
    fields.update(overrides)
    return Fill(**fields)


def make_rejection(n: int, **overrides: Any) -> OrderRejected:
    """The `n`th order of a run, a BTC/USD buy the rate limit refused; a test overrides a field."""
    fields: dict[str, Any] = dict(
        order_id=f"o-{n}",
        target_id=f"t-{n}",
        symbol="BTC/USD",
        side=Side.BUY,
        qty=0.1,
        reason=RejectReason.RATE_LIMIT,
        detail="test",
        ts_ns=n + 1,
    )
    fields.update(overrides)
    return OrderRejected(**fields)


def make_cancel(**overrides: Any) -> OrderCancelled:
    """A BTC/USD buy's unfilled rest, cancelled as immediate-or-cancel; a test overrides a field."""
    fields: dict[str, Any] = dict(
        order_id="o-9",
        symbol="BTC/USD",
        side=Side.BUY,
        qty=0.5,
        reason=CancelReason.IOC,
        detail="immediate-or-cancel rest",
        ts_ns=9,
    )
    fields.update(overrides)
    return OrderCancelled(**fields)
