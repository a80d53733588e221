"""--shadow sends live orders: the runner and the executor refuse it without every live opt-in."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from common.errors import ConfigError
from orchestration import paper_live
from services.executor.executor_config import ExecutorConfig

OPT_INS = {
    "ENABLE_REAL_LIVE_EXECUTOR": "1",
    "CONFIRM_LIVE": "1",
    "LIVE_EXECUTOR_PROVIDER": "krakenex",
    "EXCHANGE_API_KEY": "key",
    "EXCHANGE_API_SECRET": base64.b64encode(b"s" * 64).decode(),
}
LIVE_FLAGS = ("--no-paper-mode", "--live-executor")


@pytest.mark.parametrize(
    ("flags", "unset", "named"),
    [
        (("--use-ws",), (), "--no-paper-mode"),  # --shadow alone is no live opt-in
        (("--use-ws", *LIVE_FLAGS), ("CONFIRM_LIVE",), "CONFIRM_LIVE=1"),
        (("--use-ws", *LIVE_FLAGS), ("EXCHANGE_API_SECRET",), "EXCHANGE_API_SECRET"),
        (LIVE_FLAGS, (), "--use-ws"),  # never on a replay
    ],
)
def test_shadow_without_an_opt_in_is_refused_in_one_line_before_anything_starts(
    flags: tuple[str, ...],
    unset: tuple[str, ...],
    named: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Exit 2, one line naming what is missing, no run folder: nothing was started."""
    for name, value in OPT_INS.items():
        if name in unset:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    artifacts = tmp_path / "artifacts"
    code = paper_live.main(["--shadow", *flags, "--artifacts-dir", str(artifacts)])
    stderr = capsys.readouterr().err
    assert code == 2
    assert stderr.count("\n") == 1 and stderr.startswith("paper_live: shadow mode refused")
    assert named in stderr
    assert not artifacts.exists()


def test_the_executor_refuses_shadow_without_the_live_flags() -> None:
    """The executor's own gate: --shadow needs --no-paper-mode and --live-executor too."""
    with pytest.raises(ConfigError, match="shadow mode refused; missing: --no-paper-mode"):
        ExecutorConfig.from_args(["--shadow", "--live-executor"], OPT_INS)


def test_the_executor_takes_shadow_with_every_opt_in_as_live() -> None:
    """Every opt-in: a live configuration (journal fsynced) with the twin's paper settings."""
    config = ExecutorConfig.from_args(["--shadow", *LIVE_FLAGS, "--latency-ms", "0"], OPT_INS)
    assert (config.live, config.shadow, config.fsync, config.latency_ms) == (True, True, True, 0)
