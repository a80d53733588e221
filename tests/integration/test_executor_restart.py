"""kill -9 of the executor in the middle of a run, then a restart: nothing lost or doubled."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from common.addresses import Addresses
from common.journal import event_identity, line_identity, published, read_entries
from common.messages import Fill
from tests.conftest import BUNDLED, wait_until
from tests.processes import services


def _fill_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text().splitlines() if line.startswith('["Fill"')]


def test_executor_killed_and_restarted_mid_run_keeps_every_fill_once(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    """The run completes; the recorder wrote each journaled event exactly once."""
    run = tmp_path / "artifacts" / "restart-run"
    env = {
        **os.environ,
        **Addresses.in_folder(tmp_path).environ(),
        "PLR_RUN_DIR": str(run),
        "PLR_LOSSLESS": "1",
        "PLR_CKPT": str(trained_checkpoint),
        "PLR_REPLAY": str(BUNDLED),
        "PLR_SPEED": "20",  # fast, yet the restart lands well before the replay ends
        "PLR_MAX_TICKS": "20000",
        "PLR_EXPECT": "model,executor,recorder",
        "PLR_MAX_LOSS": "100000",
        "PLR_MAX_ORDERS_PER_MINUTE": "100000",
    }
    journal = run / "executor.journal"
    with services(tmp_path) as group:
        for name in ("recorder", "model", "executor", "feed"):
            group.start(name, f"services.{name}", [], env=env)
        wait_until(lambda: len(_fill_lines(journal)) >= 3, 60, "fills before the crash")
        os.kill(group.procs["executor"].pid, signal.SIGKILL)
        group.wait("executor")
        before_crash = len(_fill_lines(journal))
        group.start("executor-again", "services.executor", [], env=env)
        assert group.wait("feed", 120) == 0, group.output("feed")
        assert group.wait("recorder", 120) == 0, group.output("recorder")
        assert group.wait("executor-again", 30) == 0, group.output("executor-again")
    journal_fills = [json.loads(line) for line in _fill_lines(journal)]
    recorded = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    recorded_fills = [e for e in recorded if e["type"] == "Fill"]
    assert len(journal_fills) > before_crash  # trading went on after the restart
    assert sorted(f["order_id"] for f in recorded_fills) == sorted(f[2] for f in journal_fills)
    # Each fill once: an order walking the book fills at several prices of one tick.
    identities = {(f["order_id"], f["tick_seq"], f["price"]) for f in recorded_fills}
    assert len(identities) == len(recorded_fills)
    # Orders, rejections and risk events too: each journaled one is in events.jsonl once.
    journaled = [
        event_identity(entry)
        for entry in published(read_entries(journal))
        if not isinstance(entry, Fill)
    ]
    lines = (run / "events.jsonl").read_text().splitlines()
    written = Counter(line_identity(json.loads(line)) for line in lines)
    assert len(set(journaled)) == len(journaled)  # identities tell them apart
    assert {identity: written[identity] for identity in journaled} == dict.fromkeys(journaled, 1)
    result = json.loads((run / "result.json").read_text())
    assert result["exit_reason"] == "completed"
    assert result["counts"]["fills"] == len(journal_fills)
    final_qty = sum(f[5] if f[4] == "buy" else -f[5] for f in journal_fills)
    [position] = result["positions"].values()
    assert position["qty"] == pytest.approx(final_qty, abs=1e-9)
