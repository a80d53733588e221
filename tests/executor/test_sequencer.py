"""The executor's sequencing rules, in process: watermark, eos from both streams, drain, the end."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec
import pytest

from common.journal import Journal, read_journal
from common.messages import (
    Eos,
    Fill,
    Message,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    Position,
    RejectReason,
    RiskEvent,
    Side,
    Target,
    TargetBatch,
    Tick,
    TickBatch,
    Watermark,
)
from services.executor.engine import Event, ExecutionEngine
from services.executor.order_executor import OrderTerms
from services.executor.outbox import Outbox
from services.executor.paper import PaperOrderExecutor
from services.executor.risk import RiskEngine
from services.executor.sequencer import COMPACT_AFTER, Sequencer
from tests.executor.test_paper_and_positions import LOOSE, MS, PAIRS, T0, quote, target
from tests.factories import make_trade

NOW_NS = T0 + 10**12  # wall clock for the engine; event time comes from the ticks


def _sequencer(*, follow_model: bool, applied: list[int] | None = None) -> Sequencer:
    engine = ExecutionEngine(
        RiskEngine(LOOSE), PaperOrderExecutor(PAIRS, latency_ms=0, taker_fee_bps=0)
    )
    return Sequencer(
        engine,
        follow_model=follow_model,
        drain_timeout_s=5.0,
        now_s=0.0,
        on_applied=(applied.append if applied is not None else lambda seq: None),
    )


def _fills(events: list[Message]) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def test_following_the_model_ticks_wait_for_the_watermark() -> None:
    """A tick is applied (and reported as progress) only once the model is done with it.

    Reporting ticks on arrival once let a replay run ahead of the executor
    without bound: the waiting ticks grew with the file.
    """
    applied: list[int] = []
    sequencer = _sequencer(follow_model=True, applied=applied)
    for seq in (1, 2, 3):
        sequencer.on_market(quote(seq, seq, 99.0, 101.0), NOW_NS)
    assert applied == []
    sequencer.on_model(Watermark(source="model", tick_seq=2), NOW_NS, now_s=1.0)
    assert applied == [1, 2]
    sequencer.on_model(Watermark(source="model", tick_seq=3), NOW_NS, now_s=1.0)
    assert applied == [1, 2, 3]


def test_a_target_meets_the_ticks_it_was_computed_from_whatever_the_arrival_order() -> None:
    """Target before or after the later ticks arrive: the same fill, at its own tick's price."""

    def run(target_first: bool) -> list[tuple[int, float, float]]:
        sequencer = _sequencer(follow_model=True)
        events: list[Message] = []
        ticks = [quote(1, 1, 99.0, 101.0), quote(2, 2, 109.0, 111.0), quote(3, 3, 119.0, 121.0)]
        wanted = target("t1", 1.0, seq=1, t_ms=1)
        if target_first:
            events += sequencer.on_model(wanted, NOW_NS, now_s=1.0)
        for tick in ticks:
            events += sequencer.on_market(tick, NOW_NS)
        if not target_first:
            events += sequencer.on_model(wanted, NOW_NS, now_s=1.0)
        events += sequencer.on_model(Eos(source="model", last_seq=3, ts_ns=0), NOW_NS, 1.0)
        return [(f.tick_seq, f.price, f.qty) for f in _fills(events + sequencer.finish(NOW_NS))]

    # Latency 0: priced on the target's own tick, not on the later ticks it arrived after.
    assert run(target_first=True) == run(target_first=False) == [(1, 101.0, 1.0)]


def test_live_ticks_are_applied_at_once() -> None:
    """Not following the model: no waiting for a watermark."""
    applied: list[int] = []
    sequencer = _sequencer(follow_model=False, applied=applied)
    batch = TickBatch(symbol="BTC/USD", ticks=[quote(1, 1, 99.0, 101.0), quote(2, 2, 99.0, 101.0)])
    sequencer.on_market(batch, NOW_NS)
    assert applied == [1, 2] and sequencer.ticks == 2


