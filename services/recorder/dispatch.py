"""The recorder's rules, without sockets: which message goes to which artifact, once.

- A tick (alone or in a `TickBatch`) goes to the tick file as its own
  message's bytes (a batch's items are cut out of its payload, never encoded
  again), so a batched run's file equals an unbatched one's, and counts for
  `result.json`.
- A prediction (alone or batched) counts, and goes to `events.jsonl` when
  the record keeps it (decisions, at a sane volume).
- `eos` marks its source as finished, if it is one of the run's stages
  (`expect_eos`); any other is ignored and counted as `unexpected_source`.
- Every other message is an execution event: counted and written to
  `events.jsonl`, a fill only once by its identity (a live order can fill
  twice between two ticks; a restarted executor's journal can repeat one).
- At the end, what the executor's journal holds and never arrived (a kill -9
  between its journal write and its socket, or events sent before this
  subscriber joined) is added (`recover`): fills by their identity, as
  always; the other events, when fewer of them arrived than the journal
  holds, by looking their identities up in `events.jsonl` (`reconcile.py`:
  no identity is kept in memory for a whole run).
- A resumed replay (`recorded_ticks` N, what its files already hold): ticks
  up to seq N and their predictions count, but are not written again.
- What a turn of the recorder's loop received is written at its end
  (`write_pending`): its ticks in one call, its event lines in one encoder
  call. A call per message cost more than the bytes it wrote (unbatched,
  every tick is a message); the files get the same bytes in the same order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Final, get_args

import msgspec

from common import wire
from common.journal import JournalEntry, event_identity, fill_identity
from common.messages import Eos, Fill, Message, Prediction, PredictionBatch, Tick, TickBatch
from services.recorder.artifacts import RunRecord, as_event, encode_events, events_of_one_kind

# Written before a turn ends once this many ticks or lines wait: a turn of
# batches of 256 would otherwise hold a quarter of a million.
PENDING_MAX: Final = 8_192
# What the executor journals besides fills (which have their own identity set).
_JOURNALED_NOT_FILLS: Final = tuple(cls for cls in get_args(JournalEntry) if cls is not Fill)


class Dispatch:
    def __init__(
        self,
        record: RunRecord,
        *,
        write_ticks: Callable[[Sequence[bytes]], None],
        write_events: Callable[[bytes], None],
        on_tick_seq: Callable[[int], None],
        expect_eos: frozenset[str] = frozenset({"feed", "model", "executor"}),
        recorded_ticks: int = 0,
        recorded_fills: set[tuple[object, ...]] | None = None,
    ) -> None:
        self.record = record
        # Ticks are written as their wire bytes, events as whole lines in one UTF-8
        # string: a turn's worth at a time (`write_pending`).
        self.write_ticks, self.write_events = write_ticks, write_events
        self._ticks: list[bytes] = []
        self._events: list[msgspec.Struct] = []
        self.on_tick_seq = on_tick_seq
        self.expect_eos = expect_eos
        self.eos_from: set[str] = set()
        self.unexpected_source = 0
        self.fills_seen: set[tuple[object, ...]] = recorded_fills or set()
        self.journaled_written = 0  # events of `_JOURNALED_NOT_FILLS` written since the start
        self.recorded_ticks = recorded_ticks

    def on_message(self, message: Message, payload: bytes, arrival_ns: int) -> bool:
        """One decoded message and the bytes it came in; False for a fill already recorded
        (an executor sends its journal's fills again after a restart)."""
        if type(message) is Tick:  # unbatched, nearly every message: no call of its own
            self.on_tick_seq(message.seq)
            self.record.on_tick(message, arrival_ns)
            if message.seq > self.recorded_ticks:
                self._ticks.append(payload)
        elif type(message) is TickBatch:
            self._on_tick_batch(message, payload, arrival_ns)
        elif type(message) is Prediction:
            self._on_prediction(message)
        elif type(message) is PredictionBatch:
            self._on_prediction_batch(message)
        elif isinstance(message, Eos):
            if message.source not in self.expect_eos:
                self.unexpected_source += 1
                return False  # not a stage of this run: not recorded
            self.eos_from.add(message.source)
            self.record.on_eos(arrival_ns)
        else:
            return self._on_event(message, arrival_ns)
        return True

    def recover(
        self,
        entries: Sequence[JournalEntry],
        found: Callable[[set[tuple[object, ...]]], set[tuple[object, ...]]],
        *,
        look_up: bool = False,
    ) -> Counter[str]:
        """Add the journal's published entries that never arrived, in journal order;
        how many of each class.

        Fills by `fills_seen`. The others are looked up (`found`: those of the
        identities asked about that events.jsonl holds) when fewer of them arrived
        than `entries` has (a resumed run's recorder heard only what came after
        the resume), or always with `look_up` (a journal could not be read, so
        its arrivals would hide another's missing ones).
        """
        self.write_pending()
        others = [entry for entry in entries if isinstance(entry, _JOURNALED_NOT_FILLS)]
        missing: set[tuple[object, ...]] = set()
        if others and (look_up or len(others) > self.journaled_written):
            wanted = set(map(event_identity, others))
            missing = wanted - found(wanted)
        recovered: Counter[str] = Counter()
        for entry in entries:
            if isinstance(entry, Fill):
                if fill_identity(entry) in self.fills_seen:
                    continue
            elif event_identity(entry) not in missing:
                continue
            self._on_event(entry, None)
            recovered[type(entry).__name__] += 1
        self.write_pending()
        return recovered

    def write_pending(self) -> None:
        """Write the ticks and event lines taken since the last call (the end of a turn)."""
        if self._ticks:
            ticks, self._ticks = self._ticks, []
            self.write_ticks(ticks)
        if self._events:
            events, self._events = self._events, []
            self.write_events(encode_events(events))

    def _on_tick_batch(self, batch: TickBatch, payload: bytes, arrival_ns: int) -> None:
        """Each tick as if it had come alone, written as its own bytes cut from the batch's.

        The whole batch in one call each (record, file): what `on_message` of each
        tick would do, without a call per tick (test_dispatch.py compares them).
        """
        ticks, recorded = batch.ticks, self.recorded_ticks
        self.record.on_ticks(ticks, arrival_ns)
        raws = wire.batch_items(payload)  # each a buffer over the payload: written as bytes
        if ticks[0].seq > recorded:  # seqs increase within a batch (`wire.decode` checked)
            self._ticks += raws
        elif ticks[-1].seq > recorded:  # a resumed replay's batch across its recorded end
            self._ticks += [raw for tick, raw in zip(ticks, raws) if tick.seq > recorded]
        if len(self._ticks) >= PENDING_MAX:
            self.write_pending()
        self.on_tick_seq(ticks[-1].seq)  # flow control: done up to the batch's end

    def _on_prediction(self, prediction: Prediction) -> None:
        # Counted either way: the decision it is depends on the one before.
        if self.record.on_prediction(prediction) and prediction.tick_seq > self.recorded_ticks:
            self._events.append(as_event(prediction))

    def _on_prediction_batch(self, batch: PredictionBatch) -> None:
        """`_on_prediction` of each, in order, with the batch's decisions in one write."""
        recorded = self.recorded_ticks
        decisions = self.record.decisions(batch.symbol, batch.predictions)
        if decisions and recorded:
            decisions = [p for p in decisions if p.tick_seq > recorded]
        if decisions:
            self._events += events_of_one_kind(decisions)
            if len(self._events) >= PENDING_MAX:
                self.write_pending()

    def _on_event(self, message: Message, arrival_ns: int | None) -> bool:
        if type(message) is Fill:
            identity = fill_identity(message)
            if identity in self.fills_seen:
                return False
            self.fills_seen.add(identity)
        elif isinstance(message, _JOURNALED_NOT_FILLS):
            self.journaled_written += 1
        self.record.on_event(message, arrival_ns)
        self._events.append(as_event(message))
        if len(self._events) >= PENDING_MAX:  # a turn of event batches: up to 256 each
            self.write_pending()
        return True
