"""Logging: each service ships its records over ZeroMQ to one collector.

`setup_logging` gives a service two handlers: stderr (for a person watching)
and pyzmq's `PUBHandler`, publishing ``[b"<service>.<LEVEL>", b"<line>"]`` to
the collector's SUB (the recorder binds it), so one process writes a single
`run.log`. `format_log_frames` turns such frames back into a `run.log` line
that names its service.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, Final, TypeAlias

import zmq

if TYPE_CHECKING:
    ZSocket: TypeAlias = zmq.Socket[bytes]
    ZContext: TypeAlias = zmq.Context[ZSocket]
from zmq.log.handlers import PUBHandler

from common import sockets

LINE_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(
    service: str, ctx: ZContext | None, log_addr: str | None, level: int = logging.INFO
) -> ZSocket | None:
    """Install the stderr handler and, when `log_addr` is set, the ZeroMQ one.

    Returns:
        The log PUB socket (the caller closes it with the context), or None.
    """
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter(f"{service} " + LINE_FORMAT))
    root.addHandler(stderr)
    if ctx is None or log_addr is None:
        return None
    sock = sockets.log_publisher(ctx, log_addr)
    handler = PUBHandler(sock, root_topic=service)
    formatter = logging.Formatter(LINE_FORMAT)
    handler.setFormatter(formatter)  # one format for every level
    root.addHandler(handler)
    return sock


def format_log_frames(frames: list[bytes]) -> str | None:
    """Return the `run.log` line for one log message, or None if not one."""
    if len(frames) != 2:
        return None
    topic = frames[0].decode("utf-8", "replace")
    service, _, level = topic.partition(".")
    text = frames[1].decode("utf-8", "replace").rstrip("\n")
    if not service or not level:
        return None
    return f"[{service}] {text}"


def utc_now_text(now_ns: int | None = None) -> str:
    """Return an ISO-8601 UTC timestamp with milliseconds."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    seconds, rest_ns = divmod(now_ns, 1_000_000_000)
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest_ns // 1_000_000:03d}Z"
    )


class RateLimited:
    """Let a repeating message through at most once per `interval_s`, counting the rest."""

    def __init__(self, interval_s: float = 5.0) -> None:
        self.interval_s = interval_s
        self._next_allowed = 0.0
        self.suppressed = 0

    def ready(self) -> bool:
        now = time.monotonic()
        if now < self._next_allowed:
            self.suppressed += 1
            return False
        self._next_allowed = now + self.interval_s
        return True