def test_a_replay_ends_on_the_model_eos_only_once_the_feed_ended_too() -> None:
    """After the model's eos the market may still owe ticks: wait for the feed, within the drain."""
    sequencer = _sequencer(follow_model=True)
    sequencer.on_model(Eos(source="model", last_seq=0, ts_ns=0), NOW_NS, now_s=10.0)
    assert not sequencer.finished(now_s=11.0)
    assert sequencer.finished(now_s=15.5)  # drain timeout: no feed eos came
    other = _sequencer(follow_model=True)
    other.on_model(Eos(source="model", last_seq=0, ts_ns=0), NOW_NS, now_s=10.0)
    other.on_market(Eos(source="feed", last_seq=0, ts_ns=0), NOW_NS)
    assert other.finished(now_s=10.0)


def test_live_ends_on_the_model_eos_at_once() -> None:
    """Live, the market never ends: the model's eos is the end."""
    sequencer = _sequencer(follow_model=False)
    assert not sequencer.finished(now_s=1.0)
    sequencer.on_model(Eos(source="model", last_seq=0, ts_ns=0), NOW_NS, now_s=1.0)
    assert sequencer.finished(now_s=1.0)


def test_after_the_feed_ended_a_silent_model_ends_the_run_after_the_drain_timeout() -> None:
    """Feed eos, then the model silent: finished only once it was silent drain_timeout_s."""
    sequencer = _sequencer(follow_model=True)
    sequencer.on_model(Watermark(source="model", tick_seq=0), NOW_NS, now_s=100.0)
    sequencer.on_market(Eos(source="feed", last_seq=0, ts_ns=0), NOW_NS)
    assert not sequencer.finished(now_s=100.5)  # the loop's first look after the eos
    assert not sequencer.finished(now_s=105.0)
    assert sequencer.finished(now_s=105.6)


def test_a_model_slow_to_start_is_not_silent_before_the_feed_ended() -> None:
    """Heard of never (it was still loading while a short replay ran): the drain timeout
    counts from the feed's eos, not from the executor's start. (Under load a model ready
    7 s after the executor once made a 6,000-tick run finish with no orders.)"""
    sequencer = _sequencer(follow_model=True)  # started at now_s 0
    sequencer.on_market(Eos(source="feed", last_seq=0, ts_ns=0), NOW_NS)
    assert not sequencer.finished(now_s=7.0)
    assert not sequencer.finished(now_s=11.9)
    assert sequencer.finished(now_s=12.1)


def test_the_end_applies_waiting_ticks_then_reports_positions_at_market_time() -> None:
    """Ticks the model never released still count; positions are stamped with event time."""
    applied: list[int] = []
    sequencer = _sequencer(follow_model=True, applied=applied)
    sequencer.on_market(quote(1, 1, 99.0, 101.0), NOW_NS)
    sequencer.on_model(target("t1", 1.0, seq=1, t_ms=1), NOW_NS, now_s=1.0)
    sequencer.on_market(quote(2, 7, 99.0, 101.0), NOW_NS)
    events = sequencer.finish(NOW_NS)
    assert applied == [1, 2]
    [position] = [e for e in events if isinstance(e, Position)]
    assert position.qty == 1.0 and position.ts_ns == T0 + 7 * MS


def test_targets_waiting_at_start_supersede_each_other() -> None:
    """Only the newest target of a backlog acts; the older ones are rejected, never executed."""
    sequencer = _sequencer(follow_model=False)
    sequencer.on_market(quote(1, 1, 99.0, 101.0), NOW_NS)
    backlog = [target("old", 5.0, seq=1, t_ms=1), target("new", 1.0, seq=1, t_ms=1)]
    events = sequencer.on_backlog(list(backlog), NOW_NS)
    [submitted] = [e for e in events if isinstance(e, OrderSubmitted)]
    assert submitted.target_id == "new"
    assert [e.target_id for e in events if isinstance(e, OrderRejected)] == ["old"]


