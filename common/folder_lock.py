"""`hold_folder`: one process at a time in a folder, by an advisory lock file in it.

An `flock` rather than a pid file: the claim ends when the file is closed or
the process dies, so a killed holder never leaves a stale claim behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from common.errors import ConfigError


def hold_folder(
    folder: Path, lock_name: str, *, what: str, holder: str, mode: int = 0o777
) -> IO[str]:
    """Create `folder` if missing and hold it; return the open lock file.

    `what` names the folder in errors (a flag or "sweep folder"); `holder`
    names the kind of process that holds it ("run", "sweep").

    Raises:
        ConfigError: another process holds the folder, or it cannot be made.
    """
    try:
        folder.mkdir(mode=mode, parents=True, exist_ok=True)
        lock = open(folder / lock_name, "a+")
    except OSError as e:
        raise ConfigError(f"{what} {folder}: {e.strerror or e}") from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.seek(0)
        who = lock.read().strip() or "another process"
        lock.close()
        raise ConfigError(f"{what} {folder} is in use by a running {holder} ({who})") from None
    lock.truncate(0)
    lock.write(f"pid {os.getpid()}\n")
    lock.flush()
    return lock
