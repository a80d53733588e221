"""Which of a run's ended services count as failed."""

from __future__ import annotations

import signal
import subprocess
import sys

from orchestration.outcome import failures


def _killed_process(sig: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    proc.send_signal(sig)
    proc.wait()
    return proc


def test_only_the_signal_the_runner_sent_excuses_an_exit() -> None:
    procs = {
        "feed": _killed_process(signal.SIGTERM),  # told to stop, stopped
        "model": _killed_process(signal.SIGKILL),  # told to stop, killed past --stop-timeout
        "executor": _killed_process(signal.SIGKILL),  # told to stop, killed by someone else
        "recorder": _killed_process(signal.SIGTERM),  # never told: not ours
    }
    stopped = {"feed", "model", "executor"}

    assert failures(procs, stopped, killed=["model"]) == ["executor", "recorder"]
