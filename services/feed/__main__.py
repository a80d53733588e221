"""The feed service: ``python -m services.feed --use-ws`` or ``--replay FILE``.

Live (`--use-ws`): Kraken WS v2 books (CRC32-verified) and trades become quote
and trade ticks; every state change goes out on `feed.status`; a health HTTP
server answers on 127.0.0.1 unless `WS_DISABLE_HEALTH_SERVER=1`.
Replay (`--replay FILE`): the file's ticks go out through the same socket;
with `--expect`, not before every named subscriber has proven it receives.

With `--position-file` either writes how far it is, a few times a second, for
the runner's progress line (`services/feed/position.py`).

Both stop after `--max-ticks`, at the end of the file or on SIGINT/SIGTERM,
publish `eos` with the last sequence number and exit 0. Exit 2: bad
configuration or unreadable file header (one line, before any socket or
network call). Exit 1: a refused subscription, a damaged file mid-way or a
handshake timeout.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TypeAlias

import zmq

from common import sockets
from common.errors import ConfigError, HandshakeTimeout, TickFileCorrupt, TickFileHeaderError
from common.flow import ReplayWindow
from common.messages import Eos, FeedState, FeedStatus, RunCounters
from common.metrics import bind_or_fall_back
from common.service import Prepared, ServiceSpec, serve
from common.tickfile import TickFileReader
from services.feed.feed_config import FeedConfig
from services.feed.health import FeedHealth, counters_dict, start_health_server
from services.feed.position import PositionFile
from services.feed.replay import ReplayResult, replay
from venues.kraken.errors import SubscriptionRejected
from venues.kraken.pairs import PairRules
from venues.kraken.ws.client import ClientSettings, KrakenClient
from venues.kraken.ws.session import VENUE, Actions, KrakenSession

if TYPE_CHECKING:
    ZSocket: TypeAlias = zmq.Socket[bytes]
    ZContext: TypeAlias = zmq.Context[ZSocket]

log = logging.getLogger("services.feed")


@dataclass
class Source(Prepared):
    """The config and its source, checked before any socket: Kraken's pairs or the file."""

    config: FeedConfig
    pairs: dict[str, PairRules]
    reader: TickFileReader | None


class FeedLoop:
    """The handshake, then the replay or the live session, then `eos`."""

    def __init__(
        self,
        ctx: ZContext,
        source: Source,
        pub: ZSocket,
        window: ReplayWindow | None,
    ) -> None:
        self.ctx, self.source, self.pub, self.window = ctx, source, pub, window
        self.config = source.config
        self.health: FeedHealth | None = None  # a replay's, served from the start

    def run(self, stop: threading.Event) -> int:
        if self.config.expect and not _await_subscribers(self.ctx, self.config, self.pub, stop):
            return 1
        position = _position_file(self.config)
        if self.source.reader is not None:
            assert self.window is not None  # a replay always has its progress socket
            return _run_replay(
                self.config, self.source.reader, self.pub, self.window, stop, self.health, position
            )
        return LiveFeed(self.config, self.source.pairs, self.pub, position).run(stop)


class LiveFeed:
    """Kraken WS v2 through the session: every state change and tick goes out on the PUB."""

    def __init__(
        self,
        config: FeedConfig,
        pairs: dict[str, PairRules],
        pub: ZSocket,
        position: PositionFile | None = None,
    ) -> None:
        self.config, self.pub, self.position = config, pub, position
        self.session = KrakenSession(config.symbols, config.book_depth, pairs)
        self.health = FeedHealth(states={symbol: FeedState.DOWN for symbol in config.symbols})
        self.sent = 0
        self.last_seq = 0

    def run(self, stop: threading.Event) -> int:
        config = self.config
        serve_health(self.health, config)
        settings = ClientSettings(
            url=config.ws_url,
            depth=config.book_depth,
            watchdog_s=config.watchdog_s,
            stale_after_s=config.stale_after_s,
        )
        exit_code = 0
        try:
            asyncio.run(KrakenClient(settings, self.session, self.emit, stop).run())
        except SubscriptionRejected as e:
            log.error("%s", e)
            print(f"feed: {e}", file=sys.stderr)
            exit_code = 1
        if self.position is not None:
            self.position.write(self.last_seq)
        publish_end(self.pub, self.last_seq, {})
        log.info(
            "feed done: %d ticks, eos at seq %d, counters %s",
            self.sent,
            self.last_seq,
            counters_dict(self.session.counters),
        )
        return exit_code

    def emit(self, actions: Actions) -> bool:
        """Publish what the session decided; False once `--max-ticks` ticks are out."""
        max_ticks = self.config.max_ticks
        for symbol, state, detail in actions.states:
            self.health.states[symbol] = state
            log.info("%s %s: %s", symbol, state, detail)
            status = FeedStatus(
                venue=VENUE,
                symbol=symbol,
                state=state,
                detail=detail,
                counters=counters_dict(self.session.counters),
                ts_ns=time.time_ns(),
            )
            sockets.publish(self.pub, status)
        for tick in actions.ticks:
            if max_ticks is not None and self.sent >= max_ticks:
                break
            sockets.publish(self.pub, tick)
            self.sent, self.last_seq = self.sent + 1, tick.seq
            self.health.last_tick_ns[tick.symbol] = tick.recv_ts_ns
        self.health.counters = counters_dict(self.session.counters)
        if self.position is not None:
            self.position.note(self.last_seq)
        return max_ticks is None or self.sent < max_ticks


