"""The executor service: ``python -m services.executor [--run-dir DIR]``.

Binds the targets PULL (so it can be stopped and restarted while the others
run) and the execution-events PUB; subscribes to ticks. Every order goes
through the risk engine, then the `PaperOrderExecutor` or, past every opt-in
of the live gate, the `LiveOrderExecutor` (ccxt or krakenex), which first
reconciles with the venue (`reconcile.py`). Every order, fill,
rejection, risk event and position is journaled (flushed) and then published.
On start it rebuilds positions, PnL and the breaker from the journal in the
run directory; a resumed replay (`--resume` with `--lossless`) starts blank
instead and re-executes the file against the journal (`resume.py`): what
the journal already holds is not journaled, published or ordered again.
It finishes on the model's `eos` (or once the feed has ended and the model
stayed silent `--drain-timeout-s`), publishes `eos`, exits 0.
With `--lossless` (replay) ticks wait for the model's watermark, so every
replay of a file meets the same targets at the same ticks. Paper and live keep
separate journals (`executor.journal`, `executor-live.journal`): a live
executor never inherits paper positions. Exit 2: bad configuration, a live
request without every opt-in, or a damaged journal; exit 1: the venue refused
the start-up reconciliation (credentials, a balance the journal cannot explain),
or the journal could not be written (a full disk), or a resumed replay
diverged from its journal: then one line names the file (or the journal
entry) and why, nothing more is ordered, and counters and `eos` still go out.

With `--shadow` (live, every opt-in) orders go live at the pair's minimum size
and each is also a paper twin's order, its fills in `executor-shadow.journal`,
never in the positions (`shadow.py`).
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Final, TypeAlias

import zmq

from common import sockets, wire
from common.errors import ConfigError, JournalCorrupt, JournalWriteFailed
from common.journal import (
    ACCOUNT_OPENED,
    JOURNAL_FILES,
    SESSION_STARTED,
    SESSION_TRADING,
    SHADOW_JOURNAL,
    Journal,
    JournalState,
    opening_balances,
    read_entries,
    read_journal,
)
from common.logs import counts_text
from common.messages import (
    Eos,
    Fill,
    Message,
    OrderCancelled,
    OrderRejected,
    RiskEvent,
    RunCounters,
    Tick,
)
from common.metrics import serve_metrics
from common.runs import DEFAULT_ARTIFACTS_DIR, new_run_id, run_dir
from common.service import Inbox, Prepared, ServiceSpec, StartupFailed, serve
from services.executor.account import SpotAccount, balances_of
from services.executor.engine import Event, ExecutionEngine
from services.executor.errors import ResumeDiverged, VenueMismatch
from services.executor.executor_config import ExecutorConfig
from services.executor.live import LiveOrderExecutor
from services.executor.metrics import CountedVenue, ExecutorMetrics
from services.executor.order_executor import OrderExecutor
from services.executor.outbox import Outbox
from services.executor.paper import PaperOrderExecutor
from services.executor.providers import make_venue
from services.executor.quantities import exact
from services.executor.reconcile import reconcile_at_start
from services.executor.resume import Resumption
from services.executor.risk import RiskEngine
from services.executor.sequencer import Sequencer
from services.executor.shadow import PaperTwin, ShadowLiveExecutor
from venues.errors import VenueError
from venues.kraken.pairs import PairRules, load_pairs
from venues.kraken.rate_limits import KrakenRateLimits, RateLimitTier

if TYPE_CHECKING:
    ZSocket: TypeAlias = zmq.Socket[bytes]
    ZContext: TypeAlias = zmq.Context[ZSocket]

log = logging.getLogger("services.executor")

POLL_MS: Final = 100
MARKET_FRAMES_PER_TURN: Final = 256  # then look at targets: neither stream starves the other
TARGET_FRAMES_PER_TURN: Final = 256  # likewise; and a turn's events wait for its end
TICK_TOPICS: Final = (wire.TICK_PREFIX, wire.EOS_TOPIC, wire.FEED_STATUS_TOPIC, wire.HELLO_TOPIC)


class ExecutorLoop:
    """Moves bytes between the sockets and the `Sequencer`; every rule lives there."""

    def __init__(
        self,
        sequencer: Sequencer,
        outbox: Outbox,
        inbox: Inbox,
        ticks: ZSocket,
        targets: ZSocket,
        live: LiveOrderExecutor | None,
        resumption: Resumption | None = None,
    ) -> None:
        self.sequencer, self.outbox, self.inbox = sequencer, outbox, inbox
        self.ticks, self.targets, self.live = ticks, targets, live
        self.engine = sequencer.engine
        self.resumption = resumption
        self.stopped_midstream = False  # by a signal, before every model's eos

    def run(self, stop: threading.Event) -> int:
        try:
            self._trade(stop)
            self._finish(stopped=stop.is_set())
        except (JournalWriteFailed, ResumeDiverged) as e:
            return self._halt(e)
        return 0

    def _emit(self, events: list[Event]) -> None:
        """To the outbox; a resumed replay first drops what its journal already holds."""
        if self.resumption is None:
            self.outbox.emit(events)
        else:
            self.outbox.emit(self.resumption.screen(events))

    def _trade(self, stop: threading.Event) -> None:
        self._emit(self.sequencer.on_backlog(list(self.inbox.frames(self.targets)), _now()))
        poller = zmq.Poller()
        poller.register(self.ticks, zmq.POLLIN)
        poller.register(self.targets, zmq.POLLIN)
        if self.live is not None:
            poller.register(self.live.reports, zmq.POLLIN)
        while not stop.is_set():
            ready = dict(poller.poll(POLL_MS))
            if self.live is not None and self.live.reports in ready:
                self._on_venue_reports()
            # A message with nothing to say (most ticks wait for the watermark) is
            # not emitted: the outbox's timed lines run on the emit every turn ends with.
            if self.ticks in ready:
                self._on_market()
            if self.targets in ready:
                # The turn's targets' events in one emit: one journal write, and
                # one message for each run of one topic (`wire.event_frames`).
                events: list[Event] = []
                for message in islice(self.inbox.frames(self.targets), TARGET_FRAMES_PER_TURN):
                    events += self.sequencer.on_model(message, _now(), time.monotonic())
                if events:
                    self._emit(events)
            if self.sequencer.finished(time.monotonic()):
                break
            self._emit(self.sequencer.on_idle(_now()))
            self.inbox.progress.idle()

    def _on_market(self) -> None:
        """This turn's market messages; single ticks in a row go to the sequencer together.

        Their events go out in one emit, as the targets' do.
        """
        ticks: list[Tick] = []
        events: list[Event] = []
        for message, _ in self.inbox.messages(self.ticks, "market", MARKET_FRAMES_PER_TURN):
            if type(message) is Tick:
                ticks.append(message)
                continue
            if ticks:
                events += self.sequencer.on_ticks(ticks, _now())
                ticks = []
            events += self.sequencer.on_market(message, _now())
        if ticks:
            events += self.sequencer.on_ticks(ticks, _now())
        if events:
            self._emit(events)

    def _on_venue_reports(self) -> None:
        """The live venue's fills, refusals and halts, from the worker thread."""
        assert self.live is not None  # only polled when live
        while True:
            try:
                report = wire.decode(self.live.reports.recv(zmq.NOBLOCK))
            except zmq.Again:
                return
            if isinstance(report, (Fill, OrderRejected, OrderCancelled, RiskEvent)):
                self._emit(self.engine.on_venue_report(report))

    def _finish(self, *, stopped: bool) -> None:
        if self.resumption is not None and not stopped:
            self.resumption.check_complete()  # the whole replay ran: all of the journal re-derived
        if self.live is not None:
            # Orders already at the venue still report; an unresolved one stays
            # in the journal for the next start's reconciliation.
            timings = self.live.timings
            if not self.live.close(timings.settle_s * 2 + timings.deadline_s):
                log.error("live orders still unresolved at exit; the next start reconciles them")
            self._on_venue_reports()
        self._emit(self.sequencer.finish(_now(), stopped=stopped))
        self.outbox.close()
        self.stopped_midstream = stopped and self.sequencer.model_eos_at is None
        # The summary before the eos: the recorder ends the run on the last eos.
        log.info(
            "executor done: %d orders and rejections, rejections by reason: %s; equity %.4f; "
            "malformed input: %s",
            self.engine.orders,
            counts_text(self.outbox.rejections),
            self.engine.equity(),
            counts_text(self.inbox.malformed),
        )
        self._send_end()

    def _halt(self, error: JournalWriteFailed | ResumeDiverged) -> int:
        """No order after this: say why, end the stream, exit 1.

        The journal takes nothing more, or a resumed replay is not the run its
        journal records. The event that failed is not in the book of record,
        so it was not published; what is published from here on (counters,
        eos) is not journaled.
        """
        log.error("halted, no order after this: %s", error)
        if self.live is not None:
            # Staged orders were never journaled as sent: they must not reach the venue.
            self.live.drop_staged()
            timings = self.live.timings
            self.live.close(timings.settle_s * 2 + timings.deadline_s)
            # Reports that arrive now cannot be journaled: the next start reconciles them.
        self._send_end(journal_write_failed=1)
        return 1

    def _send_end(self, **extra: int) -> None:
        """The executor's counters, then its eos: the recorder can write result.json."""
        counters = {
            "ticks": self.sequencer.ticks,
            "orders": self.engine.orders,
            "targets_met": self.engine.targets_met,
            **self.inbox.rejected(),
            "unexpected_source": self.sequencer.unexpected_source,
            "breaker_activations": self.engine.risk.activations,
            "cancels_sent": self.engine.cancels_sent,
            "cancels_deferred": self.engine.cancels_deferred,
            **extra,
        }
        self.outbox.send([RunCounters(source="executor", counters=counters)])
        if self.stopped_midstream:
            # Stopped before its models ended (a swap, an interrupted run): the
            # stream goes on without it, and the recorder must keep listening for
            # the executor that takes over, so no `eos` from this one.
            return
        self.outbox.send([Eos(source="executor", last_seq=self.engine.last_seq, ts_ns=_now())])


