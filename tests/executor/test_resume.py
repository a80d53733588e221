"""A resumed replay's screen, in process: matches suppressed, the rest carried on, or a halt."""

from __future__ import annotations

import msgspec
import pytest

from common.journal import SESSION_STARTED, JournalEntry
from common.messages import (
    Fill,
    Message,
    OrderRejected,
    OrderSubmitted,
    Position,
    RejectReason,
    RiskEvent,
    Side,
)
from services.executor.engine import ExecutionEngine
from services.executor.errors import ResumeDiverged
from services.executor.outbox import JOURNALED
from services.executor.paper import PaperOrderExecutor
from services.executor.resume import Resumption
from services.executor.risk import RiskEngine
from tests.executor.test_paper_and_positions import LOOSE, PAIRS, quote, target

# Thin books (0.3 a tick) so orders fill over several ticks: some fill after any cut.
TICKS = [quote(seq, seq * 10, 100.0 + seq % 3, 101.0 + seq % 3, 0.3, 0.3) for seq in range(1, 31)]
TARGETS = {3: 1.0, 9: -0.5, 15: 0.7, 22: 0.0}  # at tick seq: the wanted position


def _run(prefix: str, resumption: Resumption | None = None, model: str = "m1") -> list[Message]:
    """The whole replay through a fresh engine; with `resumption`, screened by it.

    Order ids start with `prefix`, target ids with `model`: each process draws its own.
    """
    engine = ExecutionEngine(
        RiskEngine(LOOSE),
        PaperOrderExecutor(PAIRS, latency_ms=0, taker_fee_bps=40),
        order_prefix=prefix,
    )
    out: list[Message] = []
    for tick in TICKS:
        events: list[Message] = list(engine.on_tick(tick, now_ns=tick.seq))
        if tick.seq in TARGETS:
            wanted = target(f"{model}-t{tick.seq}", TARGETS[tick.seq], tick.seq, tick.seq * 10)
            events += engine.on_target(wanted, now_ns=10**6 + tick.seq)
        out += resumption.screen(events) if resumption is not None else events
    return out


def _journaled(events: list[Message]) -> list[JournalEntry]:
    return [e for e in events if isinstance(e, JOURNALED)]


WHOLE = _run("first")


@pytest.mark.parametrize("cut", [1, 4, 9, len(_journaled(WHOLE)) - 1])
def test_a_resumed_replay_journals_exactly_what_the_whole_run_journaled_after_the_cut(
    cut: int,
) -> None:
    """Journal cut after `cut` entries: the re-execution emits the rest, with the journal's ids."""
    whole = _journaled(WHOLE)
    mark = RiskEvent(kind=SESSION_STARTED, symbol=None, detail="PaperOrderExecutor", ts_ns=1)
    resumption = Resumption([mark, *whole[:cut]])
    emitted = _run("again", resumption, model="m2")
    assert not resumption.replaying
    resumption.check_complete()
    rest = _journaled(emitted)
    # Order ids of orders first seen after the cut are the new process's own.
    assert [_without_new_ids(e) for e in rest] == [_without_new_ids(e) for e in whole[cut:]]
    # An order journaled before the cut keeps its id for every later fill.
    before = {e.order_id for e in whole[:cut] if isinstance(e, OrderSubmitted)}
    for event in rest:
        if isinstance(event, Fill) and event.order_id.startswith("first-"):
            assert event.order_id in before
    assert any(isinstance(e, Fill) and e.order_id in before for e in rest)  # one spans the cut
    assert isinstance(emitted[-1], Position)  # positions come out once past the journal


def _without_new_ids(entry: JournalEntry) -> JournalEntry:
    if isinstance(entry, (OrderSubmitted, OrderRejected, Fill)):
        entry = msgspec.structs.replace(entry, order_id=entry.order_id.split("-")[1])
    if isinstance(entry, (OrderSubmitted, OrderRejected)):
        entry = msgspec.structs.replace(entry, target_id=entry.target_id.split("-")[1])
    return entry


def test_two_targets_never_share_one_journaled_target_id() -> None:
    """Ids map one to one: a second target matching an id already taken is a divergence."""
    first = OrderSubmitted(
        order_id="a-1",
        target_id="m1-t1",
        symbol="BTC/USD",
        side=Side.BUY,
        qty=1.0,
        ref_price=100.0,
        tick_seq=1,
        ts_ns=1,
    )
    second = msgspec.structs.replace(first, order_id="a-2")
    resumption = Resumption([first, second])
    resumption.screen([msgspec.structs.replace(first, order_id="b-1", target_id="m2-t1")])
    with pytest.raises(ResumeDiverged):
        resumption.screen([msgspec.structs.replace(first, order_id="b-2", target_id="m2-t2")])


def test_while_the_journal_lasts_nothing_is_emitted_not_even_positions() -> None:
    """The whole journal re-derived: all suppressed but the position after its last fill."""
    resumption = Resumption(_journaled(WHOLE))
    assert [type(e) for e in _run("again", resumption, model="m2")] == [Position]
    assert not resumption.replaying
    assert resumption.screen([quote(99, 999, 1.0, 2.0)]) == [quote(99, 999, 1.0, 2.0)]


def test_a_rejection_matches_whatever_its_wall_clock_stamp() -> None:
    """A rejection's ts_ns is the wall clock: it differs on every run and is not compared."""
    journaled = _rejection("a-1", ts_ns=5)
    resumption = Resumption([journaled])
    assert resumption.screen([_rejection("b-1", ts_ns=999)]) == []
    assert not resumption.replaying


def test_a_different_event_is_a_divergence_naming_the_entry() -> None:
    """Another fill price than the journal's: ResumeDiverged naming entry 2 (the mark is 1)."""
    whole = _journaled(WHOLE)
    mark = RiskEvent(kind=SESSION_STARTED, symbol=None, detail="PaperOrderExecutor", ts_ns=1)
    first_fill = next(i for i, e in enumerate(whole) if isinstance(e, Fill))
    changed = list(whole)
    changed[first_fill] = msgspec.structs.replace(whole[first_fill], price=1.0)
    resumption = Resumption([mark, *changed])
    with pytest.raises(ResumeDiverged) as raised:
        _run("again", resumption)
    assert raised.value.entry_number == first_fill + 2
    assert "resume diverged at journal entry" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_replay_that_ends_before_the_journal_is_a_divergence() -> None:
    """Entries the re-execution never derived: the journal is not this run's."""
    extra = _rejection("x-99", ts_ns=5)
    resumption = Resumption([*_journaled(WHOLE), extra])
    _run("again", resumption)
    with pytest.raises(ResumeDiverged) as raised:
        resumption.check_complete()
    assert raised.value.entry_number == len(_journaled(WHOLE)) + 1


def _rejection(order_id: str, ts_ns: int) -> OrderRejected:
    return OrderRejected(
        order_id=order_id,
        target_id="t1",
        symbol="BTC/USD",
        side=None,
        qty=0.0,
        reason=RejectReason.RATE_LIMIT,
        detail="too many",
        ts_ns=ts_ns,
    )
