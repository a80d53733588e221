"""The model stage's rules, without sockets: ticks in; predictions, targets and watermarks out.

- Single ticks queue up to `batch_max` and are predicted in one estimator
  call (under load this amortises the call's cost; an idle queue is one tick,
  so no tick waits for others); anything else that arrives first flushes the
  queue, so every message is handled after the ticks before it. A tick
  decided alone with our ridge on the built-in features goes
  `FusedDecider.decide_one`: fewer lines before its target is pushed.
- A `TickBatch` is decided in one pass per tick when the model is our ridge
  on the built-in features (`fused.py`), as columns when only the features
  are the built-in ones (`columnar.py`): the same values, without an object
  per tick; else tick by tick like single ticks; its predictions go out as
  one `PredictionBatch`. Queued single ticks go the same way (each run of
  the decider's `RUN_MIN` or more of one symbol's; shorter runs tick by
  tick), and each run's predictions go out as one `PredictionBatch` as well:
  they are all ready at once, so sending them together delays none, and
  spares the recorder a receive and a decode each.
- A target that no executor takes is dropped and counted (the next one
  supersedes it); run.log gets at most `TARGET_LINES_PER_S` target lines a second.
- Following a lossless replay, a `Watermark` goes out every `WATERMARK_EVERY`
  ticks that did not produce a target, so an executor that follows the model
  can advance.
- A step that decides several ticks (a batch, or queued ticks) holds its
  targets and watermarks and pushes them at its end as one message
  (`held_targets.py`), before its predictions and its flow-control report; a
  tick decided alone pushes its target at once.
- At the end: the stage's counters, then `eos` on both outputs.

The service hands in a `StageOutput` (its sockets) and a clock; tests hand
in lists and a fixed clock.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final, Protocol

from common.logs import RateLimited
from common.messages import (
    Eos,
    Prediction,
    RunCounters,
    Target,
    TargetBatch,
    Tick,
    TickBatch,
    Watermark,
)
from services.model import fused
from services.model.columnar import (
    ColumnarDecider,
    PredictionRow,
    PredictTimer,
    supports,
)
from services.model.decision import DecisionStack
from services.model.fused import FusedDecider
from services.model.held_targets import HeldTargets

log = logging.getLogger("services.model")

TARGET_LINES_PER_S: Final = 2  # a sample to read; events.jsonl has every target
WATERMARK_EVERY: Final = 64  # ticks; lets a following executor advance when no target flows
_Decided = tuple[list[PredictionRow], list[Prediction]]  # a run's predictions, in one form


class StageOutput(Protocol):
    def publish(self, message: Prediction | RunCounters | Eos) -> None:
        """Publish on the predictions socket."""

    def publish_batch(self, symbol: str, predictions: list[Prediction]) -> None:
        """Publish a batch's predictions as `PredictionBatch` messages."""

    def publish_rows(self, symbol: str, rows: list[PredictionRow]) -> None:
        """Publish a batch's predictions, each in wire order, as `PredictionBatch` messages."""

    def publish_row(self, symbol: str, row: PredictionRow) -> None:
        """Publish one prediction, given in wire order, as a `Prediction`."""

    def push(self, message: Target | TargetBatch | Watermark | Eos) -> bool:
        """Hand over on the targets socket without blocking; False when nobody took it."""

    def handled(self, tick_seq: int) -> None:
        """Every tick up to `tick_seq` is decided (replay flow control)."""


