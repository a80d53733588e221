"""The model service: ``python -m services.model --ckpt model.pkl``.

Subscribes to ticks, publishes a `Prediction` per tick (after warm-up) and
pushes a `Target` when the wanted position moves by more than the policy's
step; with `--symbols`, for those symbols' ticks only (a split deployment
gives each model process its own symbols). Targets never block: with no
executor they are dropped, counted and logged, and the next one takes effect
when it returns. On `eos` it forwards
`eos` on the predictions socket and on the targets socket, and exits 0.
With `--lossless` (replay) it also pushes a `Watermark` every 64 ticks, so an
executor that follows it meets each target at the tick it came from. A
`TickBatch` (batched fast replay) is decided like its ticks one by one, and
its predictions go out as one `PredictionBatch`, its targets and watermarks as
one `TargetBatch` (`stage.py`). A malformed message is counted
and skipped. Exit 2 on bad configuration or checkpoint, before any socket.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TypeAlias

import zmq

from common import sockets, wire
from common.errors import ConfigError
from common.logs import counts_text
from common.messages import (
    Eos,
    FeedStatus,
    Message,
    Prediction,
    PredictionBatch,
    TargetBatch,
    Tick,
    TickBatch,
)
from common.metrics import serve_metrics
from common.service import Inbox, Prepared, ServiceSpec, serve
from services.model.checkpoint import LoadedModel, load_checkpoint
from services.model.columnar import PredictionRow
from services.model.decision import DecisionStack
from services.model.errors import CheckpointError
from services.model.metrics import ModelMetrics
from services.model.plugins import add_plugin_paths
from services.model.service_config import DEFAULT_POLICY, ModelConfig
from services.model.stage import ModelStage

if TYPE_CHECKING:
    ZSocket: TypeAlias = zmq.Socket[bytes]
    ZContext: TypeAlias = zmq.Context[ZSocket]

log = logging.getLogger("services.model")

POLL_MS: Final = 100
FRAMES_PER_TURN: Final = 256
CONTROL_TOPICS: Final = (wire.EOS_TOPIC, wire.FEED_STATUS_TOPIC, wire.HELLO_TOPIC)
SUBSCRIPTIONS: Final = (wire.TICK_PREFIX, *CONTROL_TOPICS)


def subscriptions(symbols: tuple[str, ...] | None) -> tuple[bytes, ...]:
    """The ticks socket's topic prefixes: every tick, or only `tick.<SYMBOL>` of `symbols`."""
    if symbols is None:
        return SUBSCRIPTIONS
    return (*(wire.tick_topic(symbol) for symbol in symbols), *CONTROL_TOPICS)


@dataclass
class SocketOutput:
    """The stage's outputs as the service's sockets (`stage.StageOutput`)."""

    predictions: ZSocket
    targets: ZSocket
    inbox: Inbox

    def publish(self, message: Message) -> None:
        sockets.publish(self.predictions, message)

    def publish_batch(self, symbol: str, predictions: list[Prediction]) -> None:
        encoded = [wire.encode(prediction) for prediction in predictions]
        topic = wire.prediction_topic(symbol)
        for payload in wire.encode_batches(PredictionBatch, symbol, encoded):
            sockets.publish_encoded(self.predictions, topic, payload)

    def publish_rows(self, symbol: str, rows: list[PredictionRow]) -> None:
        topic = wire.prediction_topic(symbol)
        for payload in wire.encode_item_batches(PredictionBatch, symbol, rows):
            sockets.publish_encoded(self.predictions, topic, payload)

    def publish_row(self, symbol: str, row: PredictionRow) -> None:
        sockets.publish_encoded(
            self.predictions, wire.prediction_topic(symbol), wire.encode_item(row)
        )

    def push(self, message: Message) -> bool:
        payload = wire.encode(message)
        if len(payload) > wire.MAX_PAYLOAD_BYTES and isinstance(message, TargetBatch):
            # Only ids and symbols near their 128-character cap make a batch this
            # big: it goes as two, and counts as taken only if both were (the second
            # is not tried once the first was refused).
            first, second = _halves(message)
            return self.push(first) and self.push(second)
        return sockets.push_nowait(self.targets, payload)

    def handled(self, tick_seq: int) -> None:
        self.inbox.progress.handled(tick_seq)


def _halves(batch: TargetBatch) -> tuple[TargetBatch, TargetBatch]:
    # Each half is a valid batch: the first is done through its last target.
    targets, middle = batch.targets, len(batch.targets) // 2
    first, second = targets[:middle], targets[middle:]
    through = first[-1].tick_seq
    return (
        TargetBatch(source=batch.source, targets=first, through=through),
        TargetBatch(source=batch.source, targets=second, through=batch.through),
    )


