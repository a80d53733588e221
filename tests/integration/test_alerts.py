"""A run's alerts reach a local webhook: the breaker's trip (from the recorder) and the run's end
(from the runner); the webhook URL, which may carry a token, stays out of the run's files."""

from __future__ import annotations

import json
from pathlib import Path

from common.alerts import BREAKER_TRIPPED, RUN_ENDED, SERVICE_DIED
from tests.conftest import FIXTURES
from tests.fakes.webhook import WebhookReceiver
from tests.integration.test_paper_live import (
    _run,
    _runner_process,
    checkpoint_failing_in_service,
)


def test_a_run_whose_breaker_trips_alerts_the_trip_and_its_end(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    """--max-loss 5 trips the breaker early; the webhook gets breaker_tripped, then run_ended
    with the result."""
    with WebhookReceiver() as receiver:
        code, output, result, folder = _run(
            tmp_path,
            trained_checkpoint,
            "--max-ticks",
            "12000",
            "--max-loss",
            "5",
            "--alert-webhook",
            receiver.url,
        )
    assert code == 0, output
    assert result["circuit_breaker"]["tripped"]
    kinds = receiver.kinds()
    assert kinds.count(BREAKER_TRIPPED) == 1 and kinds[-1] == RUN_ENDED, kinds
    breaker = receiver.bodies[kinds.index(BREAKER_TRIPPED)]
    assert breaker["run_id"] == folder.name and "equity" in breaker["details"]
    end = receiver.bodies[-1]
    assert end["details"]["exit_reason"] == "completed"
    assert end["details"]["fills"] == result["counts"]["fills"]
    for name in ("config.json", "result.json", "run.log"):
        assert "secret-token" not in (folder / name).read_text(), name
    assert "secret-token" not in output


def test_an_unreachable_webhook_never_fails_the_run(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    """Every delivery fails (500): the run completes all the same, and says nothing of the URL."""
    with WebhookReceiver(fail_first=1_000) as receiver:
        code, output, result, folder = _run(
            tmp_path, trained_checkpoint, "--max-ticks", "3000", "--alert-webhook", receiver.url
        )
    assert code == 0, output
    assert receiver.bodies == []
    assert result["exit_reason"] == "completed"
    assert "secret-token" not in json.dumps(result) + output


def test_a_service_that_dies_is_alerted_with_its_last_words_then_the_end(
    tmp_path: Path, trained_checkpoint: Path
) -> None:
    """A plug-in that fails in the model service: the model exits 2; the webhook hears
    service_died naming it and what it said, then run_ended (incomplete)."""
    checkpoint = checkpoint_failing_in_service(tmp_path, trained_checkpoint)
    with WebhookReceiver() as receiver:
        done = _runner_process(
            tmp_path,
            checkpoint,
            *("--plugin-path", str(FIXTURES / "plugins")),
            *("--alert-webhook", receiver.url),
            timeout_s=120,
        )
    assert done.returncode == 1
    kinds = receiver.kinds()
    assert kinds[0] == SERVICE_DIED and kinds[-1] == RUN_ENDED, kinds
    died = receiver.bodies[0]
    assert died["details"]["service"] == "model" and died["details"]["last_words"]
    assert receiver.bodies[-1]["details"]["complete"] is False
