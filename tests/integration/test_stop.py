"""How a run's services are stopped: one that never stops when told is killed and named."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from tests.conftest import FIXTURES, scaled, wait_until
from tests.fixtures.plugins.hanging_features import HANG_AT
from tests.integration.test_paper_live import checkpoint_with_features
from tests.processes import start_runner, wait_for_runner


def test_a_service_that_never_stops_is_killed_after_ctrl_c_and_the_result_names_it(
    tmp_path: Path, trained_checkpoint: Path, short_ticks: Path
) -> None:
    """The model's plug-in blocks forever mid-replay (tests/fixtures/plugins/hanging_features.py),
    so it never reads its stop flag. Ctrl-C: the others stop in order, the model is killed
    --stop-timeout after its SIGTERM, and result.json says interrupted, incomplete, `killed`."""
    checkpoint = checkpoint_with_features(tmp_path, trained_checkpoint, "hanging_features")
    marker = tmp_path / "model-hung"
    runner = start_runner(
        tmp_path,
        checkpoint,
        *("--replay", str(short_ticks), "--stop-timeout", "5", "--address-dir", str(tmp_path)),
        *("--plugin-path", str(FIXTURES / "plugins")),
        env={**os.environ, "PLR_TEST_HANG_MARKER": str(marker)},
    )
    try:
        wait_until(lambda: marker.exists() or runner.poll() is not None, 90, "the model to hang")
        assert runner.poll() is None, runner.communicate()[0].decode()
        runner.send_signal(signal.SIGINT)
        code = wait_for_runner(runner, scaled(90))
        output = runner.communicate()[0].decode()
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate()
    assert code == 1, output
    assert "model still running --stop-timeout after SIGTERM; killed" in output
    assert "failed" not in output  # killed by the runner, not a crash of its own
    [folder] = (tmp_path / "artifacts").iterdir()
    result = json.loads((folder / "result.json").read_text())
    assert result["exit_reason"] == "interrupted" and result["complete"] is False
    assert result["killed"] == ["model"]
    # The model never said what it saw, so nothing is claimed for it: its last
    # predictions came before the tick it hung on.
    assert "model" not in result["counts"]["ticks_seen"]
    assert 0 < result["counts"]["predictions"] < HANG_AT
