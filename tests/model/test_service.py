"""The model service as a real process between a real feed and real sockets."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import zmq

from common import sockets, wire
from common.messages import (
    Eos,
    Hello,
    Prediction,
    PredictionBatch,
    RunCounters,
    Target,
    TargetBatch,
    Tick,
    TickBatch,
    Watermark,
)
from services.model.__main__ import ModelLoop, subscriptions
from services.model.checkpoint import load_checkpoint
from services.model.offline import predictions as offline_predictions
from services.model.service_config import DEFAULT_POLICY
from tests.conftest import scaled
from tests.factories import make_tick
from tests.model.conftest import BUNDLED
from tests.processes import services


class Addresses:
    def __init__(self, folder: Path) -> None:
        self.ticks = f"ipc://{folder}/ticks"
        self.ready = f"ipc://{folder}/ready"
        self.predictions = f"ipc://{folder}/predictions"
        self.targets = f"ipc://{folder}/targets"
        self.logs = f"ipc://{folder}/logs"

    def model_args(self, checkpoint: Path) -> list[str]:
        return [
            "--ckpt",
            str(checkpoint),
            "--lossless",
            "--ticks",
            self.ticks,
            "--predictions",
            self.predictions,
            "--targets",
            self.targets,
            "--ready",
            self.ready,
            "--logs",
            self.logs,
        ]

    def feed_args(self, *extra: str) -> list[str]:
        return [
            "--replay",
            str(BUNDLED),
            "--pub",
            self.ticks,
            "--ready",
            self.ready,
            "--logs",
            self.logs,
            *extra,
        ]


class PredictionProbe(threading.Thread):
    """Reads the model's predictions; says ready once a forwarded Hello arrives."""

    def __init__(self, ctx: zmq.Context, addr: Addresses) -> None:
        super().__init__(daemon=True)
        self.ctx, self.addr = ctx, addr
        self.received: list[Prediction] = []
        self.batches = 0
        self.counters: dict[str, int] = {}
        self.eos: Eos | None = None
        self.error: BaseException | None = None
        self.sub = sockets.subscriber(
            ctx,
            addr.predictions,
            [wire.PREDICTION_PREFIX, wire.EOS_TOPIC, wire.HELLO_TOPIC, wire.COUNTERS_TOPIC],
            lossless=True,
        )

    def run(self) -> None:
        try:
            self._collect()
        except BaseException as e:  # reported by the test
            self.error = e
        finally:
            self.sub.close()

    def _collect(self) -> None:
        answered = False
        while self.eos is None and self.sub.poll(int(scaled(60) * 1000)):
            _topic, payload = self.sub.recv_multipart()
            message = wire.decode(payload)
            if isinstance(message, Hello) and not answered:
                answered = sockets.answer_hello(self.ctx, self.addr.ready, "probe", timeout_s=5)
            elif isinstance(message, Prediction):
                self.received.append(message)
            elif isinstance(message, PredictionBatch):
                self.received += message.predictions
                self.batches += 1
            elif isinstance(message, RunCounters):
                self.counters = message.counters
            elif isinstance(message, Eos):
                self.eos = message


@pytest.mark.parametrize("batch", [1, 64])
def test_live_predictions_equal_offline_ones_with_no_executor(
    trained_checkpoint: Path, tmp_path: Path, zmq_ctx: zmq.Context, batch: int
) -> None:
    """Replayed through feed and model processes, every prediction equals the offline
    run's, although no executor ever takes a target: the model never blocks. The
    batched replay (TickBatch in, PredictionBatch out) gives the same predictions."""
    addr = Addresses(tmp_path)
    probe = PredictionProbe(zmq_ctx, addr)
    with services(tmp_path) as group:
        group.start("model", "services.model", addr.model_args(trained_checkpoint))
        probe.start()
        group.start(
            "feed",
            "services.feed",
            addr.feed_args("--expect", "model,probe", "--speed", "0", "--replay-batch", str(batch)),
        )
        assert group.wait("feed") == 0, group.output("feed")
        assert group.wait("model") == 0, group.output("model")
        probe.join(scaled(30))
    assert probe.error is None, probe.error
    model = load_checkpoint(trained_checkpoint, None, DEFAULT_POLICY)
    expected = [
        (p.tick_seq, p.value, p.target_position) for p in offline_predictions(model, BUNDLED)
    ]
    live = [(p.tick_seq, p.value, p.target_position) for p in probe.received]
    assert len(expected) == 85_175 - 60  # every tick after the 51-quote warm-up
    assert live == expected
    assert probe.eos is not None and probe.eos.last_seq == 85_175
    if batch > 1:  # the TickBatches come back as PredictionBatches (unbatched: either form)
        assert probe.batches > 0


