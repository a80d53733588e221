"""The sweep folder's record: one state file per combination, and who may run it.

`SWEEP/state/<key>.json` says where a combination is: `pending` (planned),
`running` (a worker started it: host, pid, ticks so far), `done` (its
result.json says the run completed, every stage saw every tick) or
`failed` (anything else, with the reason). Each write replaces the whole
file atomically. One sweep command at a time holds `SWEEP/sweep.lock` (an
advisory flock, released when the process dies), so a state still `running`
when a sweep starts was left by a dead one: that run is redone, never
counted. `judge` and `needs_run` are the only places that decide.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from common.folder_lock import hold_folder
from common.logs import utc_now_text
from services.recorder.artifacts import write_json_atomically


class RunState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def judge(exit_code: int | None, result: dict[str, Any] | None) -> tuple[RunState, str]:
    """Whether a finished run counts: done only if result.json says it completed, whole.

    The runner's exit code and result.json must agree; a run killed before
    its runner settled result.json (or with no runner left to) is failed.
    """
    if result is None:
        return RunState.FAILED, f"no result.json (runner exit {exit_code})"
    reason = str(result.get("exit_reason", "unknown"))
    if exit_code != 0:
        return RunState.FAILED, f"runner exit {exit_code}: {reason}"
    if result.get("complete") is not True or reason != "completed":
        return RunState.FAILED, f"incomplete: {reason}"
    return RunState.DONE, "completed"


def needs_run(state: dict[str, Any] | None, result: dict[str, Any] | None) -> bool:
    """Run it unless it is done and its result.json still says so."""
    if state is None or state.get("state") != RunState.DONE:
        return True
    return judge(0, result)[0] is not RunState.DONE


def state_path(sweep: Path, key: str) -> Path:
    return sweep / "state" / f"{key}.json"


def read_state(sweep: Path, key: str) -> dict[str, Any] | None:
    return read_json(state_path(sweep, key))


def write_state(sweep: Path, key: str, record: dict[str, Any]) -> None:
    path = state_path(sweep, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(path, {**record, "updated_at": utc_now_text()})


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None if it is missing or not whole."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def claim_sweep(sweep: Path) -> IO[str]:
    """Hold the sweep folder for this command (until the returned file is closed or it dies).

    Raises:
        ConfigError: another sweep command is working in that folder.
    """
    return hold_folder(sweep, "sweep.lock", what="sweep folder", holder="sweep")
