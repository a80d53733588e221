"""The executor service: ``python -m services.executor [--run-dir DIR]``.

Binds the targets PULL (so it can be stopped and restarted while the others
run) and the execution-events PUB; subscribes to ticks. Every order goes
through the risk engine, then the `PaperOrderExecutor` or, past every opt-in
of the live gate, the `LiveOrderExecutor` (ccxt or krakenex), which first
reconciles with the venue (`reconcile.py`). Every order, fill,
rejection, risk event and position is journaled (flushed) and then published.
On start it rebuilds positions, PnL and the breaker from the journal in the
run directory. It finishes on the model's `eos` (or once the feed has ended
and the model stayed silent `--drain-timeout-s`), publishes `eos`, exits 0.
With `--lossless` (replay) ticks wait for the model's watermark, so every
replay of a file meets the same targets at the same ticks. Paper and live keep
separate journals (`executor.journal`, `executor-live.journal`): a live
executor never inherits paper positions. Exit 2: bad configuration, a live
request without every opt-in, or a damaged journal; exit 1: the venue refused
the start-up reconciliation (credentials, a balance the journal cannot explain).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass

import zmq

from common import sockets, wire
from common.errors import ConfigError, JournalCorrupt, WireError
from common.flow import ProgressReporter
from common.journal import JOURNAL_FILES, Journal, JournalState, read_journal
from common.logs import RateLimited, setup_logging
from common.messages import (
    Eos,
    FeedStatus,
    Fill,
    Hello,
    OrderRejected,
    OrderSubmitted,
    RiskEvent,
    RunCounters,
    Target,
    Tick,
    TickBatch,
    Watermark,
)
from common.runs import DEFAULT_ARTIFACTS_DIR, new_run_id, run_dir
from common.signals import install_stop_flag, stay_until_stopped
from services.executor.engine import Event, ExecutionEngine
from services.executor.errors import VenueMismatch
from services.executor.executor_config import ExecutorConfig
from services.executor.live import LiveOrderExecutor
from services.executor.order_executor import OrderExecutor
from services.executor.paper import PaperOrderExecutor
from services.executor.providers import make_venue
from services.executor.reconcile import reconcile_at_start
from services.executor.risk import RiskEngine, RiskLimits
from venues.errors import VenueError
from venues.kraken.pairs import PairRules, load_pairs

log = logging.getLogger("services.executor")

POLL_MS = 100
MARKET_FRAMES_PER_TURN = 256  # then look at targets: neither stream starves the other
TICK_TOPICS = (wire.TICK_PREFIX, wire.EOS_TOPIC, wire.FEED_STATUS_TOPIC, wire.HELLO_TOPIC)
_JOURNALED = (OrderSubmitted, OrderRejected, Fill, RiskEvent)


@dataclass
class Sockets:
    ticks: zmq.Socket
    targets: zmq.Socket
    events: zmq.Socket


class ExecutorLoop:
    def __init__(
        self,
        ctx: zmq.Context,
        config: ExecutorConfig,
        engine: ExecutionEngine,
        journal: Journal,
        socks: Sockets,
        progress: ProgressReporter,
        live: LiveOrderExecutor | None = None,
    ) -> None:
        self.ctx = ctx
        self.live = live
        self.progress = progress  # tells a replaying feed how far we are
        self.config = config
        self.engine = engine
        self.journal = journal
        self.socks = socks
        self.malformed: Counter[str] = Counter()
        self.rejections: Counter[str] = Counter()
        self.feed_eos_seen = False
        self.model_eos_at: float | None = None
        self.ticks = 0
        self.model_heard_at = time.monotonic()  # the last target, watermark or eos
        # Following the model (lossless replay): ticks wait here until the
        # model's watermark says it is done with them, so each target meets
        # exactly the ticks it would meet on any other replay of the file.
        self.follow_model = config.lossless
        self.waiting_ticks: deque[Tick] = deque()
        self.watermark = 0
        self._answered_hello = False
        self._malformed_warning = RateLimited()

    def run(self, stop: threading.Event) -> int:
        self._supersede_backlog()
        poller = zmq.Poller()
        poller.register(self.socks.ticks, zmq.POLLIN)
        poller.register(self.socks.targets, zmq.POLLIN)
        if self.live is not None:
            poller.register(self.live.reports, zmq.POLLIN)
        while not stop.is_set():
            ready = dict(poller.poll(POLL_MS))
            if self.live is not None and self.live.reports in ready:
                self._on_venue_reports()
            if self.socks.ticks in ready:
                self._on_market_frames()
            if self.socks.targets in ready and self._on_target_frames():
                self.model_eos_at = time.monotonic()
            if self.model_eos_at is not None and self._market_done():
                break
            self._publish(self.engine.expire_held(time.time_ns()))
            self.progress.idle()
            silent_s = time.monotonic() - self.model_heard_at
            if self.feed_eos_seen and silent_s > self.config.drain_timeout_s:
                log.warning("feed ended and the model has been silent %.1f s; finishing", silent_s)
                break
        self._finish()
        return 0

    def _market_done(self) -> bool:
        """After the model's eos: the market may still owe us ticks (they count for positions).

        In a replay the model can finish before this loop has read every tick
        the feed sent; wait for the feed's eos too, at most the drain timeout.
        """
        assert self.model_eos_at is not None
        if self.feed_eos_seen or not self.follow_model:  # live: the market never ends
            return True
        waited_s = time.monotonic() - self.model_eos_at
        if waited_s > self.config.drain_timeout_s:
            log.warning("model ended; no feed eos after %.1f s; finishing", waited_s)
            return True
        return False

    def _on_market_frames(self) -> None:
        """Handle a turn's worth of queued market frames (then targets get their turn)."""
        for _ in range(MARKET_FRAMES_PER_TURN):
            try:
                frames = sockets.recv_message(self.socks.ticks, zmq.NOBLOCK)
            except zmq.Again:
                return
            message = self._decode(frames[1] if frames is not None else None)
            if isinstance(message, Tick):
                self._on_tick(message)
            elif isinstance(message, TickBatch):
                for tick in message.ticks:
                    self._on_tick(tick)
            elif isinstance(message, Eos):
                log.info("feed eos at seq %d; waiting for the model's", message.last_seq)
                self.feed_eos_seen = True
            elif isinstance(message, Hello) and frames is not None:
                self._on_hello(frames[1])
            elif isinstance(message, FeedStatus):
                log.info("feed %s: %s", message.symbol or "all", message.state)

    def _on_tick(self, tick: Tick) -> None:
        self.ticks += 1
        if self.follow_model:
            self.waiting_ticks.append(tick)
            self._release_ticks()
        else:
            self._apply_tick(tick)

    def _apply_tick(self, tick: Tick) -> None:
        self._publish(self.engine.on_tick(tick, time.time_ns()))
        # Progress is what the engine has applied, not what arrived: a replay's
        # flow control then bounds the ticks waiting here for the model's
        # watermark too (reported on arrival, they grew without limit whenever
        # targets came in slower than ticks).
        self.progress.handled(tick.seq)

    def _on_venue_reports(self) -> None:
        """The live venue's fills, refusals and halts, from the worker thread."""
        assert self.live is not None  # only polled when live
        while True:
            try:
                report = wire.decode(self.live.reports.recv(zmq.NOBLOCK))
            except zmq.Again:
                return
            if isinstance(report, (Fill, OrderRejected, RiskEvent)):
                self._publish(self.engine.on_venue_report(report))

    def _supersede_backlog(self) -> None:
        """Targets that queued up before this executor started: only the newest may act."""
        backlog = [m for m in self._drain_targets() if isinstance(m, Target)]
        if backlog:
            log.info("%d targets were waiting at start; older ones are superseded", len(backlog))
            self._publish(self.engine.on_targets(backlog, time.time_ns()))

    def _on_target_frames(self) -> bool:
        """Act on each queued target in turn; True on the model's eos."""
        for message in self._drain_targets():
            self.model_heard_at = time.monotonic()
            if isinstance(message, Target):
                self._advance_watermark(message.tick_seq)
                self._publish(self.engine.on_target(message, time.time_ns()))
            elif isinstance(message, Watermark):
                self._advance_watermark(message.tick_seq)
            elif isinstance(message, Eos):
                log.info("model eos at seq %d", message.last_seq)
                self._advance_watermark(message.last_seq)
                return True
        return False

    def _advance_watermark(self, tick_seq: int) -> None:
        self.watermark = max(self.watermark, tick_seq)
        self._release_ticks()

    def _release_ticks(self) -> None:
        while self.waiting_ticks and self.waiting_ticks[0].seq <= self.watermark:
            self._apply_tick(self.waiting_ticks.popleft())

    def _drain_targets(self) -> list[object]:
        messages: list[object] = []
        while True:
            try:
                messages.append(self._decode(self.socks.targets.recv(zmq.NOBLOCK)))
            except zmq.Again:
                return messages

    def _decode(self, payload: bytes | None) -> object:
        if payload is None:
            self._count_malformed("framing", None)
            return None
        try:
            return wire.decode(payload)
        except WireError as e:
            self._count_malformed(e.reason, e)
            return None

    def _publish(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, _JOURNALED):
                self.journal.append(event)  # flushed before anyone can see the event
            if isinstance(event, OrderRejected):
                self.rejections[event.reason] += 1
                log.warning(
                    "rejected %s %s: %s (%s)",
                    event.target_id,
                    event.symbol,
                    event.reason,
                    event.detail,
                )
            elif isinstance(event, RiskEvent):
                log.error("RISK %s: %s %s", event.kind, event.detail, event.values)
            elif isinstance(event, OrderSubmitted):
                log.info(
                    "order %s %s %s %.8f (target %s)",
                    event.order_id,
                    event.side,
                    event.symbol,
                    event.qty,
                    event.target_id,
                )
            sockets.publish(self.socks.events, event)
        if self.live is not None:
            self.live.send_staged()  # only now: their OrderSubmitted entries are journaled

    def _on_hello(self, payload: bytes) -> None:
        sockets.publish_encoded(self.socks.events, wire.HELLO_TOPIC, payload)  # pass it on
        if not self._answered_hello:
            self.progress.joined()  # a restart rejoins: the replay must not wait for the past
            self._answered_hello = sockets.answer_hello(
                self.ctx, self.config.ready, self.config.name, timeout_s=2.0
            )
            # Said again now that the run's log collector is surely listening.
            log.info("executor class %s (%s) ready", *describe(self.engine.executor))

    def _finish(self) -> None:
        while self.waiting_ticks:  # the model is gone: the rest of the market still counts
            self._apply_tick(self.waiting_ticks.popleft())
        if self.live is not None:
            # Orders already at the venue still report; an unresolved one stays
            # in the journal for the next start's reconciliation.
            timings = self.live.timings
            if not self.live.close(timings.settle_s * 2 + timings.deadline_s):
                log.error("live orders still unresolved at exit; the next start reconciles them")
            self._on_venue_reports()
            self.live.reports.close()
        now_ns = time.time_ns()
        # Final positions at the market's event time, like every other position update.
        at_ns = self.engine.clock_ns or now_ns
        self._publish([b.position.snapshot(at_ns) for b in self.engine.books.values()])
        counters = {
            "ticks": self.ticks,
            "orders": self.engine.orders,
            "malformed": sum(self.malformed.values()),
            "breaker_activations": self.engine.risk.activations,
        }
        sockets.publish(self.socks.events, RunCounters(source="executor", counters=counters))
        eos = Eos(source="executor", last_seq=self.engine.last_seq, ts_ns=now_ns)
        sockets.publish(self.socks.events, eos)
        log.info(
            "executor done: %d orders, rejections %s, equity %.4f, malformed %s",
            self.engine.orders,
            dict(self.rejections),
            self.engine.equity(),
            dict(self.malformed),
        )

    def _count_malformed(self, reason: str, error: Exception | None) -> None:
        self.malformed[reason] += 1
        if self._malformed_warning.ready():
            log.warning("skipped malformed message (%s): %s", reason, error or "")


