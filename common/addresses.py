"""The run's seven sockets and where they are: one `Addresses` value.

Every service reads a socket's address from `--<socket>` or `PLR_<SOCKET>_ADDR`
(the feed's ticks socket is `--pub`); the runner, `.env.example`, the tests
and docs/ARCHITECTURE.md all take them from here.

The defaults are `ipc://` files in a folder of this user's own
(`DEFAULT_FOLDER`): a socket file is reachable only through its folder, which
must be this user's alone (created 0700 if missing, refused if another user
could write in it: `common.ipc_folder`), and each socket file is created 0600
(`common.sockets`), so no other user can send a service anything. The runner
gives each run a fresh private folder (or `--address-dir`, claimed by one run
at a time: `claim_folder`); `Addresses.on_loopback(FIRST_TCP_PORT)` are the TCP
ports of `--transport tcp`, which is authenticated with CURVE (`common.curve`).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from common import ipc_folder
from common.folder_lock import hold_folder

SOCKET_NAMES: Final = ("ticks", "predictions", "targets", "events", "ready", "logs", "progress")
LOCK_FILE: Final = ".run.lock"


@dataclass(frozen=True, kw_only=True)
class Addresses:
    """One address per socket of docs/ARCHITECTURE.md ("Sockets"), in `SOCKET_NAMES` order."""

    ticks: str
    predictions: str
    targets: str
    events: str
    ready: str
    logs: str
    progress: str

    @classmethod
    def in_folder(cls, folder: Path) -> Addresses:
        """Every socket as an `ipc://` file in `folder` (relative: to the working directory)."""
        return cls(**{name: f"ipc://{folder}/{name}" for name in SOCKET_NAMES})

    @classmethod
    def on_loopback(cls, first_port: int) -> Addresses:
        """Every socket on a loopback TCP port, `first_port` and the six after it."""
        return cls(
            **{name: f"tcp://127.0.0.1:{first_port + i}" for i, name in enumerate(SOCKET_NAMES)}
        )

    def environ(self) -> dict[str, str]:
        """The variables that give every service these addresses."""
        return {env_name(name): address for name, address in dataclasses.asdict(self).items()}


def env_name(socket: str) -> str:
    """The environment variable of one socket's address."""
    return f"PLR_{socket.upper()}_ADDR"


FIRST_TCP_PORT: Final = 5555  # --transport tcp: 5555 (ticks) to 5561 (progress)
DEFAULT_FOLDER: Final = Path(tempfile.gettempdir()) / f"plr-{os.getuid()}"
DEFAULT_ADDRESSES: Final = Addresses.in_folder(DEFAULT_FOLDER)


def claim_folder(folder: Path) -> IO[str]:
    """Create `folder` (0700) for a run's ipc sockets and hold it for this run.

    Returns the open lock file; the claim lasts until it is closed or the
    process ends (an advisory `flock`, so a killed runner never leaves a
    stale claim behind).

    Raises:
        ConfigError: the folder is held by a run that is still going, cannot be
            made, or another user could write in it (`common.ipc_folder`).
    """
    ipc_folder.hold_private(folder)  # before the lock file: nothing written in a shared folder
    return hold_folder(folder, LOCK_FILE, what="--address-dir", holder="run", mode=0o700)
