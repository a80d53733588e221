"""A terminal progress line fed by the feed's position file (never by the ticks themselves).

The feed rewrites the seq of the last tick it sent to its `--position-file`
a few times a second and once at its end (`services.feed.position`): that
newest seq says how far the run is. Reading it costs the runner nothing per
tick (subscribing to every tick only to count it cost ~4 us of its CPU each,
unbatched). A missing or unreadable file shows the last count it knew.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from services.feed.position import read_position


class ProgressLine:
    def __init__(self, position_file: Path, total: int | None) -> None:
        self.position_file = position_file
        # An earlier run's file in a reused --address-dir must not count as this one's.
        position_file.unlink(missing_ok=True)
        self.total = total
        self.seen = 0
        self.started = time.monotonic()
        self._interactive = sys.stderr.isatty()
        self._last_print = 0.0

    def update(self, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last_print < (0.25 if self._interactive else 5.0):
            return
        self._last_print = now
        self.seen = max(self.seen, read_position(self.position_file) or 0)
        print(
            ("\r" if self._interactive else "") + self.line(now),
            end="" if self._interactive else "\n",
            file=sys.stderr,
            flush=True,
        )

    def line(self, now: float) -> str:
        """The line for `seen` ticks at `now` (monotonic)."""
        rate = self.seen / max(now - self.started, 1e-9)
        if self.total:
            done = min(self.seen / self.total, 1.0)
            bar = "#" * int(done * 30)
            return f"[{bar:<30}] {self.seen:,}/{self.total:,} ticks ({rate:,.0f}/s)"
        return f"{self.seen:,} ticks ({rate:,.0f}/s)"

    def close(self) -> None:
        self.update(final=True)  # a run shorter than the print interval still shows its end
        if self._interactive:
            print(file=sys.stderr)
        self.position_file.unlink(missing_ok=True)  # scratch: a reused --address-dir stays clean