class ModelLoop:
    """Moves bytes between the sockets and the `ModelStage`; every rule lives there."""

    def __init__(
        self,
        stage: ModelStage,
        inbox: Inbox,
        ticks: ZSocket,
        symbols: tuple[str, ...] | None = None,
    ) -> None:
        self.stage, self.inbox, self.ticks = stage, inbox, ticks
        self.symbols = None if symbols is None else frozenset(symbols)

    def run(self, stop: threading.Event) -> int:
        # One input socket: a receive that blocks (up to POLL_MS, then the stop
        # flag is looked at again) wakes straight into the tick; a poll first
        # costs a poller and a second call on the CPU still cold from waiting.
        self.ticks.setsockopt(zmq.RCVTIMEO, POLL_MS)
        while not stop.is_set():
            first = True
            for message, _ in self.inbox.messages(self.ticks, "market", FRAMES_PER_TURN, wait=True):
                if first:
                    first = False
                    # The message that ended the wait had nothing queued before
                    # it: a tick is decided now, its target out before the socket
                    # is asked for more (batching never changes a decision).
                    if type(message) is Tick and self._serves(message.symbol):
                        self.stage.decide_alone(message)
                        continue
                if self._handle(message):
                    return 0
            self.stage.flush()  # the queue is empty: nothing waits behind a batch
            self.inbox.progress.idle()
        log.info("stop requested; forwarding eos after seq %d", self.stage.last_seq)
        self._finish()
        return 0

    def _handle(self, message: Message) -> bool:
        """Handle one message; True when it was the end of the stream."""
        if type(message) is Tick:  # first: the one on every paced tick's path
            if self._serves(message.symbol):
                self.stage.on_tick(message)
        elif type(message) is TickBatch:
            if self._serves(message.symbol):
                self.stage.on_batch(message)
        elif isinstance(message, Eos):
            log.info("eos from %s at seq %d", message.source, message.last_seq)
            self._finish()
            return True
        elif isinstance(message, FeedStatus):
            log.info("feed %s: %s %s", message.symbol or "all", message.state, message.detail)
        else:
            self.inbox.count_malformed("unexpected_type")
        return False

    def _serves(self, symbol: str) -> bool:
        # Topics match by prefix: a subscription to `tick.BTC/USD` brings `tick.BTC/USDT` too.
        return self.symbols is None or symbol in self.symbols

    def _finish(self) -> None:
        self.stage.finish(self.inbox.rejected(), before_end=self._summary)

    def _summary(self, counters: dict[str, int]) -> None:
        log.info(
            "model done: %s; malformed input: %s",
            ", ".join(f"{name} {count:,}" for name, count in counters.items()),
            counts_text(self.inbox.malformed),
        )


@dataclass
class Loaded(Prepared):
    """The config and the verified, dry-run model: all checked before any socket."""

    config: ModelConfig
    model: LoadedModel


def _configure(argv: Sequence[str] | None, environ: Mapping[str, str]) -> Loaded:
    config = ModelConfig.from_args(argv, environ)
    add_plugin_paths(config.plugin_path or ())
    model = load_checkpoint(config.ckpt, config.ckpt_sha256, DEFAULT_POLICY)
    # The model clips to the largest plain figure; the executor enforces each symbol's own.
    clip = None if config.max_position is None else config.max_position.largest_plain()
    if clip is not None:
        model = dataclasses.replace(model, max_position=clip)
    return Loaded(config, model)


def _open(ctx: ZContext, loaded: Loaded, resources: ExitStack) -> ModelLoop:
    config, model = loaded.config, loaded.model
    lossless = config.lossless
    ticks = resources.enter_context(
        sockets.subscriber(ctx, config.ticks, subscriptions(config.symbols), lossless=lossless)
    )
    predictions = resources.enter_context(
        sockets.publisher(ctx, config.predictions, lossless=lossless)
    )
    targets = resources.enter_context(sockets.target_pusher(ctx, config.targets, lossless=lossless))
    progress = resources.enter_context(sockets.progress_pusher(ctx, config.progress))

    # Logged before the recorder may hear it: the log handler holds it until it does.
    log.info("model %s loaded from %s", model.short_id, config.ckpt)
    if config.symbols is not None:
        log.info("serving %s only", ",".join(config.symbols))
    inbox = Inbox(
        ctx,
        name=config.name,
        ready_addr=config.ready,
        progress=progress,
        # Passed downstream too: a subscriber of the predictions (the recorder)
        # answers only once probes reach it on every socket it reads.
        forward_hello=(predictions,),
        # A lossless run with an executor loses no target: ready only once it takes them
        # (a model replayed into alone drops and counts them: nobody waits for it).
        needs_peer=(targets,) if lossless and config.wait_for_executor else (),
    )
    stack = DecisionStack(model, ttl_ms=config.target_ttl_ms)
    # Timed only when served: the timing is per tick, on the path a paced tick takes cold.
    metrics = timed = None
    if not config.disable_metrics:
        metrics = ModelMetrics(stack, model_id=model.model_id, name=config.name)
        timed = metrics.timed()
    stage = ModelStage(
        stack if timed is None else timed,
        SocketOutput(predictions, targets, inbox),
        time.time_ns,
        name=config.name,
        batch_max=config.batch_max,
        lossless=lossless,
        predict_timer=None if timed is None else timed.predicted,
    )
    if metrics is not None:
        metrics.stage = stage
        serve_metrics(
            metrics.collect,
            host=config.metrics_host,
            port=config.metrics_port,
            allow_remote=config.allow_remote,
        )
    return ModelLoop(stage, inbox, ticks, config.symbols)


SPEC: Final = ServiceSpec(
    name="model",
    configure=_configure,
    open=_open,
    usage_errors=(ConfigError, CheckpointError),
)


def main(argv: Sequence[str] | None = None) -> int:
    return serve(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