def _now() -> int:
    return time.time_ns()


def describe(executor: OrderExecutor) -> tuple[str, str]:
    """The executor's class and mode, as the log and `result.json` name them."""
    if isinstance(executor, LiveOrderExecutor):
        return type(executor).__name__, f"LIVE via {executor.venue.provider}"
    return type(executor).__name__, "paper mode"


@dataclass
class Setup(Prepared):
    """What is checked before any socket: the journal read back, the limits, the pairs."""

    config: ExecutorConfig
    state: JournalState
    journal: Journal
    risk: RiskEngine
    pairs: dict[str, PairRules]
    resumption: Resumption | None  # a resumed replay: re-executed against the journal
    opening_balances: dict[str, float] | None  # paper: the run's journaled starting balances
    shadow_journal: Journal | None = None  # --shadow: the paper twin's book (shadow.py)


def prepare(config: ExecutorConfig) -> Setup:
    """The run's folder, its journal opened and read back, the risk engine and pair rules."""
    folder = config.run_dir or run_dir(DEFAULT_ARTIFACTS_DIR, new_run_id())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / JOURNAL_FILES["live" if config.live else "paper"]
    resumption = None
    if config.resume and config.lossless:  # a replay: start blank, derive it all again
        entries = read_entries(path)
        resumption = Resumption(entries)
        state = JournalState()
        opening = opening_balances(entries)
    else:  # live, or a restart within a run: rebuild from the journal
        state = read_journal(path)
        opening = state.opening_balances
    risk = RiskEngine(
        config.risk_limits, tripped=state.breaker_tripped and not config.reset_breaker
    )
    pairs = load_pairs(config.pairs_file)
    journal = Journal(path, fsync=config.fsync)
    shadow_journal = Journal(folder / SHADOW_JOURNAL) if config.shadow else None
    return Setup(config, state, journal, risk, pairs, resumption, opening, shadow_journal)


