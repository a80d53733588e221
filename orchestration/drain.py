"""The drain deadline: once the feed has ended, every service must finish within it.

The feed's `eos` lets the others drain and exit. A service that never does (a
stopped process, an `eos` lost with a dead peer) would keep the runner, and
result.json, waiting forever. Past the deadline the runner stops what is left
and names it as hung (upstream first): the run is then incomplete, never silently cut.
"""

from __future__ import annotations

import subprocess
import time
from typing import Final

from orchestration.outcome import STOP_ORDER

DEFAULT_DRAIN_TIMEOUT_S: Final = 120.0  # a fast replay drains in seconds; a swap takes < 90 s


class DrainWatch:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.hung: list[str] = []
        self._feed_ended_at: float | None = None

    def overdue(self, procs: dict[str, subprocess.Popen[bytes]]) -> bool:
        """True (once) when the deadline has passed with services still running."""
        if self.hung or procs["feed"].poll() is None:
            return False
        if self._feed_ended_at is None:
            self._feed_ended_at = time.monotonic()
        if time.monotonic() - self._feed_ended_at < self.timeout_s:
            return False
        # Upstream first: the first one named is where the pipeline stopped.
        self.hung = [name for name in STOP_ORDER if procs[name].poll() is None]
        return bool(self.hung)