def test_a_target_from_before_the_first_tick_seen_is_superseded_not_executed() -> None:
    """A swapped-in executor that first sees tick 10 never acts on a target from tick 9."""
    sequencer = _sequencer(follow_model=False)
    held = sequencer.on_backlog([target("before-swap", 1.0, seq=9, t_ms=9)], NOW_NS)
    assert held == []  # no tick seen yet: it waits for its tick
    events = sequencer.on_market(quote(10, 10, 99.0, 101.0), NOW_NS)
    events += sequencer.on_model(target("late", 2.0, seq=9, t_ms=9), NOW_NS, now_s=1.0)
    assert not [e for e in events if isinstance(e, OrderSubmitted)]
    rejected = [e for e in events if isinstance(e, OrderRejected)]
    assert [(e.target_id, e.reason) for e in rejected] == [
        ("before-swap", RejectReason.SUPERSEDED_TARGET),
        ("late", RejectReason.SUPERSEDED_TARGET),
    ]
    events = sequencer.on_model(target("after", 1.0, seq=10, t_ms=10), NOW_NS, now_s=1.0)
    assert [e.target_id for e in events if isinstance(e, OrderSubmitted)] == ["after"]


def test_the_outbox_journals_every_event_before_anyone_sees_it(tmp_path: Path) -> None:
    """Each journaled event is on disk at the moment it is sent, and in the same order."""
    journal = Journal(tmp_path / "executor.journal")
    on_disk_when_sent: list[int] = []

    def send(events: list[Message]) -> None:
        on_disk_when_sent.append(len(read_journal(journal.path).fills))

    outbox = Outbox(journal, send)
    sequencer = _sequencer(follow_model=False)
    sequencer.on_market(quote(1, 1, 99.0, 101.0), NOW_NS)
    outbox.emit(sequencer.on_model(target("t1", 1.0, seq=1, t_ms=1), NOW_NS, now_s=1.0))
    outbox.emit(sequencer.on_market(quote(2, 2, 99.0, 101.0), NOW_NS))
    journal.close()
    fills = read_journal(journal.path).fills
    assert len(fills) == 1 and on_disk_when_sent[-1] >= 1


def test_an_eos_watermark_or_batch_from_an_unexpected_source_is_ignored_and_counted() -> None:
    """Only the feed ends the market and only the run's models end theirs: a forged eos is not."""
    sequencer = _sequencer(follow_model=True)
    sequencer.on_market(quote(1, 1, 99.0, 101.0), NOW_NS)
    sequencer.on_market(Eos(source="intruder", last_seq=1, ts_ns=0), NOW_NS)
    sequencer.on_model(Eos(source="intruder", last_seq=1, ts_ns=0), NOW_NS, now_s=1.0)
    sequencer.on_model(Watermark(source="intruder", tick_seq=1), NOW_NS, now_s=1.0)
    forged = TargetBatch(source="intruder", targets=[target("x", 1.0, seq=1, t_ms=1)], through=1)
    assert sequencer.on_model(forged, NOW_NS, now_s=1.0) == []
    assert not sequencer.feed_eos_seen and sequencer.model_eos_at is None
    assert sequencer.watermark == 0 and sequencer.waiting == 1
    assert sequencer.unexpected_source == 4


def test_with_two_models_the_stream_ends_only_after_both_eos() -> None:
    """A split deployment: each model serves some symbols; the last eos ends the run."""
    engine = ExecutionEngine(
        RiskEngine(LOOSE), PaperOrderExecutor(PAIRS, latency_ms=0, taker_fee_bps=0)
    )
    sequencer = Sequencer(
        engine,
        follow_model=False,
        drain_timeout_s=5.0,
        now_s=0.0,
        models=frozenset({"model-a", "model-b"}),
    )
    sequencer.on_model(Eos(source="model-a", last_seq=0, ts_ns=0), NOW_NS, now_s=1.0)
    assert not sequencer.finished(now_s=1.0)
    sequencer.on_model(Eos(source="model-b", last_seq=0, ts_ns=0), NOW_NS, now_s=2.0)
    assert sequencer.finished(now_s=2.0)


