"""The executor's sequencing rules, without sockets or clocks.

Two streams meet here: market data from the feed (ticks, the feed's `eos`)
and the model's stream on the targets socket (targets, target batches,
watermarks, the model's `eos`). The rules:

- Live, a tick is applied as it arrives and a target acted on at once.
- Following the model (`follow_model`, a lossless replay), a tick waits until
  the model's watermark (or a target's `tick_seq`) says the model is done with
  it, so each target meets exactly the ticks it was computed from, on every
  replay of the file. A `TargetBatch` is its targets one by one, then a
  watermark at its `through`.
- Targets that queued up before the executor started: only the newest acts.
- The run is over on the models' `eos` (every one of `models`) once the
  market is done too (the feed's `eos`, or `drain_timeout_s` after the last
  model's), or when the feed has ended and the models stayed silent
  `drain_timeout_s` (counted from the feed's end at the earliest).
- An `eos` or watermark is believed only from its expected source (the feed on
  the market socket, one of `models` on the targets socket); any other is
  ignored and counted as `unexpected_source`.
- Released ticks go to the engine a run of one symbol at a time when the run
  is quiet (`ExecutionEngine.on_quiet_ticks`: no held target waits for one of them,
  nothing can fill, the breaker cannot trip), else tick by tick; the result
  is the same either way, one step is only cheaper.
- At the end, ticks still waiting are applied (they count for positions),
  unless a replay was stopped mid-run, then every position is reported at
  the market's event time.

Every method takes the time it needs (`now_ns` event/wall time, `now_s`
monotonic) and returns the events to emit, in order; `services.executor.outbox`
journals them, then publishes them.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import groupby
from operator import attrgetter, lt
from typing import Final

from common.messages import (
    Eos,
    FeedStatus,
    Message,
    Target,
    TargetBatch,
    Tick,
    TickBatch,
    Watermark,
)
from services.executor.engine import Event, ExecutionEngine

log = logging.getLogger("services.executor")

FEED: Final = "feed"  # the market socket's only source of eos
# Released ticks below this many are applied one by one: a shorter run is not
# worth the quiet check (a target's few ticks, a live stream).
QUIET_RUN_MIN: Final = 4
# Released ticks leave the front of the waiting list by moving `_head`; the list
# is cut back once this many have gone (a cut per release would copy the rest).
COMPACT_AFTER: Final = 4_096
_seq = attrgetter("seq")
_symbol = attrgetter("symbol")


def _ignore(seq: int) -> None:
    pass


class Sequencer:
    """Orders the market and model streams into engine calls.

    Args:
        engine: the execution engine (risk, paper or live executor, positions).
        follow_model: wait for the model's watermark before applying ticks.
        models: the names of the model processes whose targets this executor takes.
        drain_timeout_s: how long to wait for a silent model or a missing feed eos.
        now_s: the monotonic time at start (the model counts as just heard).
        on_applied: told a tick's seq once the engine applied every tick up to
            it (replay flow control counts what is done, not what arrived).
    """

    def __init__(
        self,
        engine: ExecutionEngine,
        *,
        follow_model: bool,
        drain_timeout_s: float,
        now_s: float,
        models: frozenset[str] = frozenset({"model"}),
        on_applied: Callable[[int], None] = _ignore,
    ) -> None:
        self.engine = engine
        self.follow_model = follow_model
        self.drain_timeout_s = drain_timeout_s
        self.on_applied = on_applied
        self.ticks = 0  # ticks received, applied or waiting
        self.watermark = 0
        # Ticks in arrival order; those before `_head` are released already. A list,
        # so while their seqs rise (the feed's) the ticks up to a watermark are found
        # by bisection and taken as one slice; else the prefix is walked, as a queue.
        self._waiting: list[Tick] = []
        self._head = 0
        self._rising = True  # the waiting ticks' seqs rise
        self.feed_eos_seen = False
        self.feed_eos_at: float | None = None  # when `finished` first saw the feed's eos
        self.models = models
        self.models_ended: set[str] = set()
        self.model_eos_at: float | None = None  # when the last expected model ended
        self.model_heard_at = now_s
        self.unexpected_source = 0

    @property
    def waiting(self) -> int:
        """How many ticks wait for the model's watermark."""
        return len(self._waiting) - self._head

    def on_backlog(self, messages: list[Message], now_ns: int) -> list[Event]:
        """Targets that were queued before this executor started: only the newest may act."""
        backlog: list[Target] = []
        for message in messages:
            if isinstance(message, Target):
                backlog.append(message)
            elif isinstance(message, TargetBatch):
                backlog += message.targets
        if not backlog:
            return []
        log.info("%d targets were waiting at start; older ones are superseded", len(backlog))
        return self.engine.on_targets(backlog, now_ns)

    def on_market(self, message: Message, now_ns: int) -> list[Event]:
        """A message from the feed's market-data socket."""
        if isinstance(message, Tick):
            return self._on_tick(message, now_ns)
        if isinstance(message, TickBatch):
            if self.follow_model:  # the batch waits for the watermark as a whole
                self.ticks += len(message.ticks)
                self._queue(message.ticks, rising=True)  # checked by wire.decode
                return self._release(now_ns)
            events: list[Event] = []
            for tick in message.ticks:
                events += self._on_tick(tick, now_ns)
            return events
        if isinstance(message, Eos):
            if message.source != FEED:
                self._unexpected(message)
                return []
            log.info("feed eos at seq %d; waiting for the model's", message.last_seq)
            self.feed_eos_seen = True
        elif isinstance(message, FeedStatus):
            log.info("feed %s: %s", message.symbol or "all", message.state)
        return []

    def on_ticks(self, ticks: list[Tick], now_ns: int) -> list[Event]:
        """Single ticks that arrived together (an unbatched replay's backlog), in order.

        Following the model, they wait and are released as one batch's would
        be: the same ticks in the same order (the watermark cannot move between
        them), in runs the engine may take in one step, where tick by tick each
        would have been released alone.
        """
        if not self.follow_model:
            events: list[Event] = []
            for tick in ticks:
                events += self._on_tick(tick, now_ns)
            return events
        self.ticks += len(ticks)
        seqs = list(map(_seq, ticks))
        self._queue(ticks, rising=all(map(lt, seqs, seqs[1:])))
        return self._release(now_ns)

    def on_model(self, message: Message, now_ns: int, now_s: float) -> list[Event]:
        """A message from the model on the targets socket."""
        if not isinstance(message, (Target, TargetBatch, Watermark, Eos)):
            return []
        if isinstance(message, (Watermark, TargetBatch, Eos)) and message.source not in self.models:
            self._unexpected(message)
            return []
        self.model_heard_at = now_s
        if isinstance(message, Target):
            events = self._advance_watermark(message.tick_seq, now_ns)
            return events + self.engine.on_target(message, now_ns)
        if isinstance(message, TargetBatch):  # as if each target, then a watermark, came alone
            events = []
            for target in message.targets:
                events += self._advance_watermark(target.tick_seq, now_ns)
                events += self.engine.on_target(target, now_ns)
            return events + self._advance_watermark(message.through, now_ns)
        if isinstance(message, Watermark):
            return self._advance_watermark(message.tick_seq, now_ns)
        log.info("%s eos at seq %d", message.source, message.last_seq)
        self.models_ended.add(message.source)
        if self.models_ended >= self.models:
            self.model_eos_at = now_s
        return self._advance_watermark(message.last_seq, now_ns)

    def on_idle(self, now_ns: int) -> list[Event]:
        """Between messages: held targets may have expired."""
        return self.engine.expire_held(now_ns)

    def finished(self, now_s: float) -> bool:
        """True once nothing more is owed to this run (see the module docstring)."""
        if self.model_eos_at is not None:
            if self.feed_eos_seen or not self.follow_model:  # live: the market never ends
                return True
            waited_s = now_s - self.model_eos_at
            if waited_s > self.drain_timeout_s:
                log.warning("model ended; no feed eos after %.1f s; finishing", waited_s)
                return True
            return False
        if not self.feed_eos_seen:
            return False
        if self.feed_eos_at is None:
            self.feed_eos_at = now_s
        # Silent since the feed ended, not since this executor started: a model slow
        # to start (imports, a busy machine) is not silent before the replay began.
        silent_s = now_s - max(self.model_heard_at, self.feed_eos_at)
        if silent_s > self.drain_timeout_s:
            log.warning("feed ended and the model has been silent %.1f s; finishing", silent_s)
            return True
        return False

    def finish(self, now_ns: int, *, stopped: bool = False) -> list[Event]:
        """Apply the ticks still waiting, then report every position at the market's time.

        `stopped` (told to stop mid-run): a replay's ticks past the model's
        watermark stay unapplied, so the journal holds only what the whole
        replay journals too, in the same order (a resume re-executes against it).
        """
        events: list[Event] = []
        if not (stopped and self.follow_model):
            # The model is gone: the rest of the market still counts.
            rest, self._waiting, self._head = self._waiting[self._head :], [], 0
            for tick in rest:
                events += self._apply(tick, now_ns)
        at_ns = self.engine.clock_ns or now_ns
        if not stopped:  # a stopped replay's journal must hold only what a whole one does
            events += self.engine.stop_working(at_ns)
        events += [book.position.snapshot(at_ns) for book in self.engine.books.values()]
        return events

    def _unexpected(self, message: Watermark | TargetBatch | Eos) -> None:
        self.unexpected_source += 1
        log.warning("ignored %s from unexpected source %r", type(message).__name__, message.source)

    def _on_tick(self, tick: Tick, now_ns: int) -> list[Event]:
        self.ticks += 1
        if not self.follow_model:
            return self._apply(tick, now_ns)
        self._queue((tick,), rising=True)
        return self._release(now_ns)

    def _queue(self, ticks: Sequence[Tick], *, rising: bool) -> None:
        """Wait `ticks`; `rising`: their seqs rise among themselves."""
        waiting = self._waiting
        if self._head == len(waiting):  # none waits: a fresh start
            waiting.clear()
            self._head, self._rising = 0, True
        elif ticks[0].seq <= waiting[-1].seq:
            self._rising = False
        if not rising:
            self._rising = False
        waiting += ticks

    def _advance_watermark(self, tick_seq: int, now_ns: int) -> list[Event]:
        if tick_seq > self.watermark:
            self.watermark = tick_seq
        return self._release(now_ns)

    def _release(self, now_ns: int) -> list[Event]:
        waiting, head = self._waiting, self._head
        if head == len(waiting) or waiting[head].seq > self.watermark:
            return []  # nothing the model is done with (most ticks, following it)
        if self._rising:
            end = bisect_right(waiting, self.watermark, lo=head, key=_seq)
        else:  # the queue's rule: up to the first tick past the watermark
            end = head
            while end < len(waiting) and waiting[end].seq <= self.watermark:
                end += 1
        released = waiting[head:end]
        if end >= COMPACT_AFTER:
            del waiting[:end]
            end = 0
        self._head = end
        if len(released) < QUIET_RUN_MIN:
            events: list[Event] = []
            for tick in released:
                events += self._apply(tick, now_ns)
            return events
        return self._apply_runs(released, now_ns)

    def _apply_runs(self, released: list[Tick], now_ns: int) -> list[Event]:
        """Each run of one symbol's ticks in one engine step if it is quiet, else tick by tick."""
        events: list[Event] = []
        for _, run in groupby(released, key=_symbol):
            events += self._apply_run(list(run), now_ns)
        return events

    def _apply_run(self, run: list[Tick], now_ns: int) -> list[Event]:
        """One symbol's ticks: quiet stretches in one engine step, the rest tick by tick.

        A stretch ends before the tick a held target waits for (the model ran
        ahead of the market: a batched replay's usual case) or at which an
        order on its way reaches the venue (`ExecutionEngine.quiet_cut`); that
        tick goes alone, and the rest is looked at afresh after it. A run no
        tick of which can be quiet (a resting order), or a stretch the breaker
        could trip in, goes tick by tick to the run's end.
        """
        events: list[Event] = []
        start = 0
        while len(run) - start >= QUIET_RUN_MIN:
            cut = self.engine.quiet_cut(run, start)
            if cut is None:
                break
            if cut < QUIET_RUN_MIN:
                # Too short for a step: these ticks and the one that ends them go alone
                # (a look after each would find the same end, one tick nearer).
                for tick in run[start : start + cut + 1]:
                    events += self._apply(tick, now_ns)
                start += cut + 1
                continue
            stretch = run[start : start + cut]
            quiet = self.engine.on_quiet_ticks(stretch, now_ns, rising=self._rising)
            if quiet is None:
                break
            events += quiet
            start += cut
            self.on_applied(run[start - 1].seq)
        for tick in run[start:]:
            events += self._apply(tick, now_ns)
        return events

    def _apply(self, tick: Tick, now_ns: int) -> list[Event]:
        events = self.engine.on_tick(tick, now_ns)
        self.on_applied(tick.seq)
        return events
