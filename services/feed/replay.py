"""Replay a tick file through the feed's socket, so consumers cannot tell it from live.

Each tick is re-numbered (`seq` gap-free from 1 within this run); its
timestamps and market fields are kept exactly as recorded. Keeping
`recv_ts_ns` makes every event-time decision downstream (target expiry by
tick time, paper fill latency) the same on every replay of a file; the
pipeline's own wall-clock latency is measured where messages arrive, not
from these stamps. `speed` 1 keeps the recorded pacing (by recorded receive
time), 2 twice as fast, 0 as fast as the sockets allow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec
import zmq

from common import sockets, wire
from common.flow import ReplayWindow
from common.messages import Tick


@dataclass
class ReplayResult:
    sent: int = 0
    last_seq: int = 0


def replay(
    records: Iterable[tuple[Tick, bytes]],
    pub: zmq.Socket,
    *,
    speed: float,
    max_ticks: int | None,
    stop: threading.Event,
    window: ReplayWindow | None = None,
) -> ReplayResult:
    """Publish ticks until the file ends, `max_ticks` went out, or `stop` is set.

    `records` are ticks with their wire bytes (`TickFileReader.records`): a
    tick whose seq is already the run's goes out as read, without re-encoding.
    With a `window` (lossless replays) no tick goes out further ahead of the
    slowest subscriber than the window allows (`common.flow`).
    """
    result = ReplayResult()
    first_recorded_ns: int | None = None
    started = time.monotonic()
    replace = msgspec.structs.replace
    for tick, payload in records:
        if stop.is_set() or (max_ticks is not None and result.sent >= max_ticks):
            break
        if speed > 0:
            if first_recorded_ns is None:
                first_recorded_ns = tick.recv_ts_ns
            due = started + (tick.recv_ts_ns - first_recorded_ns) / 1e9 / speed
            delay = due - time.monotonic()
            if delay > 0 and stop.wait(delay):  # pacing; returns early on a stop
                break
        if window is not None and not window.wait_for_room(result.last_seq + 1, stop):
            break
        result.last_seq += 1
        if tick.seq != result.last_seq:
            tick = replace(tick, seq=result.last_seq)
            payload = wire.encode(tick)
        sockets.publish_encoded(pub, wire.topic(tick), payload)
        result.sent += 1
    return result