def _replay(
    stream: list[Message], *, max_loss: float, quiet: bool
) -> tuple[list[Message], list[int], int]:
    """Run `stream` through a following sequencer; its events, applied seqs and quiet runs."""
    limits = dataclasses.replace(LOOSE, max_loss=max_loss)
    pairs = {**PAIRS, "ETH/USD": dataclasses.replace(PAIRS["BTC/USD"], symbol="ETH/USD")}
    paper = PaperOrderExecutor(pairs, latency_ms=20, taker_fee_bps=40, latency_jitter_ms=5)
    engine = ExecutionEngine(RiskEngine(limits), paper, order_prefix="o")
    applied: list[int] = []
    sequencer = Sequencer(
        engine, follow_model=True, drain_timeout_s=5.0, now_s=0.0, on_applied=applied.append
    )
    runs = _count_quiet_runs(engine, quiet)
    events: list[Message] = []
    for message in stream:
        if isinstance(message, (Target, TargetBatch, Watermark)):
            events += sequencer.on_model(message, NOW_NS, now_s=1.0)
        else:
            events += sequencer.on_market(message, NOW_NS)
    events += sequencer.finish(NOW_NS)
    return events, applied, runs()


def _count_quiet_runs(engine: ExecutionEngine, quiet: bool) -> Callable[[], int]:
    """Count the engine's quiet runs; with `quiet` False, refuse every one (tick by tick)."""
    runs = 0
    on_quiet_ticks = engine.on_quiet_ticks

    def counted(ticks: Sequence[Tick], now_ns: int, **options: bool) -> list[Event] | None:
        nonlocal runs
        events = on_quiet_ticks(ticks, now_ns, **options) if quiet else None
        runs += events is not None
        return events

    engine.on_quiet_ticks = counted  # type: ignore[method-assign]
    return lambda: runs


def _stream(seed: int, symbols: Sequence[str] = ("BTC/USD",)) -> list[Message]:
    """Batches of a random walk per symbol with trades, targets now and then, a watermark
    every 64 ticks; with several symbols, each batch is one symbol's (chosen at random)."""
    rng = random.Random(seed)
    mids = dict.fromkeys(symbols, 100.0)
    symbol, stream, ticks = symbols[0], [], []
    for seq in range(1, 3_000):
        mid = mids[symbol]
        if rng.random() < 0.2:
            tick = make_trade(
                seq=seq, symbol=symbol, recv_ts_ns=T0 + seq * MS, last=mid, last_size=0.5
            )
        else:
            mid = mids[symbol] = round(mid * (1 + rng.gauss(0, 0.002)), 1)
            tick = quote(seq, seq, mid - 0.1, mid + 0.1, bid_size=0.3, ask_size=0.3)
            tick = msgspec.structs.replace(tick, symbol=symbol)
        ticks.append(tick)
        if len(ticks) == 64 or rng.random() < 0.01:
            stream.append(TickBatch(symbol=symbol, ticks=ticks))
            ticks = []
        if rng.random() < 0.004:  # a target: the model is done up to its tick
            wanted = target(f"t{seq}", rng.choice([-1.0, 0.0, 0.5, 1.0]), seq, seq, mid)
            stream.append(msgspec.structs.replace(wanted, symbol=symbol))
        elif seq % 64 == 0:
            stream.append(Watermark(source="model", tick_seq=seq))
        if not ticks:
            symbol = rng.choice(symbols)
    stream.append(TickBatch(symbol=symbol, ticks=ticks))
    return stream


@pytest.mark.parametrize(
    ("seed", "max_loss", "symbols"),
    [
        (1, 1e9, ("BTC/USD",)),
        (2, 3.0, ("BTC/USD",)),
        (3, 1.0, ("BTC/USD",)),
        (4, 1e9, ("BTC/USD", "ETH/USD")),
        (5, 3.0, ("BTC/USD", "ETH/USD")),
    ],
)
def test_quiet_runs_in_one_step_give_the_events_of_tick_by_tick(
    seed: int, max_loss: float, symbols: tuple[str, ...]
) -> None:
    """Runs with no fill due, held target or breaker trip in one engine step: the same run
    (one symbol, or two whose batches interleave)."""
    stream = _stream(seed, symbols)
    expected, applied_expected, _ = _replay(stream, max_loss=max_loss, quiet=False)
    events, applied, quiet_runs = _replay(stream, max_loss=max_loss, quiet=True)
    assert events == expected
    assert applied[-1] == applied_expected[-1] == 2_999
    assert applied == sorted(applied)
    assert quiet_runs > 10  # the fast path was taken, and
    assert len(_fills(expected)) > 5  # not only: orders opened and filled in between
    tripped = [e for e in expected if isinstance(e, RiskEvent)]
    assert len(tripped) == (0 if max_loss > 1e6 else 1)


