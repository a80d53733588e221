"""One combination on a worker: an ordinary `orchestration.paper_live` run, as a subprocess.

This is the function the engine runs (`run_combination`); it needs the
project installed on the worker and the sweep folder, the recordings and
the checkpoints at the same paths there (shared storage; docs/SWEEPS.md).
It records `running` (host, pids, ticks so far), runs the replay, and
records what `state.judge` makes of its exit code and result.json.

A run is never merged with an earlier attempt: whatever an attempt left
(a worker killed mid-run, a failed run) is first stopped, if any of its
processes are still alive on this host, then moved to `SWEEP/failed/`.
The runner is started with a parent-death signal, so a worker that dies
takes its run down cleanly (SIGTERM: the runner stops its services in
order and settles result.json as interrupted).
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Final

from orchestration.sweep.state import RunState, judge, read_json, read_state, write_state

PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]
# Each run's services would otherwise meet on the default metrics ports (they
# fall back to free ones, with a warning each); 0 asks for a free one at once.
PORT_VARIABLES: Final = (
    "PLR_HEALTH_PORT",
    "PLR_MODEL_METRICS_PORT",
    "PLR_EXECUTOR_METRICS_PORT",
    "PLR_RECORDER_METRICS_PORT",
    "PLR_DASHBOARD_PORT",
)
PROGRESS: Final = re.compile(r"([\d,]+)(?:/[\d,]+)? ticks \(")
STATE_EVERY_S: Final = 2.0  # how often `running` is rewritten with the ticks so far
LEFTOVER_WAIT_S: Final = 60.0  # an earlier attempt's processes get this long to stop
PR_SET_PDEATHSIG: Final = 1


def run_combination(
    sweep: str, key: str, run_id: str, args: list[str], shape: dict[str, Any]
) -> dict[str, Any]:
    """Run one combination to its end; return its final state record (also written to disk)."""
    folder = Path(sweep)
    previous = read_state(folder, key) or {}
    record: dict[str, Any] = {
        "key": key,
        "run_id": run_id,
        "combination": shape,
        "state": RunState.RUNNING,
        "attempts": int(previous.get("attempts", 0)) + 1,
        "host": socket.gethostname(),
        "worker_pid": os.getpid(),
        "ticks_done": 0,
        # The run alone, reproduced: this command, from the project folder.
        "command": ["python", "-m", "orchestration.paper_live", *args],
    }
    run_folder = folder / "runs" / run_id
    _stop_leftovers(run_folder, run_id)
    if run_folder.exists():  # an earlier attempt's: kept as evidence, never resumed into
        aside = folder / "failed" / f"{run_id}.attempt-{record['attempts'] - 1}"
        aside.parent.mkdir(parents=True, exist_ok=True)
        run_folder.rename(aside)
    missing = [p for p in (shape["replay"], shape["checkpoint"]) if not Path(p).exists()]
    if missing:
        record |= {
            "state": RunState.FAILED,
            "reason": f"not on {record['host']}: {', '.join(missing)} (shared storage?)",
        }
        write_state(folder, key, record)
        return record
    write_state(folder, key, record)
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **{name: os.environ.get(name, "0") for name in PORT_VARIABLES}}
    with open(logs / f"{run_id}.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestration.paper_live", *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=_die_with_parent,
        )
        record["runner_pid"] = proc.pid
        write_state(folder, key, record)
        last_write = time.monotonic()
        for line in proc.stdout or ():
            log.write(line)
            found = PROGRESS.search(line)
            if found:
                record["ticks_done"] = int(found.group(1).replace(",", ""))
                if time.monotonic() - last_write > STATE_EVERY_S:
                    write_state(folder, key, record)
                    last_write = time.monotonic()
        exit_code = proc.wait()
    result = read_json(run_folder / "result.json")
    state, reason = judge(exit_code, result)
    record |= {"state": state, "reason": reason, "exit_code": exit_code}
    if result is not None:
        record["ticks_done"] = result.get("counts", {}).get("ticks", record["ticks_done"])
    write_state(folder, key, record)
    return record


def _die_with_parent() -> None:
    """In the runner, before exec: SIGTERM it when the worker that started it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop_leftovers(run_folder: Path, run_id: str) -> None:
    """Stop this host's processes of an earlier attempt at the run, and wait until they are gone.

    Its runner names the run id and the sweep's runs folder on its command
    line; its services carry the run folder in their environment (a runner
    killed outright leaves them running).
    """
    mine = f"PLR_RUN_DIR={run_folder.resolve()}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or another user's
            continue
        runner = all(
            part in command
            for part in (b"orchestration.paper_live", run_id.encode(), bytes(run_folder.parent))
        )
        if runner or mine in environ.split(b"\0"):
            found.append(int(entry.name))
    for pid in found:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + LEFTOVER_WAIT_S
    waiting = threading.Event()
    while any(_alive(pid) for pid in found):
        if time.monotonic() > deadline:
            for pid in found:
                _signal(pid, signal.SIGKILL)
            break
        waiting.wait(0.1)  # polling the processes' exit, not a synchronisation sleep


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; its parent has yet to reap it
