"""`--resume`: a replay killed anywhere, then resumed, ends as if it had never been killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.journal import read_entries
from common.messages import Fill, OrderRejected, OrderSubmitted
from common.tickfile import TickFileReader
from tests.conftest import PROJECT_ROOT, scaled, wait_until
from tests.processes import service_pid, start_runner

# Paced (3 s of replay), so each kill lands mid-run; the ticks cover about 120 fills.
# A spot account starting with BTC too, so the model's sells below flat fill (spot
# refuses a sell of BTC the account does not hold) and the kills land mid-run.
RUN: tuple[str, ...] = (
    "--speed",
    "10",
    "--max-ticks",
    "3000",
    "--max-loss",
    "100000",
    "--balances",
    "USDT=10000,BTC=0.05",
)


@pytest.fixture(scope="module", autouse=True)
def _no_rate_limits() -> Iterator[None]:
    """Every runner here (inherited environment) trades unthrottled: Kraken's Starter
    limits would leave about 25 fills in these 3,000 ticks, too few to kill mid-run."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLR_RATE_LIMIT_TIER", "off")
        yield


def _resume_argv(tmp_path: Path, *args: str) -> list[str]:
    """The runner resuming a run of `tmp_path/artifacts`: no run-shaping flag is retyped."""
    artifacts = str(tmp_path / "artifacts")
    return [sys.executable, "-m", "orchestration.paper_live", "--artifacts-dir", artifacts, *args]


def _refused(tmp_path: Path, *args: str) -> str:
    """Run the runner with `args`; it must exit 2 with one line on stderr, which is returned."""
    done = subprocess.run(
        _resume_argv(tmp_path, *args),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def _journal_fills(folder: Path) -> list[Fill]:
    return [e for e in read_entries(folder / "executor.journal") if isinstance(e, Fill)]


def _fills(folder: Path) -> list[tuple[Any, ...]]:
    """Each fill as the market made it: everything but the order id."""
    return [
        (f.symbol, f.side, f.qty, f.price, f.fee, f.liquidity, f.tick_seq, f.ts_ns)
        for f in _journal_fills(folder)
    ]


def _orders(folder: Path) -> list[tuple[Any, ...]]:
    entries = read_entries(folder / "executor.journal")
    # A target id's middle is its model process's own token; its count is the run's.
    return [
        (type(e).__name__, e.target_id.rsplit("-", 1)[1], e.symbol, e.side, e.qty)
        for e in entries
        if isinstance(e, (OrderSubmitted, OrderRejected))
    ]


def _money(result: dict[str, Any]) -> dict[str, Any]:
    counts = result["counts"]
    return {
        "pnl": result["pnl"],
        "positions": result["positions"],
        "by_mode": result["by_mode"],
        "account": result["account"],
        "counts": {k: counts[k] for k in ("fills", "orders", "rejections", "targets")},
    }


def _finish(runner: subprocess.Popen[bytes]) -> tuple[int, str]:
    try:
        output, _ = runner.communicate(timeout=scaled(180))
    finally:
        if runner.poll() is None:
            runner.kill()
    return runner.returncode, output.decode(errors="replace")


@pytest.fixture(scope="module")
def whole_run(
    trained_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    """The uninterrupted run every resumed one is compared with (shared: it takes a while)."""
    tmp = tmp_path_factory.mktemp("whole")
    code, output = _finish(start_runner(tmp, trained_checkpoint, *RUN, "--run-id", "whole"))
    assert code == 0, output
    folder = tmp / "artifacts" / "whole"
    return folder, json.loads((folder / "result.json").read_text())


@pytest.mark.parametrize(
    ("victim", "fills_before_kill"), [("executor", 10), ("model", 40), ("feed", 80)]
)
def test_a_replay_killed_then_resumed_ends_with_the_uninterrupted_fills_positions_and_pnl(
    victim: str,
    fills_before_kill: int,
    whole_run: tuple[Path, dict[str, Any]],
    trained_checkpoint: Path,
    tmp_path: Path,
) -> None:
    """SIGKILL one service after N journaled fills; `--resume`: same fills, positions, PnL."""
    whole_folder, whole = whole_run
    runner = start_runner(tmp_path, trained_checkpoint, *RUN, "--run-id", "cut")
    folder = tmp_path / "artifacts" / "cut"
    try:
        wait_until(
            lambda: len(_journal_fills(folder)) >= fills_before_kill, 60, "fills before the kill"
        )
        os.kill(service_pid(runner, f"services.{victim}"), signal.SIGKILL)
    finally:
        code, output = _finish(runner)
    assert code == 1, output
    fills_at_kill = len(_journal_fills(folder))
    assert fills_at_kill < len(_journal_fills(whole_folder))  # killed before the end

    resumed = subprocess.Popen(
        _resume_argv(tmp_path, "--resume", "--run-id", "cut"),
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    code, output = _finish(resumed)
    assert code == 0, output
    result = json.loads((folder / "result.json").read_text())
    assert result["complete"] is True and result["exit_reason"] == "completed"
    assert _fills(folder) == _fills(whole_folder)
    assert _orders(folder) == _orders(whole_folder)
    assert _money(result) == _money(whole)
    assert result["counts"]["ticks_seen"] == {"model": 3000, "executor": 3000}
    # An order keeps its one id across the kill: every fill names a journaled order.
    entries = read_entries(folder / "executor.journal")
    submitted = {e.order_id for e in entries if isinstance(e, OrderSubmitted)}
    assert {f.order_id for f in _journal_fills(folder)} <= submitted
    assert len(result["sessions"]) == 2
    # The recorder appended: every tick once, each prediction line once.
    ticks = folder / "ticks.gz"
    with TickFileReader(ticks) as mine, TickFileReader(whole_folder / "ticks.gz") as whole_ticks:
        assert list(mine) == list(whole_ticks)
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    predicted = [e["tick_seq"] for e in events if e["type"] == "Prediction"]
    assert len(predicted) == len(set(predicted))
    recorded_fills = [e for e in events if e["type"] == "Fill"]
    assert len(recorded_fills) == len(_journal_fills(folder))
    assert "resumed" in (folder / "run.log").read_text()


def test_resume_of_a_missing_run_or_one_without_config_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    """Nothing to resume, or a run-shaping flag retyped: exit 2, one line, nothing created."""
    assert "--resume" in _refused(tmp_path, "--resume", "--run-id", "nope")
    assert not (tmp_path / "artifacts" / "nope").exists()
    empty = tmp_path / "artifacts" / "empty"
    empty.mkdir(parents=True)
    assert "config.json" in _refused(tmp_path, "--resume", "--run-id", "empty")
    assert "--run-id" in _refused(tmp_path, "--resume")
    (empty / "config.json").write_text("{not json")
    assert "config.json" in _refused(tmp_path, "--resume", "--run-id", "empty")
    (empty / "config.json").write_text(json.dumps({"PLR_MODE": "paper"}))
    assert "--speed" in _refused(tmp_path, "--resume", "--run-id", "empty", "--speed", "2")
    assert "--ckpt" in _refused(tmp_path, "--resume", "--run-id", "empty", "--ckpt", "m.skops")
    assert sorted(p.name for p in empty.iterdir()) == ["config.json"]
    assert "--run-id" in _refused(tmp_path, "--run-id", "empty")  # a rerun never merges
    assert sorted(p.name for p in empty.iterdir()) == ["config.json"]