def test_a_breaker_trip_inside_a_quiet_run_comes_at_its_own_tick() -> None:
    """A long position and a falling market: the breaker trips at the same quote either way."""
    ticks = [quote(seq, seq, 100.0 - seq * 0.05, 100.1 - seq * 0.05) for seq in range(1, 257)]
    stream: list[Message] = [TickBatch(symbol="BTC/USD", ticks=ticks[:5])]
    stream.append(target("t1", 1.0, seq=5, t_ms=5))
    for start in range(5, 256, 64):
        stream.append(TickBatch(symbol="BTC/USD", ticks=ticks[start : start + 64]))
        stream.append(Watermark(source="model", tick_seq=min(start + 64, 256)))
    expected, _, _ = _replay(stream, max_loss=5.0, quiet=False)
    events, _, quiet_runs = _replay(stream, max_loss=5.0, quiet=True)
    assert events == expected
    [tripped] = [e for e in expected if isinstance(e, RiskEvent)]
    assert T0 + 64 * MS < tripped.ts_ns < T0 + 192 * MS  # inside a run of 64, not at its ends
    assert quiet_runs >= 1


def _grouped(stream: list[Message], size: int, *, folded: bool) -> list[Message]:
    """`stream` with its model messages held until `size` have come (as a model step
    holds them), then handed on one by one, or `folded` into one `TargetBatch`."""
    out: list[Message] = []
    held: list[Target | Watermark] = []
    for message in stream:
        if not isinstance(message, (Target, Watermark)):
            out.append(message)
            continue
        held.append(message)
        if len(held) < size:
            continue
        targets = [m for m in held if isinstance(m, Target)]
        if not folded:
            out += held
        elif targets:
            through = max(m.tick_seq for m in held)
            out.append(TargetBatch(source="model", targets=targets, through=through))
        else:
            out.append(held[-1])
        held = []
    return out + held


@pytest.mark.parametrize(("seed", "size"), [(6, 5), (8, 10)])
def test_a_target_batch_gives_the_events_of_its_targets_one_by_one(seed: int, size: int) -> None:
    """A `TargetBatch` is its targets handed on one by one, then a watermark at `through`:
    the same events (orders, fills, positions), every tick applied."""
    stream = _stream(seed, ("BTC/USD", "ETH/USD"))
    one_by_one = _grouped(stream, size, folded=False)
    folded = _grouped(stream, size, folded=True)
    assert sum(isinstance(m, TargetBatch) and len(m.targets) > 1 for m in folded) > 2
    expected, applied_expected, _ = _replay(one_by_one, max_loss=1e9, quiet=True)
    events, applied, _ = _replay(folded, max_loss=1e9, quiet=True)
    assert events == expected
    # Progress is told per released run, and runs end where messages do: only the end agrees.
    assert applied[-1] == applied_expected[-1] == 2_999 and applied == sorted(applied)
    assert len(_fills(expected)) > 5


def test_a_backlog_of_target_batches_is_flattened_so_only_the_newest_acts() -> None:
    """Batches waiting at start count as their targets: only the newest per symbol acts."""
    sequencer = _sequencer(follow_model=False)
    sequencer.on_market(quote(1, 1, 99.0, 101.0), NOW_NS)
    older = TargetBatch(source="model", targets=[target("a", 5.0, seq=1, t_ms=1)], through=1)
    newer = TargetBatch(
        source="model",
        targets=[target("b", 3.0, seq=1, t_ms=1), target("c", 1.0, seq=1, t_ms=1)],
        through=1,
    )
    events = sequencer.on_backlog([older, Watermark(source="model", tick_seq=1), newer], NOW_NS)
    [submitted] = [e for e in events if isinstance(e, OrderSubmitted)]
    assert submitted.target_id == "c"
    assert [e.target_id for e in events if isinstance(e, OrderRejected)] == ["a", "b"]


