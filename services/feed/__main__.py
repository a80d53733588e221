"""The feed service: ``python -m services.feed --replay FILE [--speed 0] [--expect model]``.

Publishes ticks on the market-data socket, then `eos` with the last sequence
number, and exits 0 (also on SIGINT/SIGTERM, after a clean `eos`). With
`--expect`, no tick goes out before every named subscriber has proven it
receives (readiness handshake). Exit 2 on bad configuration or an unreadable
file header; exit 1 when the file turns out damaged mid-way (everything good
before the damage was sent, then `eos`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Sequence

import zmq

from common import sockets, wire
from common.errors import ConfigError, HandshakeTimeout, TickFileCorrupt, TickFileHeaderError
from common.logs import setup_logging
from common.messages import Eos, FeedState, FeedStatus
from common.signals import install_stop_flag
from common.tickfile import TickFileReader
from services.feed.feed_config import FeedConfig
from services.feed.replay import ReplayResult, replay

log = logging.getLogger("services.feed")


def _publish(pub: zmq.Socket, message: Eos | FeedStatus) -> None:
    pub.send(wire.topic(message), zmq.SNDMORE)
    pub.send(wire.encode(message))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = FeedConfig.from_args(argv, os.environ)
        reader = TickFileReader(config.replay or "")
    except (ConfigError, TickFileHeaderError) as e:
        print(f"feed: {e}", file=sys.stderr)
        return 2
    stop = install_stop_flag()
    venue = reader.header.venue
    with reader, zmq.Context() as ctx:
        log_socket = setup_logging("feed", ctx, config.logs)
        try:
            with sockets.publisher(ctx, config.pub, lossless=True) as pub:
                if config.expect:
                    with sockets.ready_replier(ctx, config.ready) as ready:
                        sockets.wait_for_subscribers(
                            pub, ready, config.expect, source="feed",
                            timeout_s=config.handshake_timeout_s,
                        )
                    log.info("subscribers ready: %s", ", ".join(config.expect))
                return _run_replay(config, reader, pub, venue, stop)
        except ConfigError as e:
            print(f"feed: {e}", file=sys.stderr)
            return 2
        except HandshakeTimeout as e:
            log.error("replay not started: %s", e)
            return 1
        finally:
            if log_socket is not None:
                log_socket.close()


def _run_replay(
    config: FeedConfig,
    reader: TickFileReader,
    pub: zmq.Socket,
    venue: str,
    stop: threading.Event,
) -> int:
    status = FeedStatus(
        venue=venue, symbol=None, state=FeedState.REPLAYING,
        detail=f"replaying {config.replay} at speed {config.speed:g}", ts_ns=time.time_ns(),
    )
    _publish(pub, status)
    log.info("%s (%s)", status.detail, reader.header.source)
    result = ReplayResult()
    exit_code = 0
    try:
        result = replay(reader, pub, speed=config.speed, max_ticks=config.max_ticks, stop=stop)
    except TickFileCorrupt as e:
        log.error("replay cut short: %s", e)
        result.sent = result.last_seq = e.good_records
        exit_code = 1
    _publish(pub, Eos(source="feed", last_seq=result.last_seq, ts_ns=time.time_ns()))
    log.info("replay done: %d ticks sent, eos at seq %d", result.sent, result.last_seq)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
