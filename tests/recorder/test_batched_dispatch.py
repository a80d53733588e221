"""The recorder's batch fast paths equal the per-message ones, on real ticks, byte for byte.

`Dispatch` handles a `TickBatch` or `PredictionBatch` in one call per batch
(`RunRecord.on_ticks`/`decisions`, one tick-file write, one events write) and
renders events through `as_event` and `encode_events`: each must write and count exactly what
the same messages one at a time did, including a resumed replay whose
recorded end falls inside a batch.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest

from common import wire
from common.messages import Message, Prediction, PredictionBatch, Tick, TickBatch
from common.tickfile import TickFileReader
from services.recorder.artifacts import (
    RunRecord,
    as_event,
    encode_events,
    event_line,
    events_of_one_kind,
)
from services.recorder.dispatch import Dispatch
from tests.factories import T0_NS, make_prediction, one_of_each

RECORDING = Path(__file__).parents[2] / "data" / "binance_btcusdt_spot_2024-08-08_10min.ticks.gz"
ARRIVAL_NS = T0_NS + 1_000_000
BATCH = 64


def _dict_line(message: Any) -> str:
    """The rendering `event_line` must equal: the fields by name but `v`, after `type`."""
    fields = msgspec.structs.asdict(message)
    del fields["v"]
    return msgspec.json.encode({"type": type(message).__name__, **fields}).decode()


class Written:
    """A Dispatch on a real RunRecord; what it writes, as the recorder's files would get it."""

    def __init__(self, recorded_ticks: int = 0, *, per_turn: int = 1) -> None:
        self.record = RunRecord()
        self.per_turn, self.sent = per_turn, 0
        self.ticks: list[bytes] = []
        self.events = b""
        self.seqs: list[int] = []
        self.dispatch = Dispatch(
            self.record,
            write_ticks=lambda raws: self.ticks.extend(bytes(raw) for raw in raws),
            write_events=self._write_events,
            on_tick_seq=self.seqs.append,
            recorded_ticks=recorded_ticks,
        )

    def _write_events(self, lines: bytes) -> None:
        self.events += lines

    def send(self, message: Message) -> None:
        """One message; its turn's writes once `per_turn` messages were sent."""
        payload = wire.encode(message)
        self.dispatch.on_message(wire.decode(payload), payload, ARRIVAL_NS)
        self.sent += 1
        if self.sent % self.per_turn == 0:
            self.dispatch.write_pending()


def _real_ticks(count: int) -> list[Tick]:
    with TickFileReader(RECORDING) as reader:
        return list(itertools.islice(reader, count))