def _released_like_a_queue(stream: list[Message]) -> list[int]:
    """The release rule as first written (a deque popped while its head is within the watermark)."""
    from collections import deque

    waiting: deque[int] = deque()
    watermark, applied = 0, []
    for message in stream:
        if isinstance(message, Watermark):
            watermark = max(watermark, message.tick_seq)
        else:
            assert isinstance(message, TickBatch)
            waiting.extend(tick.seq for tick in message.ticks)
        while waiting and waiting[0] <= watermark:
            applied.append(waiting.popleft())
    return applied


def _released(stream: list[Message]) -> list[int]:
    """The seqs of the ticks the engine was given, in order, following the model."""
    sequencer = _sequencer(follow_model=True)
    engine, applied = sequencer.engine, []
    on_tick, on_quiet_ticks = engine.on_tick, engine.on_quiet_ticks

    def tick_by_tick(tick: Tick, now_ns: int) -> list[Event]:
        applied.append(tick.seq)
        return on_tick(tick, now_ns)

    def run(ticks: Sequence[Tick], now_ns: int, **options: bool) -> list[Event] | None:
        events = on_quiet_ticks(ticks, now_ns, **options)
        if events is not None:
            applied.extend(tick.seq for tick in ticks)
        return events

    engine.on_tick, engine.on_quiet_ticks = tick_by_tick, run  # type: ignore[method-assign]
    for message in stream:
        if isinstance(message, Watermark):
            sequencer.on_model(message, NOW_NS, now_s=1.0)
        else:
            sequencer.on_market(message, NOW_NS)
    assert sequencer.waiting == sum(len(m.ticks) for m in stream if isinstance(m, TickBatch)) - len(
        applied
    )
    return applied


def _batch(*seqs: int) -> TickBatch:
    return TickBatch(symbol="BTC/USD", ticks=[quote(seq, seq, 99.0, 101.0) for seq in seqs])


def test_waiting_ticks_are_released_in_arrival_order_up_to_the_watermark() -> None:
    """Bisection while seqs rise; past `COMPACT_AFTER` released ticks the list is cut back."""
    rng = random.Random(7)
    stream: list[Message] = []
    seq, watermark = 0, 0
    while seq < COMPACT_AFTER + 1_000:
        batch = _batch(*range(seq + 1, seq + 1 + rng.randint(1, 12)))
        seq = batch.ticks[-1].seq
        stream.append(batch)
        if rng.random() < 0.5:
            watermark = min(seq, watermark + rng.randint(0, 30))
            stream.append(Watermark(source="model", tick_seq=watermark))
    expected = _released_like_a_queue(stream)
    assert len(expected) > COMPACT_AFTER  # past a compaction
    assert _released(stream) == expected


def test_ticks_whose_seqs_fall_back_are_released_as_a_queue_would() -> None:
    """A feed started again while ticks wait: up to the first tick past the watermark."""
    stream: list[Message] = [_batch(*range(1, 11)), _batch(5, 6, 7, 8), _batch(20)]
    stream += [Watermark(source="model", tick_seq=9)]
    assert _released(stream) == _released_like_a_queue(stream) == list(range(1, 10))
    stream += [Watermark(source="model", tick_seq=30), _batch(31, 32)]
    expected = [*range(1, 11), 5, 6, 7, 8, 20]
    assert _released(stream) == _released_like_a_queue(stream) == expected


def test_a_target_waiting_inside_a_run_leaves_the_ticks_before_it_quiet() -> None:
    """The model ran ahead: its target waits for tick 40 of a 64-tick batch.

    Ticks 1-39 go in one step (before, a held target made the whole run tick
    by tick), tick 40 acts on the target, ticks 41-69 in two steps (one per
    batch: the market order is still on its way, due at tick 70), tick 70
    fills it alone, and the rest in one step per batch again: the events are
    tick by tick's.
    """
    ticks = [quote(seq, seq, 100.0 + seq * 0.01, 100.2 + seq * 0.01) for seq in range(1, 193)]
    stream: list[Message] = [target("t1", 1.0, seq=40, t_ms=40)]
    for start in (0, 64, 128):
        stream.append(TickBatch(symbol="BTC/USD", ticks=ticks[start : start + 64]))
        stream.append(Watermark(source="model", tick_seq=start + 64))
    expected, applied_expected, _ = _replay(stream, max_loss=1e9, quiet=False)
    events, applied, quiet_runs = _replay(stream, max_loss=1e9, quiet=True)
    assert events == expected
    assert len(_fills(expected)) == 1 and _fills(expected)[0].tick_seq >= 40
    assert applied[-1] == applied_expected[-1] == 192
    assert 39 in applied and 40 in applied  # the quiet stretch ends before the target's tick
    assert 69 in applied and 70 in applied  # and before the order's arrival
    assert quiet_runs == 5  # 1-39, 41-64, 65-69 (in flight), 71-128, 129-192


