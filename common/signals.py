"""Stop flags: SIGINT and SIGTERM only set an Event; loops check it."""

from __future__ import annotations

import signal
import threading


def install_stop_flag() -> threading.Event:
    """Return an Event that SIGINT/SIGTERM set (the loop then drains and exits)."""
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    return stop


def stay_until_stopped(stop: threading.Event, stay: bool) -> None:
    """With `stay`, block until SIGINT/SIGTERM.

    Procfile runners (honcho) stop every process as soon as one exits, which
    would cut the others off mid-drain; a service that stays lets them finish.
    """
    if stay:
        stop.wait()
