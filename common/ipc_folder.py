"""The folder of a run's `ipc://` sockets: this user's alone, or refused.

A socket file is reached by its path. Whoever may write in its folder could
unlink a service's socket and bind their own under the same name, or bind
it first, and a service connecting by that path would then take ticks or
targets from them. The file's own 0600 mode does not stop that, so a socket
folder must be this user's and writable by nobody else, and so must every
folder above it, except that root may own one and a sticky one (`/tmp`)
may be writable by all: there nobody may rename or unlink another's entries.
"Nobody else" allows the group when it is this user's private group (the
user's own name, no other member: what a umask of 002 assumes).

A symlink on the way is judged by where it leads, and the sockets then use
that real path, never the link again: a link someone could replace later
would otherwise redirect a reconnect. Missing folders are made 0700, one by
one, and only under folders already found private.

Pure file-system checks, no sockets: `common.sockets` runs `hold_private`
before every ipc bind and connect, `common.addresses.claim_folder` before a
run starts.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path

from common.errors import ConfigError

_WRITABLE_BY_GROUP = stat.S_IWGRP
_WRITABLE_BY_OTHERS = stat.S_IWOTH


def hold_private(folder: Path) -> Path:
    """Check `folder` and every folder above it, make what is missing (0700); its real path.

    Raises:
        ConfigError: a folder on the way is another user's, or others may
            write in it (naming which, and why); or it cannot be made.
    """
    try:
        missing: list[str] = []
        existing = Path(os.path.abspath(folder))  # `..` resolved by name, links kept
        while not os.path.lexists(existing):
            missing.append(existing.name)
            existing = existing.parent
        real = existing.resolve(strict=True)  # a link is judged by where it leads
        for above in reversed(real.parents):
            _check(above, own=False)
        _check(real, own=not missing)
        for name in reversed(missing):
            real = real / name
            real.mkdir(mode=0o700, exist_ok=True)  # someone else's, made meanwhile: refused below
            _check(real, own=True)
        return real
    except OSError as e:
        raise ConfigError(f"socket folder {folder}: {e.strerror or e}") from None


def _check(folder: Path, *, own: bool) -> None:
    """`own`: the sockets' folder itself (or one this call made); else a folder above it."""
    info = os.lstat(folder)  # a real path: no link left to follow
    uid = os.getuid()
    if info.st_uid != uid and (own or info.st_uid != 0):
        raise ConfigError(
            f"socket folder {folder} belongs to uid {info.st_uid}, not this user"
            f"{'' if own else ' or root'}: its owner could replace the run's sockets"
        )
    writable = info.st_mode & _WRITABLE_BY_OTHERS or (
        info.st_mode & _WRITABLE_BY_GROUP and not _private_group(info.st_gid)
    )
    sticky = not own and info.st_mode & stat.S_ISVTX
    if writable and not sticky:
        mode = stat.S_IMODE(info.st_mode)
        raise ConfigError(
            f"socket folder {folder} is writable by other users (mode {mode:o}): they could "
            "replace the run's sockets; use a folder only you can write in (chmod go-w)"
        )


def _private_group(gid: int) -> bool:
    """This user's own group: named after the user, with no other member."""
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(gid)
    except KeyError:  # no name for the id: nothing says it is private
        return False
    return group.gr_name == user and set(group.gr_mem) <= {user}