def _predictions(ticks: list[Tick]) -> list[Prediction]:
    # Targets that repeat for a few ticks, then change, -0.0 against 0.0 among them:
    # decisions inside batches and across their boundaries.
    targets = [0.0, 0.0, -0.0, 0.001, 0.001, 0.001, -0.002, 0.0, 1e-9]
    return [
        make_prediction(
            symbol=tick.symbol,
            tick_seq=tick.seq,
            tick_ts_ns=tick.recv_ts_ns,
            value=(tick.bid or 1.0) * 1e-7,
            target_position=targets[(i // 3) % len(targets)],
            created_ns=tick.recv_ts_ns + i,
        )
        for i, tick in enumerate(ticks)
    ]


def _messages(ticks: list[Tick], batched: bool) -> list[Message]:
    """Each tick then its prediction, alone; or a batch of each, as a batched replay sends."""
    predictions = _predictions(ticks)
    if not batched:
        return [m for pair in zip(ticks, predictions, strict=True) for m in pair]
    messages: list[Message] = []
    for start in range(0, len(ticks), BATCH):
        symbol = ticks[start].symbol
        messages.append(TickBatch(symbol=symbol, ticks=ticks[start : start + BATCH]))
        messages.append(
            PredictionBatch(symbol=symbol, predictions=predictions[start : start + BATCH])
        )
    return messages


@pytest.mark.parametrize("recorded_ticks", [0, 100], ids=["fresh", "resumed inside a batch"])
def test_batches_write_and_count_what_the_same_messages_alone_do(recorded_ticks: int) -> None:
    """Tick bytes, events.jsonl text, counts and latency ring: equal, batched or not."""
    ticks = _real_ticks(1_000)
    alone, batched = Written(recorded_ticks), Written(recorded_ticks)
    for message in _messages(ticks, batched=False):
        alone.send(message)
    for message in _messages(ticks, batched=True):
        batched.send(message)

    assert len(alone.ticks) == len(ticks) - recorded_ticks
    assert batched.ticks == alone.ticks == [wire.encode(t) for t in ticks[recorded_ticks:]]
    assert alone.events.count(b"\n") > 100  # decisions were written, not just counted
    assert batched.events == alone.events
    assert batched.record.result() == alone.record.result()
    assert batched.record._tick_seq == alone.record._tick_seq
    assert batched.record._last_decision == alone.record._last_decision
    assert batched.seqs[-1] == alone.seqs[-1] == ticks[-1].seq


@pytest.mark.parametrize("batched", [False, True], ids=["alone", "batched"])
def test_a_turns_writes_at_once_equal_a_write_per_message(batched: bool) -> None:
    """Ticks and events written once per turn of many messages (the last turn cut short,
    execution events among them) leave the files a write per message leaves."""
    ticks = _real_ticks(1_000)
    messages = _messages(ticks, batched=batched)
    messages[7:7] = [m for m in one_of_each() if type(m).__name__ in EVENT_TYPES]
    each, per_turn = Written(), Written(per_turn=300 if not batched else 7)
    for message in messages:
        each.send(message)
        per_turn.send(message)
    per_turn.dispatch.write_pending()  # the recorder's last turn
    assert per_turn.ticks == each.ticks == [wire.encode(t) for t in ticks]
    assert per_turn.events == each.events and each.events.count(b"\n") > 100
    assert per_turn.record.result() == each.record.result()


EVENT_TYPES = {"OrderSubmitted", "OrderRejected", "OrderCancelled", "Fill", "Position"}


def test_event_lines_equal_the_dict_rendering_for_every_message() -> None:
    """Every message type, and predictions whose values are edge cases, render the same bytes."""
    messages = [
        *one_of_each(),
        *(make_prediction(target_position=v) for v in (-0.0, 0.0, 1e-300, -1.5e308, 3.0)),
        make_prediction(tick_seq=2**63 - 1, created_ns=0, model_id='ü/"\\\n'),
    ]
    expected = "".join(_dict_line(m) + "\n" for m in messages)
    assert _event_lines(messages) == expected.encode()
    assert [event_line(m) for m in messages] == expected.splitlines()


def test_events_of_one_kind_render_event_lines_bytes_for_every_message_and_a_batch() -> None:
    """The one-class rendering (a batch's decisions, one event) writes `_event_lines`' bytes."""
    for message in one_of_each():
        assert encode_events(list(events_of_one_kind((message,)))) == _event_lines((message,))
    predictions = _predictions(_real_ticks(BATCH))
    lines = encode_events(list(events_of_one_kind(predictions)))
    assert lines == _event_lines(predictions) and lines.count(b"\n") == BATCH


def test_decisions_of_a_batch_equal_on_prediction_one_by_one() -> None:
    """The batch's decisions and the record's state equal those of `on_prediction` per item."""
    predictions = _predictions(_real_ticks(300))
    one_by_one, at_once = RunRecord(), RunRecord()
    expected = [p for p in predictions if one_by_one.on_prediction(p)]
    got = [
        d
        for start in range(0, len(predictions), BATCH)
        for d in at_once.decisions(predictions[start].symbol, predictions[start : start + BATCH])
    ]
    assert got == expected
    assert (at_once.predictions, at_once.model_id) == (one_by_one.predictions, one_by_one.model_id)


def _event_lines(messages: Sequence[Any]) -> bytes:
    """Each message rendered on its own (`as_event`), the lines in one encoder call."""
    return encode_events([as_event(m) for m in messages])
