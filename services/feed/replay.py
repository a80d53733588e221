"""Replay a tick file through the feed's socket, so consumers cannot tell it from live.

Each tick is re-numbered (`seq` gap-free from 1 within this run); its
timestamps and market fields are kept exactly as recorded. Keeping
`recv_ts_ns` makes every event-time decision downstream (target expiry by
tick time, paper fill latency) the same on every replay of a file; the
pipeline's own wall-clock latency is measured where messages arrive, not
from these stamps. `speed` 1 keeps the recorded pacing (by recorded receive
time), 2 twice as fast, 0 as fast as the sockets allow.

`batch` > 1 (speed 0 only) is the batched mode: up to that many consecutive
ticks of one symbol go out as one `TickBatch`, which saves every stage a
receive, a decode call and a loop turn per tick. The ticks, their seqs and
their order are the same as unbatched, so every decision downstream is too.
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
from common.messages import Tick, TickBatch


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
    batch: int = 1,
) -> ReplayResult:
    """Publish ticks until the file ends, `max_ticks` went out, or `stop` is set.

    `records` are ticks with their wire bytes (`TickFileReader.records`): a
    tick whose seq is already the run's goes out as read, without re-encoding.
    With a `window` (lossless replays) no tick goes out further ahead of the
    slowest subscriber than the window allows (`common.flow`).
    """
    if batch > 1:
        if speed > 0:
            raise ValueError("batched replay is for speed 0 only: batching would delay ticks")
        return _replay_batched(records, pub, max_ticks, stop, window, batch)
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


def _replay_batched(
    records: Iterable[tuple[Tick, bytes]],
    pub: zmq.Socket,
    max_ticks: int | None,
    stop: threading.Event,
    window: ReplayWindow | None,
    batch: int,
) -> ReplayResult:
    result = ReplayResult()
    symbol = ""
    pending: list[bytes] = []  # consecutive ticks of `symbol`, numbered, not yet sent

    def send_pending() -> None:
        for payload in wire.encode_batches(TickBatch, symbol, pending):
            sockets.publish_encoded(pub, wire.tick_topic(symbol), payload)
        result.sent += len(pending)
        pending.clear()

    replace = msgspec.structs.replace
    try:
        for tick, payload in records:
            if stop.is_set() or (max_ticks is not None and result.last_seq >= max_ticks):
                break
            if pending and (tick.symbol != symbol or len(pending) >= batch):
                send_pending()
            # Held ticks are at most a batch: the window (thousands) still has them in view.
            if window is not None and not window.wait_for_room(result.last_seq + 1, stop):
                break
            result.last_seq += 1
            if tick.seq != result.last_seq:
                payload = wire.encode(replace(tick, seq=result.last_seq))
            symbol = tick.symbol
            pending.append(payload)
    finally:  # numbered ticks go out even when the file breaks off: the eos counts them
        send_pending()
    return result
