"""Run ids and run directories: `experiments/artifacts/<run_id>/`.

A run id sorts by start time as text and is unique without coordination:
UTC time to the millisecond, then 6 random hex digits, e.g.
``20261125T093600.123Z-4f1c2a``. It must not name a parent folder.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Final

from common.errors import ConfigError
from common.launcher import LAUNCH, launch_id

DEFAULT_ARTIFACTS_DIR: Final = Path("experiments/artifacts")
_RUN_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def new_run_id(now_ns: int | None = None) -> str:
    """Return a fresh run id for a run starting at `now_ns` (default: now)."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    seconds, rest_ns = divmod(now_ns, 1_000_000_000)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds))
    return f"{stamp}.{rest_ns // 1_000_000:03d}Z-{secrets.token_hex(3)}"


def check_run_id(run_id: str) -> str:
    """Return `run_id` if it is a safe folder name, else raise ConfigError."""
    if not _RUN_ID.match(run_id) or run_id in (".", ".."):
        raise ConfigError(f"--run-id: {run_id!r} is not a safe folder name")
    return run_id


def run_dir(artifacts_dir: Path, run_id: str) -> Path:
    """Create (if needed) and return the directory of one run."""
    path = Path(artifacts_dir) / check_run_id(run_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_folder(text: str) -> Path:
    """A run folder setting; `{launch}` in it becomes this launch's id (`common.launcher`).

    So `PLR_RUN_DIR=experiments/artifacts/{launch}` gives every `honcho start`
    a fresh run that all its services agree on, and a second start never
    trades on top of the first one's journal.
    """
    if LAUNCH not in text:
        return Path(text)
    return Path(text.replace(LAUNCH, launch_id()))
