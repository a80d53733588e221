"""`{launch}`: the services of one `honcho start` name one run, and the next start another."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from common.errors import ConfigError
from common.launcher import launch_id
from services.recorder.recorder_config import RecorderConfig
from tests.conftest import PROJECT_ROOT, scaled

PRINT_AND_WAIT = (
    f"{sys.executable} -c "
    "'import signal; from common.launcher import launch_id; print(launch_id(), flush=True); "
    "signal.pause()'"
)


def _one_honcho_start(tmp_path: Path) -> set[str]:
    """The launch ids two Procfile lines print under one real `honcho start`."""
    procfile = tmp_path / "Procfile"
    procfile.write_text(f"a: {PRINT_AND_WAIT}\nb: {PRINT_AND_WAIT}\n")
    honcho = subprocess.Popen(
        [str(Path(sys.executable).with_name("honcho")), "-f", str(procfile), "start"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    ids: dict[str, str] = {}
    try:
        assert honcho.stdout is not None
        for line in honcho.stdout:  # honcho prefixes each line with its process: "a.1 | ..."
            found = re.match(r"\S*\s+(\w)\.1\s+\|\s+(\S+)", line)
            if found:
                ids[found[1]] = found[2]
            if len(ids) == 2:
                break
    finally:
        honcho.send_signal(signal.SIGINT)
        honcho.wait(scaled(30))
    return set(ids.values())


def test_every_service_of_one_honcho_start_gets_the_same_new_run(tmp_path: Path) -> None:
    first = _one_honcho_start(tmp_path)
    second = _one_honcho_start(tmp_path)
    assert len(first) == 1 and len(second) == 1  # both lines of one start agree
    assert first != second  # and a second start is another run
    [name] = first
    assert re.fullmatch(r"\d{8}T\d{6}Z-honcho\d+", name)


def test_launch_outside_honcho_is_a_clear_configuration_error() -> None:
    with pytest.raises(ConfigError, match="not started by honcho"):
        launch_id()
    with pytest.raises(ConfigError, match="PLR_RUN_DIR: .*not started by honcho"):
        RecorderConfig.from_args([], {"PLR_RUN_DIR": "experiments/artifacts/{launch}"})