class ModelStage:
    def __init__(
        self,
        stack: DecisionStack,
        output: StageOutput,
        now_ns: Callable[[], int],
        *,
        name: str,
        batch_max: int,
        lossless: bool,
        columnar: bool = True,
        predict_timer: PredictTimer | None = None,
    ) -> None:
        self.stack, self.output, self.now_ns = stack, output, now_ns
        self._predict_timer = predict_timer
        self.name, self.batch_max, self.lossless = name, batch_max, lossless
        self.dropped_targets = 0
        self.last_seq = 0
        self._queued: list[Tick] = []  # taken off the socket, not yet decided
        self._drop_warning = RateLimited()
        self._target_line = RateLimited(1.0 / TARGET_LINES_PER_S)
        # While a step decides several ticks, its targets and watermarks wait here.
        self._held = HeldTargets(stack, name)
        self._holding = False
        # The batch path, for the built-in feature source: fused with our ridge
        # (`fused.py`), else as columns (`columnar.py`). `predict_timer`: the
        # metrics' timing of the estimator calls it makes itself.
        self._columnar: ColumnarDecider | FusedDecider | None = None
        if columnar and fused.supports(stack):
            self._columnar = FusedDecider(stack, predict_timer)
        elif columnar and supports(stack):
            self._columnar = ColumnarDecider(stack, predict_timer)

    def on_tick(self, tick: Tick) -> None:
        self._queued.append(tick)
        if len(self._queued) >= self.batch_max:
            self.flush()

    def decide_alone(self, tick: Tick) -> None:
        """`on_tick(tick)` then `flush()`, in fewer steps when nothing is queued (a tick
        that ended a wait for input, the paced and live case)."""
        if self._queued:
            self.on_tick(tick)
            self.flush()
        else:
            self._decide_one(tick)

    def on_batch(self, batch: TickBatch) -> None:
        """Batched in, batched out: the batch's predictions go out as one message."""
        self.flush()
        if self._columnar is not None:
            with self._one_message():
                rows = self._columnar.decide(
                    batch.ticks, self.batch_max, self.now_ns, self._act_on, self._passed
                )
            self.output.publish_rows(batch.symbol, rows)
            self.output.handled(batch.ticks[-1].seq)
            return
        predictions: list[Prediction] = []
        with self._one_message():
            for start in range(0, len(batch.ticks), self.batch_max):
                predictions += self._decide(batch.ticks[start : start + self.batch_max])
        self.output.handled(batch.ticks[-1].seq)
        self.output.publish_batch(batch.symbol, predictions)

    def flush(self) -> None:
        """Decide the queued single ticks; call whenever the input queue is empty."""
        if not self._queued:
            return
        if len(self._queued) == 1:  # paced or live: the tick alone, straight through
            tick = self._queued.pop()
            self._decide_one(tick)
            return
        queued, self._queued = self._queued, []
        if self._columnar is not None:
            self._decide_columns(queued)
            return
        with self._one_message():
            predictions = self._decide(queued)
        self.output.handled(queued[-1].seq)
        for prediction in predictions:
            self.output.publish(prediction)

    def finish(
        self, rejected: dict[str, int], before_end: Callable[[dict[str, int]], None] | None = None
    ) -> dict[str, int]:
        """Decide what is queued, then send the counters and `eos`; return the counters.

        `rejected`: the input refused by reason (`Inbox.rejected`), for result.json.
        `before_end(counters)` runs before anything goes out: the service's summary
        line leaves before its eos, so the recorder has it when the run ends.
        """
        self.flush()
        counters = {
            **dataclasses.asdict(self.stack.counters),
            "dropped_targets": self.dropped_targets,
            **rejected,
        }
        if before_end is not None:
            before_end(counters)
        # Named after this process (`--name`): the executor and the recorder
        # count one eos per model, and result.json keeps each model's counters.
        self.output.publish(RunCounters(source=self.name, counters=counters))
        eos = Eos(source=self.name, last_seq=self.last_seq, ts_ns=self.now_ns())
        self.output.publish(eos)
        # The executor finishes on this; with none connected it simply goes nowhere.
        self.output.push(eos)
        return counters

    def _decide(self, ticks: list[Tick]) -> list[Prediction]:
        """Observe, predict (one estimator call) and decide `ticks` in order; their predictions.

        Flow control is not told of each tick: the caller tells it once, after the step's push.
        """
        observed = [self.stack.observe(tick) for tick in ticks]
        values = self.stack.predict(observed)
        now_ns = self.now_ns()
        predictions: list[Prediction] = []
        for seen, value in zip(observed, values, strict=True):
            prediction, target = self.stack.decide(seen, value, now_ns)
            self._act_on(seen.tick, None if prediction is None else prediction.value, target)
            if prediction is not None:
                predictions.append(prediction)
        return predictions

    def _decide_columns(self, ticks: list[Tick]) -> None:
        """`_decide(ticks)` and its publish, as columns: each run of one symbol's ticks in order.

        The unbatched replay's path (its ticks queue up to `batch_max` while
        the model is busy); the same decisions in the same order as tick by
        tick (tests compare them), each run's predictions one `PredictionBatch`.
        A run shorter than the decider's `RUN_MIN` (interleaved symbols) goes tick by tick.
        """
        runs: list[tuple[str, _Decided]] = []
        with self._one_message():
            start, symbol = 0, ticks[0].symbol
            for end, tick in enumerate(ticks):
                if tick.symbol != symbol:
                    runs.append((symbol, self._decide_run(ticks[start:end])))
                    start, symbol = end, tick.symbol
            runs.append((symbol, self._decide_run(ticks[start:])))
        self.output.handled(ticks[-1].seq)
        for run_symbol, (rows, predictions) in runs:  # after every target: none waits for these
            if rows:
                self.output.publish_rows(run_symbol, rows)
            elif predictions:
                self.output.publish_batch(run_symbol, predictions)

    def _decide_run(self, ticks: list[Tick]) -> _Decided:
        """One symbol's run: as columns (rows in wire order), or tick by tick when short."""
        if self._columnar is None or len(ticks) < self._columnar.RUN_MIN:
            return [], self._decide(ticks)
        rows = self._columnar.decide(ticks, self.batch_max, self.now_ns, self._act_on, self._passed)
        return rows, []

    def _decide_one(self, tick: Tick) -> None:
        """`_decide([tick])` and its publish, without a list at each step.

        At a paced rate every tick wakes the process on a cold CPU, where each
        line run before the target goes out costs several times its hot time.
        """
        if type(self._columnar) is FusedDecider:  # our ridge: fewer lines before the push
            value, row, target, seconds = self._columnar.decide_one(tick, self.now_ns())
            self._act_on(tick, value, target)
            self.output.handled(tick.seq)
            if row is not None:
                self.output.publish_row(tick.symbol, row)
            if seconds is not None and self._predict_timer is not None:
                self._predict_timer(seconds, tick)  # after the push: the target never waits for it
            return
        stack = self.stack
        seen = stack.observe(tick)
        prediction, target = stack.decide(seen, stack.predict_one(seen), self.now_ns())
        self._act_on(tick, None if prediction is None else prediction.value, target)
        self.output.handled(tick.seq)  # after the push: the target does not wait for it
        if prediction is not None:
            self.output.publish(prediction)

    def _passed(self, ticks: Sequence[Tick]) -> None:
        """Ticks decided without a target, in order: `_act_on` each, in one step."""
        self.last_seq = ticks[-1].seq
        if self.lossless:
            for tick in ticks:
                if tick.seq % WATERMARK_EVERY == 0:
                    self._watermark(tick.seq)

    def _act_on(self, tick: Tick, value: float | None, target: Target | None) -> None:
        """Hand on a tick's decision: its target, or now and then a watermark."""
        if target is None:
            self.last_seq = tick.seq
            if self.lossless and tick.seq % WATERMARK_EVERY == 0:
                self._watermark(tick.seq)
            return
        if self._holding:
            if self._held.full_before(target):
                self._send_held()  # what the step decided before this tick
            self.last_seq = tick.seq
            self._held.hold(target, value)
            return
        self.last_seq = tick.seq
        if not self.output.push(target):
            self._dropped(target)
            return
        self.stack.mark_sent(target)
        self._sent(target, value)

    def _watermark(self, tick_seq: int) -> None:
        if self._holding:
            self._held.hold_watermark(tick_seq)
        else:
            self.output.push(Watermark(source=self.name, tick_seq=tick_seq))

    @contextmanager
    def _one_message(self) -> Iterator[None]:
        """Hold the targets and watermarks decided inside; at the end, push them as one message."""
        self._holding = True
        try:
            yield
        finally:  # even if a decision raised: a tick decided alone must never be held
            self._holding = False
            self._send_held()
            self._held.end_step()

    def _send_held(self) -> None:
        held = self._held
        message = held.message(self.last_seq)
        if message is None:
            return
        if self.output.push(message):
            for target, value in held.taken():
                self._sent(target, value)
        else:  # every target in it is dropped, as if each had been refused alone
            for target, _ in held.refused():
                self._dropped(target)

    def _dropped(self, target: Target) -> None:
        self.dropped_targets += 1
        if self._drop_warning.ready():
            log.warning(
                "no executor took target %s; %d targets dropped so far",
                target.id,
                self.dropped_targets,
            )

    def _sent(self, target: Target, value: float | None) -> None:
        # A sane volume for run.log (events.jsonl has every decision): at most
        # TARGET_LINES_PER_S lines, each saying how many went unlogged before it.
        if self._target_line.ready():
            log.info(
                "target %s %s -> %+.8f (prediction %+.4f bps, tick %d; %d not logged so far)",
                target.id,
                target.symbol,
                target.target_position,
                float("nan") if value is None else value,
                target.tick_seq,
                self._target_line.suppressed,
            )
