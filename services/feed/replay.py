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

import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import msgspec
import zmq

from common import sockets, wire
from common.flow import ReplayWindow
from common.messages import Tick, TickBatch
from services.feed.position import PositionFile


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
    position: PositionFile | None = None,
) -> ReplayResult:
    """Publish ticks until the file ends, `max_ticks` went out, or `stop` is set.

    `records` are ticks with their wire bytes (`TickFileReader.records`): a
    tick whose seq is already the run's goes out as read, without re-encoding.
    With a `window` (lossless replays) no tick goes out further ahead of the
    slowest subscriber than the window allows (`common.flow`). A `position`
    hears how far the replay is (the runner's progress line).
    """
    if batch > 1 and speed > 0:
        raise ValueError("batched replay is for speed 0 only: batching would delay ticks")
    result = ReplayResult()
    sender = _Sender(pub, result, batch)
    first_recorded_ns: int | None = None
    started = 0.0
    # Locals: this loop runs once per tick. What need not be done per tick is
    # not: the stop flag and the position are looked at every 64 ticks
    # (`_CHECK_MASK`), the window asked once per run of ticks it lets out
    # (`ReplayWindow.room_until`), and an unbatched tick goes straight onto
    # the socket through pyzmq's compiled send (`sockets.sender`).
    replace, encode, stopped = msgspec.structs.replace, wire.encode, stop.is_set
    add = sender.add if batch > 1 else None
    send, topic_of, topics = sockets.sender(pub), sender.topic, sender.topics
    note = position.note if position is not None else None
    limit = max_ticks if max_ticks is not None else sys.maxsize
    room = 0 if window is not None else sys.maxsize  # ticks up to `room` may go out at once
    last_seq = 0
    try:
        for tick, payload in records:
            if last_seq >= limit:
                break
            if not last_seq & _CHECK_MASK:
                if stopped():
                    break
                if note is not None:
                    note(last_seq)
            if speed > 0 and last_seq >= unpaced:
                if first_recorded_ns is None:  # the first paced tick is due now
                    first_recorded_ns, started = tick.recv_ts_ns, time.monotonic()
                due = started + (tick.recv_ts_ns - first_recorded_ns) / 1e9 / speed
                delay = due - time.monotonic()
                if delay > 0 and stop.wait(delay):  # pacing; returns early on a stop
                    break
                if note is not None:  # paced ticks can be seconds apart
                    note(last_seq)
            seq = last_seq + 1
            # Held back, at most one unfilled batch is unsent: the window
            # (thousands of ticks) never waits for it.
            if seq > room:
                assert window is not None  # `room` is unbounded without one
                room = window.room_until(seq, stop)
                if seq > room:
                    break
            last_seq = seq
            if tick.seq != seq:
                payload = encode(replace(tick, seq=seq))
            if add is not None:
                add(tick.symbol, payload)
            else:  # unbatched: straight onto the socket
                send(topics.get(tick.symbol) or topic_of(tick.symbol), zmq.SNDMORE)
                send(payload)
    finally:  # numbered ticks go out even when the file breaks off: the eos counts them
        result.last_seq = last_seq
        if add is None:
            result.sent = last_seq
        sender.flush()
    return result


# A power of two less one: the stop flag and the position are looked at every
# 64 ticks (well under a millisecond at full speed) rather than on each tick.
_CHECK_MASK: Final = 63


class _Sender:
    """Numbered ticks onto the socket as `TickBatch`es of one symbol (and each symbol's topic)."""

    def __init__(self, pub: zmq.Socket, result: ReplayResult, batch: int) -> None:
        self.pub, self.result, self.batch = pub, result, batch
        self.symbol = ""
        self.pending: list[bytes] = []  # consecutive ticks of `symbol`, not yet sent
        self.topics: dict[str, bytes] = {}  # by symbol: built once, not per tick

    def add(self, symbol: str, payload: bytes) -> None:
        if symbol != self.symbol:
            self.flush()  # a batch holds one symbol
            self.symbol = symbol
        self.pending.append(payload)
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        for payload in wire.encode_batches(TickBatch, self.symbol, self.pending):
            sockets.publish_encoded(self.pub, self.topic(self.symbol), payload)
        self.result.sent += len(self.pending)
        self.pending.clear()

    def topic(self, symbol: str) -> bytes:
        topic = self.topics.get(symbol)
        if topic is None:
            topic = self.topics[symbol] = wire.tick_topic(symbol)
        return topic