def test_a_quiet_run_whose_seqs_restart_leaves_the_engine_where_tick_by_tick_does() -> None:
    """A restarted feed numbers from 1 again inside one released run: the engine's last
    seq is the run's highest, as `on_tick` leaves it, not the run's last tick's."""
    ticks = [quote(seq, seq, 99.9, 100.1) for seq in (*range(291, 301), *range(1, 11))]
    engines = [
        ExecutionEngine(RiskEngine(LOOSE), PaperOrderExecutor(PAIRS, latency_ms=0, taker_fee_bps=0))
        for _ in range(2)
    ]
    one_by_one, in_one_step = engines
    for tick in ticks:
        one_by_one.on_tick(tick, NOW_NS)
    assert in_one_step.on_quiet_ticks(ticks, NOW_NS) == []
    assert in_one_step.last_seq == one_by_one.last_seq == 300


def test_a_released_queue_whose_seqs_restart_leaves_the_engine_at_its_highest_seq() -> None:
    """The sequencer tells the engine when a run's seqs rise (its last is its highest);
    a queue a restarted feed numbered from 1 again inside does not rise."""
    ticks = [quote(seq, seq, 99.9, 100.1) for seq in (*range(291, 301), *range(1, 11))]
    sequencer = _sequencer(follow_model=True)
    sequencer.on_ticks(ticks, NOW_NS)
    sequencer.on_model(Watermark(source="model", tick_seq=300), NOW_NS, now_s=1.0)
    assert sequencer.engine.last_seq == 300


@pytest.mark.parametrize("max_loss", [1e9, 3.0])
def test_single_ticks_handed_over_together_give_the_events_of_tick_by_tick(
    max_loss: float,
) -> None:
    """An unbatched replay's backlog (`on_ticks`): released as runs, some in one step, with
    the events of each tick applied alone; seqs that fall back (a restarted feed's,
    repeating the book's own) are still released in order."""
    rng = random.Random(11)
    stream: list[Message] = []
    for message in _stream(6):
        stream += message.ticks if isinstance(message, TickBatch) else [message]
    stream[100:100] = [quote(seq, seq, 99.9, 100.1) for seq in range(40, 60)]  # a restart

    def replay(together: bool) -> tuple[list[Message], int]:
        paper = PaperOrderExecutor(PAIRS, latency_ms=20, taker_fee_bps=40, latency_jitter_ms=5)
        limits = dataclasses.replace(LOOSE, max_loss=max_loss)
        engine = ExecutionEngine(RiskEngine(limits), paper, order_prefix="o")
        runs = _count_quiet_runs(engine, quiet=together)
        sequencer = Sequencer(engine, follow_model=True, drain_timeout_s=5.0, now_s=0.0)
        events: list[Message] = []
        ticks: list[Tick] = []
        for message in stream:
            if isinstance(message, Tick):
                ticks.append(message)
                if together and rng.random() > 0.05:
                    continue
                events += sequencer.on_ticks(ticks, NOW_NS)
                ticks = []
            else:
                events += sequencer.on_ticks(ticks, NOW_NS) if ticks else []
                ticks = []
                events += sequencer.on_model(message, NOW_NS, now_s=1.0)
        events += sequencer.on_ticks(ticks, NOW_NS) if ticks else []
        return events + sequencer.finish(NOW_NS), runs()

    expected, _ = replay(together=False)
    events, quiet_runs = replay(together=True)
    assert events == expected
    assert len(_fills(expected)) > 5 and quiet_runs > 10
    tripped = [e for e in expected if isinstance(e, RiskEvent)]
    assert len(tripped) == (0 if max_loss > 1e6 else 1)


