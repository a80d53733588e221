"""The sweep's progress line: runs done, running, failed, pending; ticks/s across workers.

Read from the state files the workers keep (`running` carries the ticks a
run has replayed so far), so it counts runs on every worker of a cluster.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any, Final

PRINT_EVERY_S: Final = 5.0


def progress_text(states: Iterable[dict[str, Any] | None], elapsed_s: float) -> str:
    """One line over the runs this command started (each `pending` with 0 ticks at its start)."""
    records = [s or {} for s in states]
    counts = Counter(str(s.get("state", "pending")) for s in records)
    ticks = sum(int(s.get("ticks_done") or 0) for s in records)
    rate = ticks / max(elapsed_s, 1e-9)
    return (
        f"{counts['done']} done, {counts['running']} running, {counts['failed']} failed, "
        f"{counts['pending']} pending; {rate:,.0f} ticks/s across workers"
    )


class ProgressPrinter:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self._last = 0.0

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def due(self, *, force: bool = False) -> bool:
        """Whether a progress line goes out now (every PRINT_EVERY_S, or forced)."""
        return force or time.monotonic() - self._last >= PRINT_EVERY_S

    def show(self, text: str, *, force: bool = False) -> None:
        if self.due(force=force):
            self._last = time.monotonic()
            print(f"sweep: {text}", file=sys.stderr, flush=True)
