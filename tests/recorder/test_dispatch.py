"""The recorder's dispatch without sockets: ticks to the file, events to the log, fills once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import msgspec
import pytest

from common import wire
from common.journal import IDENTITY_FIELDS, JournalEntry, event_identity
from common.messages import (
    Eos,
    FeedStatus,
    Fill,
    Message,
    OrderCancelled,
    OrderRejected,
    OrderSubmitted,
    Position,
    RiskEvent,
    RunCounters,
    TickBatch,
)
from services.recorder.artifacts import RunRecord
from services.recorder.dispatch import _JOURNALED_NOT_FILLS, PENDING_MAX, Dispatch
from services.recorder.reconcile import found_in_events
from tests.factories import (
    T0_NS,
    make_fill,
    make_order,
    make_rejection,
    make_tick,
    make_trade,
    one_of_each,
    replace,
)

ARRIVAL_NS = T0_NS + 1_000_000


class Collected:
    """A Dispatch on a real RunRecord, with everything it writes kept in lists."""

    def __init__(self) -> None:
        self.record = RunRecord()
        self.ticks: list[bytes] = []
        self.events: list[str] = []
        self.seqs: list[int] = []
        self.dispatch = Dispatch(
            self.record,
            write_ticks=self.ticks.extend,
            write_events=self.write_events,
            on_tick_seq=self.seqs.append,
        )

    def write_events(self, lines: bytes) -> None:
        assert lines.endswith(b"\n")  # whole lines only
        self.events.extend(lines.decode().splitlines())

    def send(self, message: Message) -> bool:
        recorded = self.dispatch.on_message(message, wire.encode(message), ARRIVAL_NS)
        self.dispatch.write_pending()  # each message its own turn
        return recorded

    def event_types(self) -> list[str]:
        return [json.loads(line)["type"] for line in self.events]


def test_tick_batch_writes_each_ticks_own_bytes_like_single_ticks() -> None:
    """A batch's ticks reach the tick file exactly as if each had come alone, seqs reported."""
    ticks = [make_tick(seq=1), make_trade(seq=2), make_tick(seq=3, bid=61837.25)]
    batched = Collected()
    batched.send(TickBatch(symbol="BTC/USD", ticks=ticks))
    alone = Collected()
    for tick in ticks:
        alone.send(tick)

    written = [bytes(raw) for raw in batched.ticks]  # cut from the batch: buffers over it
    assert written == [wire.encode(tick) for tick in ticks]
    assert written == alone.ticks
    assert alone.seqs == [1, 2, 3]
    assert batched.seqs == [3]  # flow control hears once per batch, at its end
    assert batched.record.ticks == 3
    assert batched.events == []


def test_fill_arriving_twice_is_counted_and_written_once() -> None:
    """The same fill (order, tick, time) delivered again is neither counted nor written again."""
    collected = Collected()
    fill = make_fill()
    assert collected.send(fill)
    assert not collected.send(replace(fill))  # a resend: an equal copy, said so (the dashboard)
    assert collected.record.fills == 1
    assert collected.event_types() == ["Fill"]


def test_two_fills_of_one_order_at_different_times_are_both_kept() -> None:
    """Partial fills of one order differ in ts_ns and are two fills, not a repeat."""
    collected = Collected()
    collected.send(make_fill(qty=0.1))
    collected.send(make_fill(qty=0.15, ts_ns=T0_NS + 12))
    assert collected.record.fills == 2
    assert [json.loads(line)["qty"] for line in collected.events] == [0.1, 0.15]


def _nothing_else(wanted: set[tuple[object, ...]]) -> set[tuple[object, ...]]:
    raise AssertionError("only fills were journaled: events.jsonl need not be read")


def test_recover_adds_only_the_journal_fills_that_never_arrived() -> None:
    """Journal fills already received are skipped; the missing ones are added and counted."""
    collected = Collected()
    arrived = make_fill()
    collected.send(arrived)
    missed = [make_fill(ts_ns=T0_NS + 20), make_fill(order_id="o-2", tick_seq=9)]

    assert collected.dispatch.recover([arrived, *missed], _nothing_else) == {"Fill": 2}

    assert collected.record.fills == 3
    written = [json.loads(line) for line in collected.events]
    assert [(f["order_id"], f["ts_ns"]) for f in written[1:]] == [
        (fill.order_id, fill.ts_ns) for fill in missed
    ]
    assert collected.dispatch.recover([arrived, *missed], _nothing_else) == {}
    assert collected.record.fills == 3


