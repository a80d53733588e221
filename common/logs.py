"""Logging: each service ships its records over ZeroMQ to one collector.

`setup_logging` gives a service two handlers: stderr (for a person watching)
and `CollectorHandler`, publishing ``[b"<service>.<LEVEL>", b"<line>"]`` to
the collector's SUB (the recorder binds it), so one process writes a single
`run.log`. `format_log_frames` turns such frames back into a `run.log` line
that names its service.

run.log must carry every rejection, and a tripped circuit breaker can reject
thousands of targets a second in a fast replay: a log line's cost is on the
executor's hot path. Hence pyzmq's `PUBHandler` frames from a lighter handler,
and a formatter that writes the date once per second.
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

from common import sockets

LINE_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_MORE: Final = int(zmq.SNDMORE)


class LineFormatter(logging.Formatter):
    """`logging.Formatter`'s default asctime (``2026-12-01 09:27:18,169``), made once per second.

    `time.strftime` was a third of a line's formatting.
    """

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self._second = -1
        self._second_text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime(self.default_time_format, self.converter(second))
        return f"{self._second_text},{int(record.msecs):03d}"


class CollectorHandler(logging.Handler):
    """Publish each record as ``[b"<service>.<LEVEL>", b"<line>"]``, pyzmq `PUBHandler`'s frames.

    Written out because that handler cost 19 us a line here against 13 us for
    this one: it formats through a per-level table and sends with
    `send_multipart`; this formats once, sends two plain frames and builds
    each level's topic once. A PUB never blocks: at its mark it drops.
    """

    def __init__(self, sock: ZSocket, service: str) -> None:
        super().__init__()
        self.sock, self.service = sock, service
        self._topics: dict[int, bytes] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record).encode("utf-8", "replace")
            topic = self._topics.get(record.levelno)
            if topic is None:
                topic = self._topics[record.levelno] = f"{self.service}.{record.levelname}".encode()
            self.sock.send(topic, _MORE)
            self.sock.send(line)
        except Exception:  # logging must never take the service down
            self.handleError(record)


def setup_logging(
    service: str, ctx: ZContext | None, log_addr: str | None, level: int = logging.INFO
) -> ZSocket | None:
    """Install the stderr handler and, when `log_addr` is set, the ZeroMQ one.

    Returns:
        The log PUB socket (the caller closes it with the context), or None.
    """
    # Our lines never show the caller, thread or process: the logging HOWTO's
    # switches skip collecting them, a third of a record's cost (a circuit
    # breaker can log thousands of rejections in a fast replay).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(LineFormatter(f"{service} " + LINE_FORMAT))
    root.addHandler(stderr)
    if ctx is None or log_addr is None:
        return None
    sock = sockets.log_publisher(ctx, log_addr)
    handler = CollectorHandler(sock, service)
    handler.setFormatter(LineFormatter(LINE_FORMAT))
    root.addHandler(handler)
    return sock


def format_log_frames(frames: list[bytes]) -> str | None:
    """Return the `run.log` line for one log message, or None if not one.

    Exactly one line per record: control characters (newlines included) are
    escaped, so no record can forge or split lines of run.log (a traceback
    stays one line, with its line breaks shown as \\n).
    """
    if len(frames) != 2:
        return None
    topic = frames[0].decode("utf-8", "replace")
    service, _, level = topic.partition(".")
    text = frames[1].decode("utf-8", "replace").rstrip("\n")
    if not service.isidentifier() or not level.isalpha():
        return None
    return f"[{service}] {text.translate(_ESCAPES)}"


# Every C0 control character and DEL as a visible escape (\n, \r, \t or \xNN).
_ESCAPES: Final = {code: repr(chr(code))[1:-1] for code in (*range(0x20), 0x7F)}


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
