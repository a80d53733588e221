"""Replay a tick file through the feed's socket, so consumers cannot tell it from live.

Each tick is re-numbered (`seq` gap-free from 1 within this run); its
timestamps and market fields are kept exactly as recorded. Keeping
`recv_ts_ns` makes every event-time decision downstream (target expiry by
tick time, paper fill latency) the same on every replay of a file; the
pipeline's own wall-clock latency is measured where messages arrive, not
from these stamps. `speed` 1 keeps the recorded pacing (by recorded receive
time), 2 twice as fast, 0 as fast as the sockets allow. The first
`unpaced` ticks go out as fast as allowed whatever the speed, and the pacing
starts at the next one: a resumed run catches up to where it had been, then
goes on at its pace.

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
    unpaced: int = 0,
) -> ReplayResult:
    """Publish ticks until the file ends, `max_ticks` went out, or `stop` is set.

    `records` are ticks with their wire bytes (`TickFileReader.records`): a
    tick whose seq is already the run's goes out as read, without re-encoding.
    With a `window` (lossless replays) no tick goes out further ahead of the
    slowest subscriber than the window allows (`common.flow`).
    """
    if batch > 1 and speed > 0:
        raise ValueError("batched replay is for speed 0 only: batching would delay ticks")
    result = ReplayResult()
    sender = _Sender(pub, result, batch)
    first_recorded_ns: int | None = None
    started = 0.0
    # Locals: this loop runs once per tick.
    replace, encode, add, stopped = msgspec.structs.replace, wire.encode, sender.add, stop.is_set
    room = window.wait_for_room if window is not None else None
    last_seq = 0
    try:
        for tick, payload in records:
            if stopped() or (max_ticks is not None and last_seq >= max_ticks):
                break
            if speed > 0 and last_seq >= unpaced:
                if first_recorded_ns is None:  # the first paced tick is due now
                    first_recorded_ns, started = tick.recv_ts_ns, time.monotonic()
                due = started + (tick.recv_ts_ns - first_recorded_ns) / 1e9 / speed
                delay = due - time.monotonic()
                if delay > 0 and stop.wait(delay):  # pacing; returns early on a stop
                    break
            # Held back, at most one unfilled batch is unsent: the window
            # (thousands of ticks) never waits for it.
            if room is not None and not room(last_seq + 1, stop):
                break
            last_seq += 1
            if tick.seq != last_seq:
                payload = encode(replace(tick, seq=last_seq))
            add(tick.symbol, payload)
    finally:  # numbered ticks go out even when the file breaks off: the eos counts them
        result.last_seq = last_seq
        sender.flush()
    return result


class _Sender:
    """Numbered ticks onto the socket: one per message, or as `TickBatch`es of one symbol."""

    def __init__(self, pub: zmq.Socket, result: ReplayResult, batch: int) -> None:
        self.pub, self.result, self.batch = pub, result, batch
        self.symbol = ""
        self.pending: list[bytes] = []  # consecutive ticks of `symbol`, not yet sent
        self.topics: dict[str, bytes] = {}  # by symbol: built once, not per tick

    def add(self, symbol: str, payload: bytes) -> None:
        if self.batch == 1:
            sockets.publish_encoded(self.pub, self._topic(symbol), payload)
            self.result.sent += 1
            return
        if symbol != self.symbol:
            self.flush()  # a batch holds one symbol
            self.symbol = symbol
        self.pending.append(payload)
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        for payload in wire.encode_batches(TickBatch, self.symbol, self.pending):
            sockets.publish_encoded(self.pub, self._topic(self.symbol), payload)
        self.result.sent += len(self.pending)
        self.pending.clear()

    def _topic(self, symbol: str) -> bytes:
        topic = self.topics.get(symbol)
        if topic is None:
            topic = self.topics[symbol] = wire.tick_topic(symbol)
        return topic
