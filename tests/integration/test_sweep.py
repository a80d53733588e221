"""A real sweep on a local Dask cluster: killed mid-sweep, rerun, every run counted once.

Two ordinary runs (a 1,000-tick slice of the bundled recording x two
settings) on two workers. While they run, one run's Dask worker is killed
(Dask gives its task to a worker again: the run is redone from scratch) and
the other run's runner process is killed (that run fails; the rerun redoes
it). The rerun runs only that one and skips the other; the table equals the
runs' own result.json files. (The sweep's larger shapes are the unit tests'.)
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import BUNDLED, PROJECT_ROOT, scaled, wait_until


def _command(spec: Path, folder: Path) -> list[str]:
    return [sys.executable, "-m", "orchestration.sweep", str(spec), "--out", str(folder)] + [
        "--workers",
        "2",
    ]


def _states(folder: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted((folder / "state").glob("*.json")):
        try:
            found.append(json.loads(path.read_text()))
        except ValueError:  # never: written atomically; kept so a failure says so plainly
            continue
    return found


def _running(folder: Path, not_key: str | None = None) -> dict[str, Any] | None:
    """A run whose runner made its folder and has not settled its result yet: mid-run."""
    for state in _states(folder):
        if state["state"] != "running" or "runner_pid" not in state or state["key"] == not_key:
            continue
        run = folder / "runs" / state["run_id"]
        if (run / "config.json").exists() and not (run / "result.json").exists():
            return state
    return None


def test_sweep_killed_mid_run_finishes_on_rerun_with_each_run_once(
    tmp_path: Path, trained_checkpoint: Path
) -> None:
    """Killed worker: redone by the engine; killed runner: redone by the rerun; table = results."""
    spec = tmp_path / "spec.toml"
    spec.write_text(
        f'[data]\nticks = "{BUNDLED}"\nslice_ticks = 1000\nmax_slices = 1\n'
        f'[models]\ncheckpoints = ["{trained_checkpoint}"]\n'
        "[grid]\nmax-position = [0.01, 0.05]\n"
    )
    folder = tmp_path / "sweep"
    first = subprocess.Popen(
        _command(spec, folder),
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: _running(folder) is not None, 60, "a run to start")
        worker_run = _running(folder)
        assert worker_run is not None
        os.kill(worker_run["worker_pid"], signal.SIGKILL)
        wait_until(
            lambda: _running(folder, worker_run["key"]) is not None, 60, "another run to start"
        )
        runner_run = _running(folder, worker_run["key"])
        assert runner_run is not None
        os.kill(runner_run["runner_pid"], signal.SIGKILL)
        output, _ = first.communicate(timeout=scaled(180))
    finally:
        first.kill()
        first.wait()
    assert first.returncode == 1, output  # the killed runner's run failed
    assert "2 runs: 1 ran, 1 failed, 0 skipped" in output, output

    second = subprocess.run(
        _command(spec, folder),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=scaled(120),
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "2 runs: 1 ran, 0 failed, 1 skipped (done before)" in second.stdout

    states = {state["run_id"]: state for state in _states(folder)}
    assert len(states) == 2 and all(s["state"] == "done" for s in states.values())
    assert states[worker_run["run_id"]]["attempts"] == 2  # redone by the engine
    assert states[runner_run["run_id"]]["attempts"] == 2  # redone by the rerun
    attempts = sorted(p.name for p in (folder / "failed").iterdir())
    assert attempts == sorted(f"{run['run_id']}.attempt-1" for run in (worker_run, runner_run))
    with open(folder / "comparison.csv") as f:
        table = list(csv.DictReader(f))
    assert sorted(r["run_id"] for r in table) == sorted(states)  # each run once
    for line in table:
        result = json.loads((folder / "runs" / line["run_id"] / "result.json").read_text())
        assert result["complete"] is True and result["counts"]["ticks"] == 1000
        assert float(line["pnl_total"]) == result["pnl"]["total"]
        assert float(line["fees"]) == result["pnl"]["fees"]
        assert float(line["max_drawdown"]) == result["max_drawdown"]
        assert int(line["fills"]) == result["counts"]["fills"]
        assert int(line["rejections"]) == sum(result["counts"]["rejections"].values())
    assert (folder / "comparison.html").stat().st_size > 0
