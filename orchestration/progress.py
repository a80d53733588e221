"""A terminal progress line fed by the market-data socket (a listener, never lossless).

It may miss messages (it never slows the feed), so it counts by seq: the
newest tick it has seen, alone or last of a `TickBatch`, says how far the run is.
"""

from __future__ import annotations

import sys
import time

import zmq

from common import sockets, wire
from common.curve import CurveKeys
from common.errors import WireError
from common.messages import Tick, TickBatch


class ProgressLine:
    def __init__(self, ticks_addr: str, total: int | None, keys: CurveKeys | None = None) -> None:
        self.ctx = zmq.Context()
        # On tcp the feed admits CURVE clients of the run's keys only; this is one.
        self.authenticator = sockets.use_curve(self.ctx, keys) if keys is not None else None
        self.sub = sockets.subscriber(self.ctx, ticks_addr, [wire.TICK_PREFIX])
        self.total = total
        self.seen = 0
        self.started = time.monotonic()
        self._interactive = sys.stderr.isatty()
        self._last_print = 0.0

    def update(self, *, final: bool = False) -> None:
        newest: bytes | None = None
        while True:
            try:
                message = sockets.recv_message(self.sub, zmq.NOBLOCK)
            except zmq.Again:
                break
            if message is not None:
                newest = message[1]
        if newest is not None:
            self.seen = max(self.seen, _last_seq(newest))
        now = time.monotonic()
        if not final and now - self._last_print < (0.25 if self._interactive else 5.0):
            return
        self._last_print = now
        rate = self.seen / max(now - self.started, 1e-9)
        if self.total:
            done = min(self.seen / self.total, 1.0)
            bar = "#" * int(done * 30)
            line = f"[{bar:<30}] {self.seen:,}/{self.total:,} ticks ({rate:,.0f}/s)"
        else:
            line = f"{self.seen:,} ticks ({rate:,.0f}/s)"
        print(
            ("\r" if self._interactive else "") + line,
            end="" if self._interactive else "\n",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        self.update(final=True)  # a run shorter than the print interval still shows its end
        if self._interactive:
            print(file=sys.stderr)
        self.sub.close(linger=0)
        if self.authenticator is not None:
            self.authenticator.stop()
        self.ctx.term()


def _last_seq(payload: bytes) -> int:
    try:
        message = wire.decode(payload)
    except WireError:
        return 0
    if isinstance(message, TickBatch):
        return message.ticks[-1].seq
    return message.seq if isinstance(message, Tick) else 0
