"""What a resumed recorder finds of its run: the files it goes on writing, and what they hold.

A resumed run (`--resume`) never overwrites its artifacts. `ticks.gz` is
continued after its whole gzip members (`common.tickfile_tail`; a torn tail
is cut and kept aside); `events.jsonl` loses a torn last line (a kill
mid-write: it was never whole) and the fills it already holds are noted, so
the journal reconciliation at the end adds only fills it lacks (the other
journaled events it holds are looked up then: `reconcile.py`); `run.log` is
appended to as always.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from common.journal import line_identity
from common.messages import TickFileHeader
from common.tickfile import TickFileWriter
from common.tickfile_tail import continue_tick_file

log = logging.getLogger("services.recorder")


def continue_ticks(folder: Path, header: TickFileHeader) -> TickFileWriter:
    """`ticks.gz` opened after the ticks it holds (`count` of them)."""
    return continue_tick_file(folder / "ticks.gz", header, compresslevel=1)


def recorded_fills(folder: Path) -> set[tuple[object, ...]]:
    """The `fill_identity`s of the fills `events.jsonl` holds, once its torn last line is cut."""
    path = folder / "events.jsonl"
    if not path.exists():
        return set()
    _cut_torn_line(path)
    fills: set[tuple[object, ...]] = set()
    with open(path, "rb") as f:
        for line in f:
            if not line.startswith(b'{"type":"Fill"'):
                continue
            identity = line_identity(json.loads(line))
            if identity is not None:
                fills.add(identity[1:])  # without the class's name: `fill_identity`'s fields
    return fills


def _cut_torn_line(path: Path) -> None:
    with open(path, "r+b") as f:
        size = f.seek(0, os.SEEK_END)
        start = max(size - (1 << 16), 0)
        while True:  # back to the last newline (event lines are short)
            f.seek(start)
            tail = f.read(size - start)
            if b"\n" in tail or start == 0:
                break
            start = max(start - (1 << 16), 0)
        keep = start + tail.rfind(b"\n") + 1
        if keep < size:
            f.truncate(keep)
            log.warning("cut a torn last line (%d bytes) off %s", size - keep, path)