def describe(executor: OrderExecutor) -> tuple[str, str]:
    """The executor's class and mode, as the log and `result.json` name them."""
    if isinstance(executor, LiveOrderExecutor):
        return type(executor).__name__, f"LIVE via {executor.venue.provider}"
    return type(executor).__name__, "paper mode"


@dataclass
class Setup:
    """What `main` checks before any socket: the journal read back, the limits, the pairs."""

    state: JournalState
    journal: Journal
    risk: RiskEngine
    pairs: dict[str, PairRules]


def _prepare(config: ExecutorConfig) -> Setup:
    folder = config.run_dir or run_dir(DEFAULT_ARTIFACTS_DIR, new_run_id())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / JOURNAL_FILES["live" if config.live else "paper"]
    state = read_journal(path)
    limits = RiskLimits(
        max_order_notional=config.max_order_notional,
        max_position=config.max_position,
        max_loss=config.max_loss,
        max_orders_per_minute=config.max_orders_per_minute,
        price_band_bps=config.price_band_bps,
        stale_after_ms=config.stale_after_ms,
    )
    risk = RiskEngine(limits, tripped=state.breaker_tripped and not config.reset_breaker)
    pairs = load_pairs(config.pairs_file)
    return Setup(state, Journal(path, fsync=config.fsync), risk, pairs)


