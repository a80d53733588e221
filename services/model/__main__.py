"""The model service: ``python -m services.model --ckpt model.pkl``.

Subscribes to ticks, publishes a `Prediction` per tick (after warm-up) and
pushes a `Target` when the wanted position moves by more than the policy's
step. Targets never block: with no executor they are dropped, counted and
logged, and the next one takes effect when it returns. On `eos` it forwards
`eos` on the predictions socket and on the targets socket, and exits 0.
With `--lossless` (replay) it also pushes a `Watermark` every 64 ticks, so an
executor that follows it meets each target at the tick it came from. A
`TickBatch` (batched fast replay) is decided tick by tick like single ticks,
and its predictions go out as one `PredictionBatch`. A malformed message is counted
and skipped. Exit 2 on bad configuration or checkpoint, before any socket.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence

import zmq

from common import sockets, wire
from common.errors import ConfigError, WireError
from common.flow import ProgressReporter
from common.logs import RateLimited, setup_logging
from common.messages import (
    Eos,
    FeedStatus,
    Hello,
    Prediction,
    PredictionBatch,
    RunCounters,
    Target,
    Tick,
    TickBatch,
    Watermark,
)
from common.signals import install_stop_flag, stay_until_stopped
from services.model.checkpoint import LoadedModel, load_checkpoint
from services.model.decision import DecisionStack
from services.model.errors import CheckpointError
from services.model.service_config import DEFAULT_POLICY, ModelConfig

log = logging.getLogger("services.model")

TARGET_LINES_PER_S = 20
POLL_MS = 100
FRAMES_PER_TURN = 256
WATERMARK_EVERY = 64  # ticks; lets a following executor advance when no target flows
SUBSCRIPTIONS = (wire.TICK_PREFIX, wire.EOS_TOPIC, wire.FEED_STATUS_TOPIC, wire.HELLO_TOPIC)


class ModelLoop:
    """The service's one loop: receive, decide, publish, push."""

    def __init__(
        self,
        ctx: zmq.Context,
        config: ModelConfig,
        stack: DecisionStack,
        ticks: zmq.Socket,
        predictions: zmq.Socket,
        targets: zmq.Socket,
        progress: ProgressReporter,
    ) -> None:
        self.ctx, self.config, self.stack = ctx, config, stack
        self.ticks, self.predictions, self.targets = ticks, predictions, targets
        self.malformed: Counter[str] = Counter()
        self.dropped_targets = 0
        self.last_seq = 0
        self._answered_hello = False
        self._drop_warning = RateLimited()
        self._target_line = RateLimited(1.0 / TARGET_LINES_PER_S)
        self.progress = progress  # tells a replaying feed how far we are
        self._queued: list[Tick] = []  # taken off the socket, not yet decided
        self._malformed_warning = RateLimited()

    def run(self, stop: threading.Event) -> int:
        while not stop.is_set():
            if not self.ticks.poll(POLL_MS):
                self.progress.idle()
                continue
            # Take what is queued without a poll per message; the stop flag is
            # looked at again after each turn.
            for _ in range(FRAMES_PER_TURN):
                try:
                    message = sockets.recv_message(self.ticks, zmq.NOBLOCK)
                except zmq.Again:
                    break
                if message is None:
                    self._count_malformed("framing")
                elif self._handle(*message):
                    return 0
            self._decide_queued()  # the queue is empty: nothing waits behind a batch
            self.progress.idle()
        log.info("stop requested; forwarding eos after seq %d", self.last_seq)
        self._finish()
        return 0

    def _handle(self, topic: bytes, payload: bytes) -> bool:
        """Handle one message; True when it was the end of the stream."""
        try:
            message = wire.decode(payload)
        except WireError as e:
            self._count_malformed(e.reason, e)
            return False
        if isinstance(message, Tick):
            self._queued.append(message)
            if len(self._queued) >= self.config.batch_max:
                self._decide_queued()
            return False
        self._decide_queued()  # everything else comes after the ticks before it
        if isinstance(message, TickBatch):
            self._decide_batch(message)
        elif isinstance(message, Eos):
            log.info("eos from %s at seq %d", message.source, message.last_seq)
            self._finish()
            return True
        elif isinstance(message, Hello):
            self._on_hello(payload)
        elif isinstance(message, FeedStatus):
            log.info("feed %s: %s %s", message.symbol or "all", message.state, message.detail)
        else:
            self._count_malformed("unexpected_type")
        return False

    def _decide_queued(self) -> None:
        """Predict the ticks taken off the socket in one estimator call, then act on each in order.

        Under load this amortises an estimator's per-call cost over the batch;
        with an idle queue the batch is one tick, so no tick waits for others.
        """
        if not self._queued:
            return
        predictions = self._decide(self._queued)
        self._queued.clear()
        for prediction in predictions:
            sockets.publish(self.predictions, prediction)

    def _decide_batch(self, batch: TickBatch) -> None:
        """Batched in, batched out: the batch's predictions go out as one message."""
        step = self.config.batch_max
        predictions: list[Prediction] = []
        for start in range(0, len(batch.ticks), step):
            predictions += self._decide(batch.ticks[start : start + step])
        encoded = [wire.encode(prediction) for prediction in predictions]
        for payload in wire.encode_batches(PredictionBatch, batch.symbol, encoded):
            sockets.publish_encoded(self.predictions, wire.prediction_topic(batch.symbol), payload)

    def _decide(self, ticks: list[Tick]) -> list[Prediction]:
        """Observe, predict (one estimator call) and decide `ticks` in order; their predictions."""
        observed = [self.stack.observe(tick) for tick in ticks]
        values = self.stack.predict(observed)
        now_ns = time.time_ns()
        predictions: list[Prediction] = []
        for seen, value in zip(observed, values, strict=True):
            prediction, target = self.stack.decide(seen, value, now_ns)
            self._act(seen.tick, prediction, target)
            if prediction is not None:
                predictions.append(prediction)
        return predictions

    def _act(self, tick: Tick, prediction: Prediction | None, target: Target | None) -> None:
        self.last_seq = tick.seq
        self.progress.handled(tick.seq)
        if target is None and self.config.lossless and tick.seq % WATERMARK_EVERY == 0:
            watermark = Watermark(source=self.config.name, tick_seq=tick.seq)
            sockets.push_nowait(self.targets, wire.encode(watermark))
        if target is None:
            return
        if sockets.push_nowait(self.targets, wire.encode(target)):
            self.stack.mark_sent(target)
            # A sane volume for run.log (events.jsonl has every decision): at most
            # TARGET_LINES_PER_S lines, each saying how many went unlogged before it.
            if self._target_line.ready():
                log.info(
                    "target %s %s -> %+.8f (prediction %+.4f bps, tick %d; %d not logged so far)",
                    target.id,
                    target.symbol,
                    target.target_position,
                    prediction.value if prediction else float("nan"),
                    tick.seq,
                    self._target_line.suppressed,
                )
        else:
            self.dropped_targets += 1
            if self._drop_warning.ready():
                log.warning(
                    "no executor took target %s; %d targets dropped so far",
                    target.id,
                    self.dropped_targets,
                )

    def _on_hello(self, payload: bytes) -> None:
        # Pass the probe downstream too: a subscriber of the predictions (the
        # recorder) answers only once probes reach it on every socket it reads.
        sockets.publish_encoded(self.predictions, wire.HELLO_TOPIC, payload)
        if self._answered_hello:
            return
        self.progress.joined()
        self._answered_hello = sockets.answer_hello(
            self.ctx, self.config.ready, self.config.name, timeout_s=2.0
        )
        log.info("ready for the replay handshake as %r", self.config.name)

    def _finish(self) -> None:
        counters = {
            **dataclasses.asdict(self.stack.counters),
            "dropped_targets": self.dropped_targets,
            "malformed": sum(self.malformed.values()),
        }
        summary = RunCounters(source="model", counters=counters)
        sockets.publish(self.predictions, summary)
        eos = Eos(source="model", last_seq=self.last_seq, ts_ns=time.time_ns())
        sockets.publish(self.predictions, eos)
        # The executor finishes on this; with none connected it simply goes nowhere.
        sockets.push_nowait(self.targets, wire.encode(eos))
        log.info("model done: %s, malformed by reason %s", counters, dict(self.malformed))

    def _count_malformed(self, reason: str, error: Exception | None = None) -> None:
        self.malformed[reason] += 1
        if self._malformed_warning.ready():
            log.warning("skipped malformed message (%s): %s", reason, error or "")


