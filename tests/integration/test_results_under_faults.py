"""result.json is the truth whatever ends a run: any service killed mid-run."""

from __future__ import annotations

import json
import os
import random
import signal
from pathlib import Path

import pytest

from common.journal import read_entries
from common.messages import Fill, Side
from tests.conftest import scaled, wait_until
from tests.processes import service_pid, start_runner, wait_for_runner


def _book_from_journal(folder: Path) -> tuple[int, float, float]:
    """Fills, net position and fees, added up straight from the journal's entries."""
    fills = [e for e in read_entries(folder / "executor.journal") if isinstance(e, Fill)]
    position = sum(f.qty if f.side is Side.BUY else -f.qty for f in fills)
    return len(fills), position, sum(f.fee for f in fills)


# Two kill points per service: at the first fill and later on, each moved by a
# random fill or two so the kill lands between different messages.
KILL_POINTS = {"first_fill": 1, "later": 6}


def _signal_mid_run(
    tmp_path: Path, checkpoint: Path, victim: str, sig: int, fills: int, *args: str
) -> dict:
    """Send `sig` to one service once the journal holds `fills` fills; the run must end
    incomplete (exit 1) with a result.json whose fills and fees equal the journal's."""
    runner = start_runner(tmp_path, checkpoint, *("--speed", "10", "--max-loss", "100000"), *args)
    try:
        wait_until(lambda: any((tmp_path / "artifacts").glob("*/executor.journal")), 60, "start")
        [folder] = (tmp_path / "artifacts").iterdir()
        wait_until(lambda: _book_from_journal(folder)[0] >= fills, 60, f"{fills} fills")
        os.kill(service_pid(runner, f"services.{victim}"), sig)
        assert wait_for_runner(runner, scaled(120)) == 1
    finally:
        if runner.poll() is None:
            runner.kill()
    result = json.loads((folder / "result.json").read_text())
    assert result["complete"] is False
    in_journal, position, fees = _book_from_journal(folder)
    assert result["counts"]["fills"] == in_journal
    assert result["pnl"]["fees"] == pytest.approx(fees)
    [(symbol, held)] = result["positions"].items()
    assert held["qty"] == pytest.approx(position, abs=1e-12)
    return result


@pytest.mark.parametrize("point", list(KILL_POINTS))
@pytest.mark.parametrize("victim", ["feed", "model", "executor", "recorder"])
def test_a_service_killed_mid_run_leaves_a_result_that_equals_the_journal(
    victim: str, point: str, tmp_path: Path, trained_checkpoint: Path
) -> None:
    """SIGKILL mid-run: result.json exists, says incomplete and why, and its money = journal."""
    fills_before_kill = KILL_POINTS[point] + random.randint(0, 2)
    result = _signal_mid_run(
        tmp_path, trained_checkpoint, victim, signal.SIGKILL, fills_before_kill,
        *("--max-ticks", "8000"),
    )  # fmt: skip
    assert result["exit_reason"] == f"service_failed: {victim}"
    assert result["by_mode"]["paper"]["fills"] == result["counts"]["fills"]


def test_a_service_that_never_finishes_is_stopped_and_named_after_the_drain_deadline(
    tmp_path: Path, trained_checkpoint: Path
) -> None:
    """A stalled model (SIGSTOP) would keep the runner waiting for ever once the feed ended."""
    result = _signal_mid_run(
        tmp_path, trained_checkpoint, "model", signal.SIGSTOP, 1,
        *("--max-ticks", "3000", "--drain-timeout", "2"),
    )  # fmt: skip
    assert result["exit_reason"].startswith("service_hung: model")