def _engine(ctx: zmq.Context, config: ExecutorConfig, setup: Setup) -> ExecutionEngine:
    executor: OrderExecutor
    if config.live:
        venue = make_venue(config, setup.pairs)
        executor = LiveOrderExecutor(venue, setup.pairs, ctx, config.live_timings)
    else:
        executor = PaperOrderExecutor(
            setup.pairs, latency_ms=config.latency_ms, taker_fee_bps=config.taker_fee_bps
        )
    engine = ExecutionEngine(setup.risk, executor)
    engine.restore(setup.state.fills, setup.state.target_ids, setup.state.orders)
    return engine


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = ExecutorConfig.from_args(argv, os.environ)
        setup = _prepare(config)
    except (ConfigError, JournalCorrupt) as e:
        print(f"executor: {e}", file=sys.stderr)
        return 2
    stop = install_stop_flag()
    with zmq.Context() as ctx:
        log_socket = setup_logging("executor", ctx, config.logs)
        engine: ExecutionEngine | None = None
        try:
            engine = _engine(ctx, config, setup)
            with (
                sockets.subscriber(
                    ctx, config.ticks, TICK_TOPICS, lossless=config.lossless
                ) as ticks,
                sockets.target_puller(ctx, config.targets, lossless=config.lossless) as targets,
                sockets.publisher(ctx, config.events, lossless=config.lossless) as events,
                sockets.progress_pusher(ctx, config.progress) as progress,
            ):
                live = engine.executor if isinstance(engine.executor, LiveOrderExecutor) else None
                log.info(
                    "executor: %s (%s), journal %s, %d orders restored, breaker %s",
                    *describe(engine.executor),
                    setup.journal.path,
                    engine.orders,
                    "TRIPPED" if engine.risk.tripped else "armed",
                )
                socks = Sockets(ticks, targets, events)
                reporter = ProgressReporter(progress, config.name)
                loop = ExecutorLoop(ctx, config, engine, setup.journal, socks, reporter, live)
                if live is not None:
                    loop._publish(
                        reconcile_at_start(
                            live, live.venue, engine, setup.state, config.symbols, setup.pairs
                        )
                    )
                    live.start()
                code = loop.run(stop)
                stay_until_stopped(stop, config.stay_after_eos)
                return code
        except ConfigError as e:
            print(f"executor: {e}", file=sys.stderr)
            return 2
        except (VenueError, VenueMismatch) as e:
            print(f"executor: live start-up reconciliation failed: {e}", file=sys.stderr)
            return 1
        finally:
            setup.journal.close()
            if engine is not None and isinstance(engine.executor, LiveOrderExecutor):
                # Idempotent after a clean finish; after an error, the worker and its
                # sockets must end too, or the context's end would wait for them.
                engine.executor.close(timeout_s=1.0)
                engine.executor.reports.close()
            if log_socket is not None:
                log_socket.close()


if __name__ == "__main__":
    sys.exit(main())