def build_engine(ctx: zmq.Context, config: ExecutorConfig, setup: Setup) -> ExecutionEngine:
    """The execution engine this configuration runs (also what `bench.executor_targets` drives)."""
    executor: OrderExecutor
    account = None
    tier = config.rate_limit_tier
    if config.live:  # the venue keeps the live account: reconcile.py checks it at start
        venue = CountedVenue(make_venue(config, setup.pairs))  # counted for /metrics
        # Its own counter on the wall clock paces every call it makes.
        pacer = None if tier is None else KrakenRateLimits(tier)
        if setup.shadow_journal is not None:  # --shadow: minimum size, and a paper twin
            twin = PaperTwin(_paper_executor(config, setup.pairs), setup.shadow_journal.append)
            executor = ShadowLiveExecutor(
                venue, setup.pairs, ctx, config.live_timings, pacer, twin=twin
            )
        else:
            executor = LiveOrderExecutor(venue, setup.pairs, ctx, config.live_timings, pacer)
    else:
        executor = _paper_executor(config, setup.pairs)
        account = _paper_account(config, setup.opening_balances)
    # Paper and live admit orders through the same model, on the orders' event time.
    rate_limits = None if tier is None else restored_rate_limits(tier, setup.state)
    engine = ExecutionEngine(
        setup.risk,
        executor,
        account=account,
        rate_limits=rate_limits,
        style=config.execution_style,
    )
    # Paper orders end with the run: their unfilled rest is cancelled (`stop`) at its end.
    engine.cancel_at_stop = not config.live
    engine.restore(setup.state.fills, setup.state.target_ids, setup.state.orders)
    return engine


