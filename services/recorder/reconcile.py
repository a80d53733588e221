"""The end of a run against the executor's journals: what they hold that never arrived.

A kill -9 can land between the executor's journal write and its socket (up
to a turn of its loop), and a restarted executor's first events can go out
before the recorder's subscription is back: the journals have them. The
journals are read whole (they are the run's book; `read_entries`), and
`events.jsonl` is streamed for the identities asked about only, so memory
stays at the journals' size however long the run.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Final

from common.errors import JournalCorrupt
from common.journal import (
    IDENTITY_FIELDS,
    JOURNAL_FILES,
    JournalEntry,
    line_identity,
    published,
    read_entries,
)

log = logging.getLogger("services.recorder")

# The start of an events.jsonl line of a journaled class other than a fill
# (`type` comes first): other lines are not decoded.
_JOURNALED_LINES: Final = tuple(
    b'{"type":"%s"' % name.encode() for name in IDENTITY_FIELDS if name != "Fill"
)


def journal_entries(run_dir: Path) -> tuple[list[JournalEntry], bool]:
    """What both journals (paper's and live's: a swap has both) published, in order,
    and whether every journal could be read."""
    entries: list[JournalEntry] = []
    complete = True
    for name in JOURNAL_FILES.values():
        try:
            entries += published(read_entries(run_dir / name))
        except JournalCorrupt as e:
            log.error("cannot reconcile with the journal: %s", e)
            complete = False
    return entries, complete


def found_in_events(path: Path, wanted: set[tuple[object, ...]]) -> set[tuple[object, ...]]:
    """Those of `wanted` (`event_identity`s) that events.jsonl holds a line of."""
    found: set[tuple[object, ...]] = set()
    if not path.exists():
        return found
    damaged = 0
    with open(path, "rb") as f:
        for line in f:
            if not line.startswith(_JOURNALED_LINES):
                continue
            try:
                identity = line_identity(json.loads(line))
            except (ValueError, KeyError, TypeError):
                damaged += 1  # its event may be written again: better twice than never
                continue
            if identity in wanted:
                found.add(identity)
    if damaged:
        log.warning("%d unreadable event lines in %s", damaged, path)
    return found
