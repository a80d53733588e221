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