def _paper_executor(config: ExecutorConfig, pairs: dict[str, PairRules]) -> PaperOrderExecutor:
    """Paper fills with the run's latency and fee settings (a paper run's, a shadow twin's)."""
    return PaperOrderExecutor(
        pairs,
        latency_ms=config.latency_ms,
        taker_fee_bps=config.taker_fee,
        maker_fee_bps=config.maker_fee_bps,
        latency_jitter_ms=config.latency_jitter_ms,
        latency_seed=config.latency_seed,
    )


def _paper_account(config: ExecutorConfig, journaled: dict[str, float] | None) -> SpotAccount:
    """The spot account: the run's journaled starting balances win over --balances."""
    fee_rate = config.taker_fee_rate
    if journaled is None:
        return SpotAccount(balances_of(config.balances), fee_rate, margin=config.margin)
    opening = {asset: exact(amount) for asset, amount in journaled.items()}
    if opening != balances_of(config.balances):
        log.warning("starting balances from the run's journal, not --balances: %s", journaled)
    return SpotAccount(opening, fee_rate, margin=config.margin)


def restored_rate_limits(tier: RateLimitTier, state: JournalState) -> KrakenRateLimits:
    """Kraken's counters with the journal's orders counted again, in their event-time order:
    after a restart, Kraken still remembers them (and a replay resumed in place must too)."""
    limits = KrakenRateLimits(tier)
    for progress in sorted(state.progress.values(), key=lambda p: p.order.ts_ns):
        limits.charge_order(progress.order.symbol, progress.order.ts_ns)
    return limits


def _configure(argv: Sequence[str] | None, environ: Mapping[str, str]) -> Setup:
    return prepare(ExecutorConfig.from_args(argv, environ))


