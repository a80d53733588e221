"""Stop flags: SIGINT and SIGTERM only set an Event; loops check it."""

from __future__ import annotations

import os
import signal
import threading


def install_stop_flag() -> threading.Event:
    """Return an Event that SIGINT/SIGTERM set (the loop then drains and exits).

    Not set by the signal handler itself: the handler runs in the main
    thread, between two steps of whatever it was doing, and that may be
    `stop.wait()` holding the Event's lock (a paced feed waits there between
    ticks); `set` would then wait for that lock forever, and the process would
    never stop. The handler only writes a byte to a pipe; a thread waiting on
    the pipe sets the Event.
    """
    stop = threading.Event()
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)

    def request_stop(signum: int, frame: object) -> None:
        try:
            os.write(write_end, b"!")
        except BlockingIOError:  # the pipe is full of earlier requests: one is enough
            pass

    def set_on_request() -> None:
        os.read(read_end, 1)
        stop.set()

    threading.Thread(target=set_on_request, name="stop-request", daemon=True).start()
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
