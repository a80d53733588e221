"""A terminal progress line fed by the market-data socket (a listener, never lossless)."""

from __future__ import annotations

import sys
import time

import zmq

from common import sockets, wire


class Progress:
    def __init__(self, ticks_addr: str, total: int | None) -> None:
        self.ctx = zmq.Context()
        self.sub = sockets.subscriber(self.ctx, ticks_addr, [wire.TICK_PREFIX])
        self.total = total
        self.seen = 0
        self.started = time.monotonic()
        self._interactive = sys.stderr.isatty()
        self._last_print = 0.0

    def update(self) -> None:
        while True:
            try:
                self.sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            self.seen += 1
        now = time.monotonic()
        if now - self._last_print < (0.25 if self._interactive else 5.0):
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
        if self._interactive:
            print(file=sys.stderr)
        self.sub.close(linger=0)
        self.ctx.term()
