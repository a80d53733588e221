"""The folder of a run's `ipc://` sockets: this user's alone, or refused.

A socket file is reached by its path. Whoever may write in its folder could
unlink a service's socket and bind their own under the same name, or bind
it first, and a service connecting by that path would then take ticks or
targets from them. The file's own 0600 mode does not stop that, so a socket
folder must be this user's and writable by nobody else, and so must every
folder above it, except that root may own one and a sticky one (`/tmp`)
may be writable by all: there nobody may rename or unlink another's entries.

Pure file-system checks, no sockets: `common.sockets` runs `hold_private`
before every ipc bind and connect, `common.addresses.claim_folder` before a
run starts.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from common.errors import ConfigError

_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH


def hold_private(folder: Path) -> None:
    """Create `folder` 0700 if missing; refuse it if another user could swap its sockets.

    Raises:
        ConfigError: `folder` or a folder above it is another user's, or others
            may write in it (naming which, and why).
    """
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        real = folder.resolve(strict=True)  # a symlink is judged by where it leads
        _check(real, own=True)
        for parent in real.parents:
            _check(parent, own=False)
    except OSError as e:
        raise ConfigError(f"socket folder {folder}: {e.strerror or e}") from None


def _check(folder: Path, *, own: bool) -> None:
    info = folder.stat()
    uid = os.getuid()
    owners = (uid,) if own else (uid, 0)
    if info.st_uid not in owners:
        raise ConfigError(
            f"socket folder {folder} belongs to uid {info.st_uid}, not this user"
            f"{'' if own else ' or root'}: its owner could replace the run's sockets"
        )
    sticky = not own and info.st_mode & stat.S_ISVTX
    if info.st_mode & _WRITABLE_BY_OTHERS and not sticky:
        mode = stat.S_IMODE(info.st_mode)
        raise ConfigError(
            f"socket folder {folder} is writable by other users (mode {mode:o}): "
            "they could replace the run's sockets; use a folder only you can write in (0700)"
        )