def test_targets_reach_an_executor_socket(
    trained_checkpoint: Path, tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """With a PULL bound where the executor lives, targets arrive, unique and well-formed."""
    addr = Addresses(tmp_path)
    received: list[Target] = []
    with sockets.target_puller(zmq_ctx, addr.targets) as pull, services(tmp_path) as group:
        group.start("model", "services.model", addr.model_args(trained_checkpoint))
        group.start(
            "feed", "services.feed", addr.feed_args("--expect", "model", "--max-ticks", "20000")
        )
        while group.procs["model"].poll() is None or pull.poll(0):
            if pull.poll(50):
                message = wire.decode(pull.recv())
                assert isinstance(message, (Target, TargetBatch, Watermark, Eos))
                if isinstance(message, Target):
                    received.append(message)
                elif isinstance(message, TargetBatch):  # ticks that queued: decided in one step
                    received += message.targets
        assert group.wait("model") == 0
    assert received
    assert len({t.id for t in received}) == len(received)
    assert all(abs(t.target_position) <= 0.01 + 1e-12 for t in received)
    seqs = [t.tick_seq for t in received]
    assert seqs == sorted(seqs) and seqs[-1] <= 20_000


def test_a_model_that_finishes_first_still_hands_a_slow_executor_every_target(
    trained_checkpoint: Path, tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """Lossless: the executor reads nothing until the model is done, and then still gets
    every target the model sent, and its eos. (A bounded receive queue once lost the
    backlog beyond it when the model exited.)"""
    addr = Addresses(tmp_path)
    probe = PredictionProbe(zmq_ctx, addr)
    pull = sockets.target_puller(zmq_ctx, addr.targets, lossless=True)
    with pull, services(tmp_path) as group:
        group.start("model", "services.model", addr.model_args(trained_checkpoint))
        probe.start()
        group.start(
            "feed",
            "services.feed",
            addr.feed_args("--expect", "model,probe", "--speed", "0", "--replay-batch", "64"),
        )
        probe.join(scaled(60))
        assert probe.eos is not None, "the model never finished"
        targets, batches, eos = 0, 0, None
        while eos is None and pull.poll(int(scaled(10) * 1000)):
            message = wire.decode(pull.recv())
            if isinstance(message, Target):
                targets += 1
            elif isinstance(message, TargetBatch):  # a batch's targets leave together
                targets += len(message.targets)
                batches += 1
            elif isinstance(message, Eos):
                eos = message
        assert group.wait("model") == 0
    assert probe.counters["targets"] > 1_000  # more than any socket buffer holds
    assert targets == probe.counters["targets"] - probe.counters["dropped_targets"]
    assert batches > 100  # a TickBatch's targets go as one message
    assert eos is not None and eos.last_seq == 85_175


def test_malformed_messages_are_skipped_and_the_model_carries_on(
    trained_checkpoint: Path, tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """Garbage, wrong framing, a crossed quote and a batch holding one do not stop the
    stream; single ticks and a batch after them are all predicted, in order."""
    addr = Addresses(tmp_path)
    probe = PredictionProbe(zmq_ctx, addr)
    with (
        sockets.publisher(zmq_ctx, addr.ticks, lossless=True) as pub,
        sockets.ready_replier(zmq_ctx, addr.ready) as ready,
        services(tmp_path) as group,
    ):
        group.start("model", "services.model", addr.model_args(trained_checkpoint))
        probe.start()
        sockets.wait_for_subscribers(
            pub, ready, ["model", "probe"], source="test", timeout_s=scaled(30)
        )
        pub.send(b"tick.BTC/USD")  # one frame only
        pub.send_multipart([b"tick.BTC/USD", b"\xc1\xc1 not msgpack"])
        pub.send_multipart([b"tick.BTC/USD", b"x", b"three frames"])
        crossed = wire.encode(make_tick(seq=1, bid=2.0, ask=3.0)).replace(
            b"\xcb@\x00", b"\xcb@\x10"
        )
        pub.send_multipart([b"tick.BTC/USD", crossed])
        [bad_batch] = wire.encode_batches(TickBatch, "BTC/USD", [crossed])
        pub.send_multipart([b"tick.BTC/USD", bad_batch])
        ticks = [
            make_tick(seq=seq, bid=100.0 + seq * 0.01 - 0.005, ask=100.0 + seq * 0.01 + 0.005)
            for seq in range(1, 165)
        ]
        for tick in ticks[:100]:
            pub.send_multipart([wire.topic(tick), wire.encode(tick)])
        batch = TickBatch(symbol="BTC/USD", ticks=ticks[100:])
        pub.send_multipart([wire.topic(batch), wire.encode(batch)])
        eos = Eos(source="test", last_seq=164, ts_ns=time.time_ns())
        pub.send_multipart([wire.topic(eos), wire.encode(eos)])
        assert group.wait("model") == 0, group.output("model")
        probe.join(scaled(30))
    assert probe.error is None, probe.error
    assert [p.tick_seq for p in probe.received] == list(range(51, 165))
    assert probe.batches >= 1  # the TickBatch's (queued single ticks may make more)
    assert probe.counters["malformed"] == 5


class _SeenStage:
    """Stands in for `ModelStage`: keeps the ticks the loop hands it."""

    def __init__(self) -> None:
        self.symbols: list[str] = []

    def on_tick(self, tick: Tick) -> None:
        self.symbols.append(tick.symbol)

    def on_batch(self, batch: TickBatch) -> None:
        self.symbols += [tick.symbol for tick in batch.ticks]


def test_a_model_given_symbols_subscribes_to_their_ticks_and_decides_no_other() -> None:
    """`--symbols BTC/USD`: only `tick.BTC/USD` (and control) topics, and a `BTC/USDT` tick
    that matches that prefix is not decided."""
    assert subscriptions(("BTC/USD",)) == (b"tick.BTC/USD", b"eos", b"feed.status", b"hello")
    assert subscriptions(None)[0] == b"tick."
    stage = _SeenStage()
    loop = ModelLoop(stage, None, None, ("BTC/USD",))  # type: ignore[arg-type]
    usdt = make_tick(symbol="BTC/USDT")
    for message in (usdt, make_tick(), TickBatch(symbol="BTC/USDT", ticks=[usdt])):
        assert loop._handle(message) is False
    assert stage.symbols == ["BTC/USD"]