def test_eos_marks_its_source_as_finished() -> None:
    """Each Eos adds its source to eos_from and writes nothing."""
    collected = Collected()
    collected.send(Eos(source="feed", last_seq=3, ts_ns=T0_NS))
    assert collected.dispatch.eos_from == {"feed"}
    collected.send(Eos(source="executor", last_seq=3, ts_ns=T0_NS + 1))
    assert collected.dispatch.eos_from == {"feed", "executor"}
    assert collected.record.last_eos_ns == ARRIVAL_NS
    assert collected.events == [] and collected.ticks == []


EXECUTION_EVENTS = [
    m
    for m in one_of_each()
    if isinstance(
        m, OrderSubmitted | OrderRejected | Fill | Position | RiskEvent | FeedStatus | RunCounters
    )
]


@pytest.mark.parametrize("event", EXECUTION_EVENTS, ids=lambda m: type(m).__name__)
def test_execution_event_goes_to_events_as_one_json_line_with_its_type(event: Message) -> None:
    """An execution event is written once as JSON: its fields by name and its `type`."""
    collected = Collected()
    collected.send(event)
    assert len(collected.events) == 1
    line = collected.events[0]
    assert "\n" not in line
    fields = msgspec.to_builtins(msgspec.structs.asdict(event))
    del fields["v"]
    assert json.loads(line) == {"type": type(event).__name__, **fields}
    assert collected.ticks == [] and collected.seqs == []


def test_eos_from_a_source_that_is_not_a_stage_of_the_run_is_ignored_and_counted() -> None:
    """A forged eos cannot end the recording early."""
    collected = Collected()
    collected.send(Eos(source="intruder", last_seq=1, ts_ns=1))
    assert collected.dispatch.eos_from == set() and collected.dispatch.unexpected_source == 1
    collected.send(Eos(source="feed", last_seq=1, ts_ns=1))
    assert collected.dispatch.eos_from == {"feed"}


def test_result_sums_the_counters_of_every_model_process() -> None:
    """Two model processes (a split deployment): targets sent and dropped are their sum."""
    collected = Collected()
    collected.send(RunCounters(source="model-a", counters={"targets": 5, "dropped_targets": 1}))
    collected.send(RunCounters(source="model-b", counters={"targets": 2, "dropped_targets": 0}))
    collected.send(RunCounters(source="executor", counters={"ticks": 9}))
    counts = collected.record.result()["counts"]
    assert (counts["targets_sent_by_model"], counts["dropped_targets"]) == (7, 1)


def test_result_has_no_model_counts_when_no_model_reported() -> None:
    """A run whose model never sent its counters says so (None), rather than 0."""
    collected = Collected()
    collected.send(RunCounters(source="executor", counters={"ticks": 9}))
    counts = collected.record.result()["counts"]
    assert counts["targets_sent_by_model"] is None and counts["dropped_targets"] is None


def test_each_event_counts_by_its_class_and_any_event_naming_a_symbol_gets_its_tally() -> None:
    """Orders, rejections, cancels, fills, positions, risk events and counters land in their
    own counts; a cancel on a symbol never ordered still lists that symbol (with zeros)."""
    record = RunRecord()
    for message in one_of_each():
        record.on_event(message, ARRIVAL_NS)
    cancel = next(m for m in one_of_each() if type(m).__name__ == "OrderCancelled")
    record.on_event(replace(cancel, symbol="ETH/USD"), ARRIVAL_NS)
    counts = record.result()["counts"]
    assert (counts["orders"], counts["fills"], counts["targets"]) == (2, 1, 2)
    assert counts["rejections"] == {"max_position": 1}
    assert counts["cancels"] == {"requote": 2}
    assert record.result()["per_symbol"] == {
        "BTC/USD": {
            "orders": 2,
            "fills": 1,
            "rejections": {"max_position": 1},
            "max_abs_position": 0.25,
        },
        "ETH/USD": {"orders": 0, "fills": 0, "rejections": {}, "max_abs_position": 0.0},
    }
    assert [e.kind for e in record.risk_events] == ["circuit_breaker_tripped"]
    assert record.counters == {"model": {"dropped_targets": 3}}
    assert record.max_drawdown == 61.9025  # equity -61.9025 under a peak of 0