def _load(argv: Sequence[str] | None) -> tuple[ModelConfig, LoadedModel]:
    config = ModelConfig.from_args(argv, os.environ)
    model = load_checkpoint(config.ckpt, config.ckpt_sha256, DEFAULT_POLICY)
    if config.max_position is not None:
        model = dataclasses.replace(model, policy=model.policy.clipped_to(config.max_position))
    return config, model


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config, model = _load(argv)
    except (ConfigError, CheckpointError) as e:
        print(f"model: {e}", file=sys.stderr)
        return 2
    stop = install_stop_flag()
    with zmq.Context() as ctx:
        log_socket = setup_logging("model", ctx, config.logs)
        try:
            with (
                sockets.subscriber(
                    ctx, config.ticks, SUBSCRIPTIONS, lossless=config.lossless
                ) as ticks,
                sockets.publisher(ctx, config.predictions, lossless=config.lossless) as predictions,
                sockets.target_pusher(ctx, config.targets, lossless=config.lossless) as targets,
                sockets.progress_pusher(ctx, config.progress) as progress,
            ):
                log.info("model %s loaded from %s", model.short_id, config.ckpt)
                stack = DecisionStack(model, ttl_ms=config.target_ttl_ms)
                reporter = ProgressReporter(progress, config.name)
                loop = ModelLoop(ctx, config, stack, ticks, predictions, targets, reporter)
                code = loop.run(stop)
                stay_until_stopped(stop, config.stay_after_eos)
                return code
        except ConfigError as e:
            print(f"model: {e}", file=sys.stderr)
            return 2
        finally:
            if log_socket is not None:
                log_socket.close()


if __name__ == "__main__":
    sys.exit(main())
