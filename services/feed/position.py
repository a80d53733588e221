"""How far the feed is, for the runner's progress line: a small file, rewritten now and then.

The progress line used to count ticks by subscribing to every one of them:
about 4 us of the runner's CPU per tick in an unbatched replay, and one more
copy of every message for the feed's I/O thread, only to print a count a few
times a second. So the feed writes its position instead (`--position-file`):
the seq of the last tick it sent, at most every `EVERY_S` while ticks go out,
and once more when it is done. The file is replaced whole (a rename), so a
reader never sees half of it; its content is one JSON object,
`{"last_seq": N}`. A position that cannot be written is logged once and
never stops the feed: it is a display, not data.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

EVERY_S: Final = 0.2  # a write at most this often; the progress line reads every 0.25 s


class PositionFile:
    """The feed's side: `note` the last seq sent as often as convenient; it writes when due."""

    def __init__(
        self, path: Path, every_s: float = EVERY_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path, self.every_s, self.clock = path, every_s, clock
        self._partial = path.with_name(path.name + ".partial")
        self._due = 0.0  # the first note writes
        self._broken = False

    def note(self, last_seq: int) -> None:
        """The feed has sent up to `last_seq`: written if the last write is `every_s` old."""
        now = self.clock()
        if now >= self._due:
            self._due = now + self.every_s
            self.write(last_seq)

    def write(self, last_seq: int) -> None:
        """Write `last_seq` now (the run's end: the last position must not wait)."""
        if self._broken:
            return
        try:
            _write_own(self._partial, json.dumps({"last_seq": last_seq}))
            os.replace(self._partial, self.path)  # a rename: never through a link there
        except OSError as e:
            self._broken = True
            log.warning("position file %s not written, no longer tried: %s", self.path, e)


def _write_own(path: Path, text: str) -> None:
    """Write `text` to a new file of ours at `path`, never through what is there.

    Whatever is at `path` is removed first (a link itself, not what it points
    to), and the file is created exclusively without following links: a link
    planted there by another user makes the write fail, not land elsewhere.
    """
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)


def read_position(path: Path) -> int | None:
    """The last seq the feed wrote to `path`; None while there is none (or it is not one)."""
    try:
        value = json.loads(path.read_bytes()).get("last_seq")
    except (OSError, ValueError, AttributeError):
        return None
    return value if type(value) is int and value >= 0 else None
