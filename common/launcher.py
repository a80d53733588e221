"""The launch a service belongs to: the honcho that started it and its siblings.

`honcho start` starts the Procfile's services as separate process trees with
one environment, so nothing in that environment differs between two starts.
What every service of one start shares, and no other start has, is the
honcho process at the top of their ancestry: its pid and its start time
(pids are reused, a pid and its start time are not). `{launch}` in a run
folder names the run after it, so each `honcho start` is a fresh run.
Linux only (`/proc`), like the rest of the project's process handling.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Final

from common.errors import ConfigError

LAUNCH: Final = "{launch}"  # the placeholder a run folder may hold
_PROC: Final = Path("/proc")


def launch_id(pid: int | None = None) -> str:
    """`<UTC start time>-honcho<pid>` of the honcho that launched `pid` (default: this process).

    Raises:
        ConfigError: no honcho started this process.
    """
    launcher = _topmost_honcho(os.getpid() if pid is None else pid)
    if launcher is None:
        raise ConfigError(
            f"{LAUNCH} names the run after the honcho that started it, and this process "
            "was not started by honcho; give the run folder itself"
        )
    started = time.gmtime(_start_time_s(launcher))
    return f"{time.strftime('%Y%m%dT%H%M%SZ', started)}-honcho{launcher}"


def _topmost_honcho(pid: int) -> int | None:
    # honcho forks one worker per service (multiprocessing), each a copy of its
    # command line: the launch is the topmost honcho of the chain, not the nearest.
    found = None
    parent = _parent(pid)
    while parent > 1:
        if _is_honcho(_command_line(parent)):
            found = parent
        elif found is not None:
            break
        parent = _parent(parent)
    return found


def _is_honcho(argv: list[str]) -> bool:
    # `honcho start`, or its script run by a python: `python .../bin/honcho start`.
    names = [os.path.basename(part) for part in argv[:3]]
    return "honcho" in names or any(
        argv[i : i + 2] == ["-m", "honcho"] for i in range(min(2, len(argv)))
    )


def _command_line(pid: int) -> list[str]:
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _stat_fields(pid: int) -> list[str]:
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    text = (_PROC / str(pid) / "stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def _parent(pid: int) -> int:
    try:
        return int(_stat_fields(pid)[1])  # field 4: ppid
    except (OSError, ValueError, IndexError):
        return 0


def _start_time_s(pid: int) -> float:
    ticks = int(_stat_fields(pid)[19])  # field 22: start time, clock ticks after boot
    boot = next(
        int(line.split()[1])
        for line in (_PROC / "stat").read_text().splitlines()
        if line.startswith("btime ")
    )
    return boot + ticks / os.sysconf("SC_CLK_TCK")