def test_a_run_no_tick_of_which_can_be_quiet_is_looked_at_once_not_at_every_tick() -> None:
    """A limit order rests: every tick may fill it, and the run goes tick by tick after one
    look (a look at every tick, over what is left of the run, was quadratic in its length)."""
    sequencer = _sequencer(follow_model=True)
    engine = sequencer.engine
    paper = engine.executor
    assert isinstance(paper, PaperOrderExecutor)
    paper.submit("l1", "t1", "BTC/USD", Side.BUY, 0.1, T0, OrderTerms(OrderType.LIMIT, 1.0))
    looks = 0
    quiet_cut = engine.quiet_cut

    def counted(ticks: Sequence[Tick], start: int = 0) -> int | None:
        nonlocal looks
        looks += 1
        return quiet_cut(ticks, start)

    engine.quiet_cut = counted  # type: ignore[method-assign]
    for start in range(0, 1_024, 256):
        sequencer.on_market(_batch(*range(start + 1, start + 257)), NOW_NS)
    sequencer.on_model(Watermark(source="model", tick_seq=1_024), NOW_NS, now_s=1.0)
    assert sequencer.waiting == 0
    assert looks == 1


def test_ticks_before_a_near_held_target_go_alone_after_one_look() -> None:
    """The model ran ahead: targets wait for ticks 3 and 40. Ticks 1-3 are too few for a
    step and go alone after one look (not a look before each), 4-39 go in one step, 40
    alone, 41-64 in one step: four looks, two steps, both targets acted on."""
    sequencer = _sequencer(follow_model=True)
    engine = sequencer.engine
    looks, steps = 0, 0
    quiet_cut, on_quiet_ticks = engine.quiet_cut, engine.on_quiet_ticks

    def look(ticks: Sequence[Tick], start: int = 0) -> int | None:
        nonlocal looks
        looks += 1
        return quiet_cut(ticks, start)

    def step(ticks: Sequence[Tick], now_ns: int, **options: bool) -> list[Event] | None:
        nonlocal steps
        events = on_quiet_ticks(ticks, now_ns, **options)
        steps += events is not None
        return events

    engine.quiet_cut, engine.on_quiet_ticks = look, step  # type: ignore[method-assign]
    for seq in (3, 40):  # already met (flat): acted on at their ticks, no order
        sequencer.on_model(target(f"t{seq}", 0.0, seq=seq, t_ms=seq), NOW_NS, now_s=1.0)
    sequencer.on_model(Watermark(source="model", tick_seq=64), NOW_NS, now_s=1.0)
    sequencer.on_market(_batch(*range(1, 65)), NOW_NS)
    assert sequencer.waiting == 0 and engine.last_seq == 64
    assert engine.targets_met == 2
    assert (looks, steps) == (4, 2)


def test_a_restarted_feeds_quote_with_the_seq_of_the_book_paper_holds_is_still_the_book() -> None:
    """Seqs 1-10 at 99/101, then a restarted feed's 1-10 at 199/201: an order then fills at
    201 whether the second run went tick by tick or in one step (paper's book is the
    newest quote, not the one that had its seq before)."""
    first = [quote(seq, seq, 99.0, 101.0) for seq in range(1, 11)]
    second = [quote(seq, 10 + seq, 199.0, 201.0) for seq in range(1, 11)]
    fills = []
    for in_one_step in (False, True):
        paper = PaperOrderExecutor(PAIRS, latency_ms=0, taker_fee_bps=0)
        engine = ExecutionEngine(RiskEngine(LOOSE), paper, order_prefix="o")
        for tick in first:
            engine.on_tick(tick, NOW_NS)
        if in_one_step:
            assert engine.on_quiet_ticks(second, NOW_NS) == []
        else:
            for tick in second:
                engine.on_tick(tick, NOW_NS)
        events = engine.on_target(target("t1", 0.1, seq=10, t_ms=20, ref=200.0), NOW_NS)
        fills.append([(fill.price, fill.qty) for fill in _fills(events)])
    assert fills[0] == fills[1] == [(201.0, 0.1)]
