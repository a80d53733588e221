"""An artifact file that survives a full disk: the first failed write is said once, then dropped.

The recorder must not die on ENOSPC (or any other `OSError` of a file): one
line names the file and why, that file ends there, and the run goes on, so
the other artifacts and `result.json` are still written when they can be.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

log = logging.getLogger("services.recorder")


class Closable(Protocol):
    def close(self) -> None: ...


class GuardedFile:
    """Wraps a text file or a `TickFileWriter`; `failed` holds why it stopped, if it did."""

    def __init__(self, path: Path, file: Closable) -> None:
        self.path, self.file = path, file
        self.failed: str | None = None

    def write(self, data: str | bytes) -> None:
        """Text to a text file (run.log), bytes to a binary one (events.jsonl)."""
        if self.failed is None:
            try:
                self.file.write(data)  # type: ignore[attr-defined]
            except OSError as e:
                self._fail(e)

    def write_encoded_many(self, payloads: Sequence[bytes]) -> None:
        if self.failed is None:
            try:
                self.file.write_encoded_many(payloads)  # type: ignore[attr-defined]
            except OSError as e:
                self._fail(e)

    def flush(self) -> None:
        if self.failed is None:
            try:
                self.file.flush()  # type: ignore[attr-defined]
            except OSError as e:
                self._fail(e)

    def close(self) -> None:
        try:
            self.file.close()  # flushes: a full disk may show only now
        except OSError as e:
            if self.failed is None:
                self._fail(e)

    def _fail(self, error: OSError) -> None:
        self.failed = error.strerror or str(error)
        log.error("cannot write %s: %s; it ends here, the run goes on", self.path, self.failed)
        try:
            self.file.close()  # nothing more goes to it; a failed flush still closes the file
        except OSError:
            pass
