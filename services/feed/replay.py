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

`replay` takes the ticks a run at a time (`TickFileReader.record_chunks`):
an unpaced stretch of up to 64 ticks goes in one step, batched or not, in
the order and with the checks each tick would get alone.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import compress
from operator import attrgetter, ne
from typing import TYPE_CHECKING, Final, TypeAlias

import msgspec
import zmq

from common import sockets, wire
from common.flow import ReplayWindow
from common.messages import Tick, TickBatch
from services.feed.position import PositionFile

if TYPE_CHECKING:
    ZSocket: TypeAlias = zmq.Socket[bytes]

# Consecutive ticks of a file with their wire bytes, in file order (`TickFileReader.record_chunks`).
Chunk = tuple[Sequence[Tick], Sequence[bytes]]


@dataclass
class ReplayResult:
    sent: int = 0
    last_seq: int = 0


def replay(
    chunks: Iterable[Chunk],
    pub: ZSocket,
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

    `chunks` are runs of ticks with their wire bytes (`TickFileReader.record_chunks`):
    a tick whose seq is already the run's goes out as read, without re-encoding.
    Unpaced ticks go to the sender a stretch at a time, with the checks made
    as at each tick; a paced one goes alone, when due. With a
    `window` (lossless replays) no tick goes out further ahead of the slowest
    subscriber than the window allows (`common.flow`). A `position` hears how
    far the replay is (the runner's progress line).
    """
    _check_batch(batch, speed)
    sender = _Sender(pub, batch) if batch > 1 else _OneByOne(pub)
    pacing = _Pacing(speed, unpaced, stop) if speed > 0 else None
    return _replay_stretches(chunks, sender, max_ticks, stop, window, position, pacing)


def _check_batch(batch: int, speed: float) -> None:
    if batch > 1 and speed > 0:
        raise ValueError("batched replay is for speed 0 only: batching would delay ticks")


def _replay_stretches(
    chunks: Iterable[Chunk],
    sender: _Sender | _OneByOne,
    max_ticks: int | None,
    stop: threading.Event,
    window: ReplayWindow | None,
    position: PositionFile | None,
    pacing: _Pacing | None,
) -> ReplayResult:
    """Each tick's steps (`max_ticks`, the stop flag and the position at every 64th
    seq, the pacing, the window's room), taken once per stretch of ticks.

    A stretch is one symbol's ticks up to where a tick would be looked at: it
    starts with those looks, and the ticks after its first would pass them
    all, so they go to the sender at once. A paced tick is a stretch alone.
    """
    result = sender.result
    stopped = stop.is_set
    note = position.note if position is not None else None
    limit = max_ticks if max_ticks is not None else sys.maxsize
    room = 0 if window is not None else sys.maxsize  # ticks up to `room` may go out at once
    last_seq = 0
    try:
        for ticks, payloads in chunks:
            if not ticks:
                continue
            seqs = list(map(_SEQ_OF, ticks))
            symbols = list(map(_SYMBOL_OF, ticks))
            # Numbered one after another (a recording replayed whole): a stretch
            # that starts with the run's seq is the run's throughout.
            consecutive = seqs == list(range(seqs[0], seqs[0] + len(seqs)))
            i = 0
            for end in _symbol_run_ends(symbols):  # ticks[i:end] are of one symbol
                while i < end:
                    if last_seq >= limit:
                        return result
                    if not last_seq & _CHECK_MASK:
                        if stopped():
                            return result
                        if note is not None:
                            note(last_seq)
                    run_end = end  # of this symbol's run
                    if pacing is not None and last_seq < pacing.unpaced:
                        run_end = min(end, i + pacing.unpaced - last_seq)  # the catch-up's end
                    elif pacing is not None:
                        if not pacing.wait_for(ticks[i]):
                            return result
                        if note is not None:  # paced ticks can be seconds apart
                            note(last_seq)
                        run_end = i + 1  # a paced tick goes alone
                    seq = last_seq + 1
                    # Held back, at most one unfilled batch is unsent: the window
                    # (thousands of ticks) never waits for it.
                    if seq > room:
                        assert window is not None  # `room` is unbounded without one
                        room = window.room_until(seq, stop)
                        if seq > room:
                            return result
                    to_check = _CHECK_MASK + 1 - (last_seq & _CHECK_MASK)
                    stretch_end = min(
                        run_end, i + to_check, i + (limit - last_seq), i + (room - last_seq)
                    )
                    stretch = payloads[i:stretch_end]
                    if not consecutive or seqs[i] != seq:  # renumbered where not the run's
                        numbers = range(seq, seq + stretch_end - i)
                        stretch = _renumbered(ticks[i:stretch_end], stretch, numbers)
                    sender.add(symbols[i], stretch)
                    last_seq += stretch_end - i
                    i = stretch_end
    finally:  # numbered ticks go out even when the file breaks off: the eos counts them
        result.last_seq = last_seq
        sender.flush()
    return result


# A power of two less one: the stop flag and the position are looked at every
# 64 ticks (well under a millisecond at full speed) rather than on each tick.
_CHECK_MASK: Final = 63
_SEQ_OF: Final = attrgetter("seq")
_SYMBOL_OF: Final = attrgetter("symbol")


def _symbol_run_ends(symbols: list[str]) -> list[int]:
    """Where each run of one symbol ends (exclusive), the last at the end of `symbols`."""
    # Compared in C: a chunk's ticks pass no Python code here.
    if symbols.count(symbols[0]) == len(symbols):  # the common case: one symbol throughout
        return [len(symbols)]
    changes = compress(range(1, len(symbols)), map(ne, symbols, symbols[1:]))
    return [*changes, len(symbols)]


def _renumbered(
    ticks: Sequence[Tick], payloads: Sequence[bytes], seqs: Iterable[int]
) -> list[bytes]:
    # Encoded again only where the recorded seq is not the run's.
    replace, encode = msgspec.structs.replace, wire.encode
    return [
        payload if tick.seq == seq else encode(replace(tick, seq=seq))
        for tick, payload, seq in zip(ticks, payloads, seqs)
    ]


class _Pacing:
    """The recorded receive times kept, `speed` times faster, from tick `unpaced` + 1 on:
    a resumed replay catches up to where it had been, then goes on at its pace."""

    def __init__(self, speed: float, unpaced: int, stop: threading.Event) -> None:
        self.speed, self.unpaced, self.stop = speed, unpaced, stop
        self.first_recorded_ns: int | None = None
        self.started = 0.0

    def wait_for(self, tick: Tick) -> bool:
        """Wait until `tick` is due; False when `stop` was set first."""
        if self.first_recorded_ns is None:  # the first paced tick is due now
            self.first_recorded_ns, self.started = tick.recv_ts_ns, time.monotonic()
        due = self.started + (tick.recv_ts_ns - self.first_recorded_ns) / 1e9 / self.speed
        delay = due - time.monotonic()
        return not (delay > 0 and self.stop.wait(delay))


class _Topics(dict[str, bytes]):
    """Each symbol's tick topic, built once, not per tick."""

    def topic(self, symbol: str) -> bytes:
        topic = self.get(symbol)
        if topic is None:
            topic = self[symbol] = wire.tick_topic(symbol)
        return topic


class _OneByOne:
    """Numbered ticks onto the socket one a message, through pyzmq's compiled send."""

    def __init__(self, pub: ZSocket) -> None:
        self.result = ReplayResult()
        self.send = sockets.sender(pub)
        self.topics = _Topics()

    def add(self, symbol: str, payloads: Sequence[bytes]) -> None:
        send, topic = self.send, self.topics.topic(symbol)
        for payload in payloads:
            send(topic, zmq.SNDMORE)
            send(payload)
        self.result.sent += len(payloads)

    def flush(self) -> None:
        pass  # nothing is held back


class _Sender:
    """Numbered ticks onto the socket as `TickBatch`es of one symbol (and each symbol's topic)."""

    def __init__(self, pub: ZSocket, batch: int) -> None:
        self.pub, self.batch = pub, batch
        self.result = ReplayResult()
        self.symbol = ""
        self.pending: list[bytes] = []  # consecutive ticks of `symbol`, not yet sent
        self.topics = _Topics()

    def add(self, symbol: str, payloads: Sequence[bytes]) -> None:
        """Consecutive ticks of `symbol`: every batch they fill goes out now."""
        if symbol != self.symbol:
            self.flush()  # a batch holds one symbol
            self.symbol = symbol
        pending, batch = self.pending, self.batch
        pending += payloads
        while len(pending) >= batch:
            self._send(pending[:batch])
            del pending[:batch]

    def flush(self) -> None:
        if self.pending:
            self._send(self.pending)
            self.pending.clear()

    def _send(self, payloads: list[bytes]) -> None:
        topic = self.topics.topic(self.symbol)
        for payload in wire.encode_batches(TickBatch, self.symbol, payloads):
            sockets.publish_encoded(self.pub, topic, payload)
        self.result.sent += len(payloads)