def test_a_turn_of_many_events_is_written_before_it_holds_more_than_the_cap() -> None:
    """Event batches carry up to 256 events a message: a turn of them is written in parts."""
    collected = Collected()
    for n in range(PENDING_MAX + 10):  # one turn: no write_pending between them
        collected.dispatch.on_message(make_rejection(n), b"", ARRIVAL_NS)
    assert len(collected.events) >= PENDING_MAX  # written before the turn ended
    collected.dispatch.write_pending()
    assert len(collected.events) == PENDING_MAX + 10


def test_events_jsonl_lines_name_the_journal_identity_of_their_events(tmp_path: Path) -> None:
    """What `recover` compares: the identity read back from a written line is the entry's."""
    collected = Collected()
    journaled = [
        event
        for event in one_of_each()
        if isinstance(event, (OrderSubmitted, OrderRejected, OrderCancelled, RiskEvent))
    ]
    for event in journaled:
        collected.send(event)
    path = tmp_path / "events.jsonl"
    path.write_text("".join(line + "\n" for line in collected.events))
    identities = {event_identity(event) for event in journaled}
    assert found_in_events(path, identities | {("OrderSubmitted", "o-9", 1)}) == identities
    assert len(journaled) == 5  # two orders, a cancel, a rejection, a risk event


def test_recover_looks_events_up_only_when_some_journaled_event_is_missing() -> None:
    """Every event arrived: nothing is read or added. One did not: it is added once, late,
    with no tick-to-order time (it never arrived)."""
    collected = Collected()
    collected.send(make_tick(seq=7))  # the tick the orders below were decided on
    arrived = [make_order(1), make_rejection(2)]
    for event in arrived:
        collected.send(event)
    assert collected.dispatch.recover(arrived, _nothing_else) == {}

    missed = make_order(3)
    recovered = collected.dispatch.recover(
        [*arrived, missed], lambda wanted: wanted & set(map(event_identity, arrived))
    )
    assert recovered == {"OrderSubmitted": 1}
    assert collected.record.orders == 2
    assert len(collected.record.tick_to_order_ns) == 1  # the order that arrived
    assert json.loads(collected.events[-1])["order_id"] == "o-3"


def test_a_damaged_events_jsonl_line_is_skipped_not_fatal(tmp_path: Path) -> None:
    """The end of a run reads events.jsonl: a line that is not JSON (a full disk tore
    it) is counted out, and every readable line still names its event."""
    order = make_order(1)
    rejection = make_rejection(2)
    collected = Collected()
    collected.send(order)
    collected.send(rejection)
    first, second = collected.events
    path = tmp_path / "events.jsonl"
    path.write_text(f'{first}\n{{"type":"OrderRejected","order_id":"o-\n{second}\n')
    identities = {event_identity(order), event_identity(rejection)}
    assert found_in_events(path, identities) == identities


def test_recover_looks_up_when_asked_even_if_as_many_arrived() -> None:
    """A journal that could not be read leaves its arrivals counted: the count cannot
    tell that another journal's event is missing, so `look_up` asks anyway."""
    collected = Collected()
    arrived, missed = make_order(1), make_order(2)
    collected.send(arrived)
    collected.send(make_rejection(3))  # from the journal that could not be read
    assert collected.dispatch.recover([arrived, missed], _nothing_else, look_up=False) == {}
    found = collected.dispatch.recover(
        [arrived, missed], lambda wanted: wanted & {event_identity(arrived)}, look_up=True
    )
    assert found == {"OrderSubmitted": 1}


def test_every_journaled_class_has_an_identity_and_is_recovered() -> None:
    """One table names what tells journaled events apart: every class the journal holds
    is in it, and the recorder recovers each of them."""
    journaled = {cls.__name__ for cls in get_args(JournalEntry)}
    assert set(IDENTITY_FIELDS) == journaled
    assert {cls.__name__ for cls in _JOURNALED_NOT_FILLS} == journaled - {"Fill"}
