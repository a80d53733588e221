"""`install_stop_flag`: SIGTERM stops a real process whatever its main thread was doing."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PROJECT_ROOT, scaled

# The moment a paced feed spends its time in: inside `stop.wait()`, holding the
# Event's lock (taken here by hand, as `wait` takes it). The signal's handler
# runs right there, in this thread.
CHILD = """
import os, signal
from common.signals import install_stop_flag
stop = install_stop_flag()
with stop._cond:
    os.kill(os.getpid(), signal.SIGTERM)
    steps = sum(range(1000))  # a few steps: the handler runs between two of them
print("stopped" if stop.wait(10) else "not stopped", flush=True)
"""


def test_sigterm_while_the_main_thread_holds_the_flags_lock_still_stops() -> None:
    """It deadlocked when the handler set the Event itself (a feed ignored SIGTERM)."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert done.stdout.strip() == "stopped", done.stderr[-2000:]