def _open(ctx: ZContext, setup: Setup, resources: ExitStack) -> ExecutorLoop:
    """Open the executor's sockets and its venue; reconcile a live account before any order."""
    config = setup.config
    resources.callback(setup.journal.close)
    if setup.shadow_journal is not None:
        resources.callback(setup.shadow_journal.close)
    engine = build_engine(ctx, config, setup)
    live = engine.executor if isinstance(engine.executor, LiveOrderExecutor) else None
    if live is not None:
        # Idempotent after a clean finish; after an error, the worker and its
        # sockets must end too, or the context's end would wait for them.
        resources.callback(live.reports.close)
        resources.callback(live.close, 1.0)
    ticks = resources.enter_context(
        sockets.subscriber(ctx, config.ticks, TICK_TOPICS, lossless=config.lossless)
    )
    targets = resources.enter_context(
        sockets.target_puller(ctx, config.targets, lossless=config.lossless)
    )
    events = resources.enter_context(
        sockets.publisher(ctx, config.events, lossless=config.lossless)
    )
    progress = resources.enter_context(sockets.progress_pusher(ctx, config.progress))
    # Logged before the recorder may hear it: the log handler holds it until it does.
    log.info(
        "executor: %s (%s), journal %s, %d orders restored, breaker %s",
        *describe(engine.executor),
        setup.journal.path,
        engine.orders,
        "TRIPPED" if engine.risk.tripped else "armed",
    )
    style = config.execution_style
    log.info(
        "executor: execution %s (offset %g bps / %d ticks, requote past %g bps)",
        style.kind,
        style.offset_bps,
        style.offset_ticks,
        style.requote_bps,
    )
    log.info(
        "executor: fees maker %g / taker %g bps (30-day volume %g USD); Kraken rate limits: %s",
        config.maker_fee_bps,
        config.taker_fee,
        config.fee_30d_volume,
        config.rate_limit_tier or "off",
    )
    if setup.shadow_journal is not None:
        log.info(
            "shadow mode: live orders at the pair's minimum size, each also filled by a paper "
            "twin (latency %g ms + jitter %g ms, maker %g / taker %g bps) into %s",
            config.latency_ms,
            config.latency_jitter_ms,
            config.maker_fee_bps,
            config.taker_fee,
            setup.shadow_journal.path,
        )
    detail = "{} ({})".format(*describe(engine.executor))
    if setup.resumption is not None:
        detail += f", resumed: re-executing {setup.resumption.entries} journal entries"
        log.info("resuming a replay: %d journal entries to re-derive", setup.resumption.entries)
    # The journal's session mark: orchestration.ledger splits a run's book by it.
    _mark(setup.journal, SESSION_STARTED, engine, detail)
    if engine.account is not None and setup.opening_balances is None:
        # The run's first paper executor: its starting balances, kept once for the run.
        kind = "margin account" if engine.account.margin else "spot account"
        _mark(setup.journal, ACCOUNT_OPENED, engine, kind, engine.account.opening())
    inbox = Inbox(
        ctx,
        name=config.name,
        ready_addr=config.ready,
        progress=progress,
        forward_hello=(events,),
        on_ready=lambda: log.info("executor class %s (%s) ready", *describe(engine.executor)),
    )
    metrics = ExecutorMetrics(engine, mode=describe(engine.executor)[1])
    if not config.disable_metrics:
        serve_metrics(
            metrics.collect,
            host=config.metrics_host,
            port=config.metrics_port,
            allow_remote=config.allow_remote,
        )
    publish = metrics.observe(functools.partial(sockets.publish_events, events))
    if isinstance(engine.executor, ShadowLiveExecutor):
        publish = _shadowed(publish, engine.executor.twin)
    outbox = Outbox(
        setup.journal,
        publish,
        live.send_staged if live is not None else None,
        clock=time.monotonic,
    )
    metrics.read_refusals(outbox)
    sequencer = Sequencer(
        engine,
        follow_model=config.lossless,
        drain_timeout_s=config.drain_timeout_s,
        now_s=time.monotonic(),
        models=frozenset(config.models),
        on_applied=inbox.progress.handled,
    )
    if live is not None:
        try:
            outbox.emit(
                reconcile_at_start(
                    live, live.venue, engine, setup.state, config.symbols, setup.pairs
                )
            )
        except (VenueError, VenueMismatch) as e:
            raise StartupFailed(f"live start-up reconciliation failed: {e}") from e
        live.start()
    _mark(setup.journal, SESSION_TRADING, engine, detail)
    return ExecutorLoop(sequencer, outbox, inbox, ticks, targets, live, setup.resumption)


def _shadowed(
    publish: Callable[[Sequence[Message]], None], twin: PaperTwin
) -> Callable[[Sequence[Message]], None]:
    """Publish, and give the twin every journaled event: each live order becomes its order too."""

    def send(events: Sequence[Message]) -> None:
        for event in events:
            twin.on_event(event)
        publish(events)

    return send


def _mark(
    journal: Journal,
    kind: str,
    engine: ExecutionEngine,
    detail: str,
    values: dict[str, float] | None = None,
) -> None:
    """Journal a session mark (never published): orchestration reads the journal's sessions."""
    mark = RiskEvent(
        kind=kind,
        symbol=None,
        detail=detail,
        # By default the limits in force, for result.json.
        values=engine.risk.limit_values() if values is None else values,
        ts_ns=time.time_ns(),
    )
    try:
        journal.append(mark)
    except JournalWriteFailed as e:  # a full disk before the first order: nothing to halt
        raise StartupFailed(f"cannot start: {e}") from e


SPEC: Final = ServiceSpec(
    name="executor",
    configure=_configure,
    open=_open,
    usage_errors=(ConfigError, JournalCorrupt),
)


def main(argv: Sequence[str] | None = None) -> int:
    return serve(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
