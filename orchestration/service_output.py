"""A service's output: copied to `<service>.stderr` while the disk takes it, its last lines kept.

The runner used to hand each service the file itself. On a full disk that
file is cut short exactly where the service says why it stopped, so the
runner reads the output through a pipe instead: every line goes to the file
as long as writing works, and the last lines stay in memory for the one-line
reason the runner prints when the service fails.
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import IO, Final

KEPT_LINES: Final = 50


class ServiceOutput:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.tail: deque[str] = deque(maxlen=KEPT_LINES)
        self.unwritten: str | None = None  # why the file stopped taking lines
        self._file: IO[bytes] | None = open(path, "ab")  # a swapped-in executor appends
        self._reader: threading.Thread | None = None

    def follow(self, pipe: IO[bytes]) -> None:
        """Copy `pipe` until the service closes it (it exits), in a thread of its own."""
        self._reader = threading.Thread(
            target=self._copy, args=(pipe,), name=f"output {self.path.name}", daemon=True
        )
        self._reader.start()

    def close(self, timeout_s: float = 5.0) -> None:
        """Wait for the last lines (the service has exited), then close the file."""
        if self._reader is not None:
            self._reader.join(timeout_s)
        self._close_file()

    def why(self) -> str:
        """The last error line, else the last line: what a failed service said last."""
        lines = list(self.tail)
        errors = [line for line in lines if " ERROR " in line or " CRITICAL " in line]
        return (errors or lines or ["no output"])[-1]

    def _copy(self, pipe: IO[bytes]) -> None:
        with pipe:
            for raw in pipe:
                self.tail.append(raw.decode(errors="replace").rstrip("\n"))
                self._write(raw)

    def _write(self, raw: bytes) -> None:
        if self._file is None:
            return
        try:
            self._file.write(raw)
            self._file.flush()  # a watcher sees each line; a full disk shows here, at once
        except OSError as e:
            self.unwritten = f"{self.path}: {e.strerror or e}"
            self._close_file()

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass  # the buffered rest could not be written: the disk is full
            self._file = None
