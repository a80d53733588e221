"""The feed service: ``python -m services.feed --use-ws`` or ``--replay FILE``.

Live (`--use-ws`): Kraken WS v2 books (CRC32-verified) and trades become quote
and trade ticks; every state change goes out on `feed.status`; a health HTTP
server answers on 127.0.0.1 unless `WS_DISABLE_HEALTH_SERVER=1`.
Replay (`--replay FILE`): the file's ticks go out through the same socket;
with `--expect`, not before every named subscriber has proven it receives.

Both stop after `--max-ticks`, at the end of the file or on SIGINT/SIGTERM,
publish `eos` with the last sequence number and exit 0. Exit 2: bad
configuration or unreadable file header (one line, before any socket or
network call). Exit 1: a refused subscription, a damaged file mid-way or a
handshake timeout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import nullcontext

import zmq

from common import sockets
from common.errors import ConfigError, HandshakeTimeout, TickFileCorrupt, TickFileHeaderError
from common.flow import ReplayWindow
from common.logs import setup_logging
from common.messages import Eos, FeedState, FeedStatus
from common.signals import install_stop_flag, stay_until_stopped
from common.tickfile import TickFileReader
from services.feed.feed_config import FeedConfig
from services.feed.health import FeedHealth, counters_dict, start_health_server
from services.feed.replay import ReplayResult, replay
from venues.kraken.errors import SubscriptionRejected
from venues.kraken.pairs import PairRules
from venues.kraken.ws.client import ClientSettings, KrakenClient
from venues.kraken.ws.session import VENUE, Actions, KrakenSession

log = logging.getLogger("services.feed")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = FeedConfig.from_args(argv, os.environ)
        pairs = config.pair_rules() if config.use_ws else {}
        reader = TickFileReader(config.replay) if config.replay is not None else None
    except (ConfigError, TickFileHeaderError) as e:
        print(f"feed: {e}", file=sys.stderr)
        return 2
    stop = install_stop_flag()
    with zmq.Context() as ctx:
        log_socket = setup_logging("feed", ctx, config.logs)
        try:
            with (
                sockets.publisher(ctx, config.pub, lossless=reader is not None) as pub,
                # Bound before the handshake, so subscribers' "joined" reports are in time.
                sockets.progress_puller(ctx, config.progress)
                if reader
                else nullcontext() as progress,
            ):
                if config.expect and not _await_subscribers(ctx, config, pub, stop):
                    return 1
                if reader is not None:
                    with reader:
                        code = _run_replay(config, reader, pub, ReplayWindow(progress), stop)
                else:
                    code = _run_live(config, pairs, pub, stop)
                stay_until_stopped(stop, config.stay_after_eos)
                return code
        except ConfigError as e:
            print(f"feed: {e}", file=sys.stderr)
            return 2
        finally:
            if log_socket is not None:
                log_socket.close()


def _run_live(
    config: FeedConfig, pairs: dict[str, PairRules], pub: zmq.Socket, stop: threading.Event
) -> int:
    session = KrakenSession(config.symbols, config.book_depth, pairs)
    health = FeedHealth(states={symbol: FeedState.DOWN for symbol in config.symbols})
    if not config.disable_health:
        try:
            server = start_health_server(health, config.health_host, config.health_port)
        except OSError as e:
            raise ConfigError(f"--health-port {config.health_port}: {e.strerror}") from None
        log.info("health server on http://%s:%d", config.health_host, server.server_port)
    sent = 0
    last_seq = 0

    def emit(actions: Actions) -> bool:
        nonlocal sent, last_seq
        for symbol, state, detail in actions.states:
            health.states[symbol] = state
            log.info("%s %s: %s", symbol, state, detail)
            sockets.publish(
                pub,
                FeedStatus(
                    venue=VENUE,
                    symbol=symbol,
                    state=state,
                    detail=detail,
                    counters=counters_dict(session.counters),
                    ts_ns=time.time_ns(),
                ),
            )
        for tick in actions.ticks:
            if config.max_ticks is not None and sent >= config.max_ticks:
                break
            sockets.publish(pub, tick)
            sent, last_seq = sent + 1, tick.seq
            health.last_tick_ns[tick.symbol] = tick.recv_ts_ns
        health.counters = counters_dict(session.counters)
        return config.max_ticks is None or sent < config.max_ticks

    settings = ClientSettings(
        url=config.ws_url,
        depth=config.book_depth,
        watchdog_s=config.watchdog_s,
        stale_after_s=config.stale_after_s,
    )
    exit_code = 0
    try:
        asyncio.run(KrakenClient(settings, session, emit, stop).run())
    except SubscriptionRejected as e:
        log.error("%s", e)
        print(f"feed: {e}", file=sys.stderr)
        exit_code = 1
    sockets.publish(pub, Eos(source="feed", last_seq=last_seq, ts_ns=time.time_ns()))
    log.info(
        "feed done: %d ticks, eos at seq %d, counters %s",
        sent,
        last_seq,
        counters_dict(session.counters),
    )
    return exit_code


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
) -> int:
    status = FeedStatus(
        venue=reader.header.venue,
        symbol=None,
        state=FeedState.REPLAYING,
        detail=f"replaying {config.replay} at speed {config.speed:g}"
        + (f", {config.replay_batch} ticks per message" if config.replay_batch > 1 else ""),
        ts_ns=time.time_ns(),
    )
    sockets.publish(pub, status)
    log.info("%s (%s)", status.detail, reader.header.source)
    result = ReplayResult()
    exit_code = 0
    try:
        result = replay(
            reader.records(),
            pub,
            speed=config.speed,
            max_ticks=config.max_ticks,
            stop=stop,
            window=window,
            batch=config.replay_batch,
        )
    except TickFileCorrupt as e:
        log.error("replay cut short: %s", e)
        result.sent = result.last_seq = e.good_records
        exit_code = 1
    sockets.publish(pub, Eos(source="feed", last_seq=result.last_seq, ts_ns=time.time_ns()))
    log.info("replay done: %d ticks sent, eos at seq %d", result.sent, result.last_seq)
    log.info(
        "flow control: held back %d times for %s",
        window.holds,
        ", ".join(f"{name} (at {seq})" for name, seq in sorted(window.reached.items()))
        or "nobody (no subscriber reported progress)",
    )
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