def _position_file(config: FeedConfig) -> PositionFile | None:
    return PositionFile(config.position_file) if config.position_file is not None else None


def serve_health(health: FeedHealth, config: FeedConfig) -> None:
    """The health server (and /metrics), unless switched off."""
    if config.disable_health or config.disable_metrics:
        return
    server = bind_or_fall_back(
        lambda port: start_health_server(health, config.health_host, port),
        config.health_port,
        "--health-port",
    )
    log.info("health server on http://%s:%d", config.health_host, server.server_port)


def publish_end(pub: ZSocket, last_seq: int, rejected: dict[str, int]) -> None:
    """The feed's counters (the input it refused, for result.json), then its `eos`."""
    rejected = rejected | {"unauthenticated": sockets.refused_peers(pub.context)}
    sockets.publish(pub, RunCounters(source="feed", counters=rejected))
    sockets.publish(pub, Eos(source="feed", last_seq=last_seq, ts_ns=time.time_ns()))


def _configure(argv: Sequence[str] | None, environ: Mapping[str, str]) -> Source:
    config = FeedConfig.from_args(argv, environ)
    pairs = config.pair_rules() if config.use_ws else {}
    reader = TickFileReader(config.replay) if config.replay is not None else None
    return Source(config, pairs, reader)


def _open(ctx: ZContext, source: Source, resources: ExitStack) -> FeedLoop:
    config = source.config
    if source.reader is not None:
        resources.enter_context(source.reader)  # closed however the run ends
    pub = resources.enter_context(
        sockets.publisher(ctx, config.pub, lossless=source.reader is not None)
    )
    window = None
    if source.reader is not None:
        # Bound before the handshake, so subscribers' "joined" reports are in time.
        window = ReplayWindow(
            resources.enter_context(sockets.progress_puller(ctx, config.progress))
        )
    loop = FeedLoop(ctx, source, pub, window)
    if source.reader is not None:  # every symbol replaying; the tick count once it is done
        symbols = source.reader.header.symbols
        loop.health = FeedHealth(states={symbol: FeedState.REPLAYING for symbol in symbols})
        serve_health(loop.health, config)
    return loop


SPEC: Final = ServiceSpec(
    name="feed",
    configure=_configure,
    open=_open,
    usage_errors=(ConfigError, TickFileHeaderError),
)


def main(argv: Sequence[str] | None = None) -> int:
    return serve(SPEC, argv)


def _await_subscribers(
    ctx: zmq.Context, config: FeedConfig, pub: zmq.Socket, stop: threading.Event
) -> bool:
    """The readiness handshake: no tick before every `--expect` name receives."""
    try:
        with sockets.ready_replier(ctx, config.ready) as ready:
            if not sockets.wait_for_subscribers(
                pub,
                ready,
                config.expect,
                source="feed",
                timeout_s=config.handshake_timeout_s,
                stop=stop,
            ):
                log.info("stopped before the subscribers were ready")
                sockets.publish(pub, Eos(source="feed", last_seq=0, ts_ns=time.time_ns()))
                return False
    except HandshakeTimeout as e:
        log.error("not started: %s", e)
        print(f"feed: not started: {e}", file=sys.stderr)
        return False
    log.info("subscribers ready: %s", ", ".join(config.expect))
    return True


def _run_replay(
    config: FeedConfig,
    reader: TickFileReader,
    pub: zmq.Socket,
    window: ReplayWindow,
    stop: threading.Event,
    health: FeedHealth | None,
    position: PositionFile | None = None,
) -> int:
    status = FeedStatus(
        venue=reader.header.venue,
        symbol=None,
        state=FeedState.REPLAYING,
        # The state already says "replaying": the detail is what and how.
        detail=f"{config.replay} at speed {config.speed:g}"
        + (f", {config.replay_batch} ticks per message" if config.replay_batch > 1 else ""),
        ts_ns=time.time_ns(),
    )
    sockets.publish(pub, status)
    log.info("%s %s (%s)", status.state, status.detail, reader.header.source)
    result = ReplayResult()
    exit_code = 0
    try:
        result = replay(
            reader.record_chunks(),
            pub,
            speed=config.speed,
            max_ticks=config.max_ticks,
            stop=stop,
            window=window,
            batch=config.replay_batch,
            unpaced=config.catch_up_ticks,
            position=position,
        )
    except TickFileCorrupt as e:
        log.error("replay cut short: %s", e)
        result.sent = result.last_seq = e.good_records
        exit_code = 1
    if health is not None:
        health.counters = {"ticks": result.sent}
    if position is not None:  # before the eos: the runner's last look may come right after it
        position.write(result.last_seq)
    # The recorder labels latency as queueing when ticks were sent unpaced.
    pacing = {"full_speed_replay": int(config.speed == 0)}
    publish_end(pub, result.last_seq, {"malformed": window.malformed} | pacing)
    log.info("replay done: %d ticks sent, eos at seq %d", result.sent, result.last_seq)
    log.info(
        "flow control: held back %d times for %s; %d malformed progress messages ignored",
        window.holds,
        ", ".join(f"{name} (at {seq})" for name, seq in sorted(window.reached.items()))
        or "nobody (no subscriber reported progress)",
        window.malformed,
    )
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
