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
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, TypeAlias

import zmq

if TYPE_CHECKING:
    ZSocket: TypeAlias = zmq.Socket[bytes]
    ZContext: TypeAlias = zmq.Context[ZSocket]

from common import sockets

LINE_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
EARLY_RECORDS: Final = 1_000  # held back at most, before the collector joins
_MORE: Final = int(zmq.SNDMORE)


class LineFormatter(logging.Formatter):
    """Stamps lines as `utc_now_text` does (``2026-12-01T09:27:18.169Z``), dates made once a second.

    One format for every line of run.log, the recorder's own included, and
    UTC, so the services' lines sort with each other whatever their hosts'
    time zones. `time.strftime` was a third of a line's formatting.
    """

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self._second = -1
        self._second_text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._second_text}.{int(record.msecs):03d}Z"


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
        # Records from before the collector subscribed (the model or journal
        # loaded at start): a PUB would drop them, so they wait here, up to
        # EARLY_RECORDS, and go first once its subscription arrives (the
        # socket is an XPUB). None once it has.
        self._early: list[tuple[bytes, bytes]] | None = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record).encode("utf-8", "replace")
            topic = self._topics.get(record.levelno)
            if topic is None:
                topic = self._topics[record.levelno] = f"{self.service}.{record.levelname}".encode()
            if self._early is not None and not self._collector_joined():
                if len(self._early) < EARLY_RECORDS:
                    self._early.append((topic, line))
                return
            self.sock.send(topic, _MORE)
            self.sock.send(line)
        except Exception:  # logging must never take the service down
            self.handleError(record)

    def _collector_joined(self) -> bool:
        """True once the XPUB has seen a subscription; then send what waited."""
        assert self._early is not None
        try:
            self.sock.recv(zmq.NOBLOCK)  # a subscription frame: a collector is there
        except zmq.Again:
            return False
        except zmq.ZMQError:  # a plain PUB cannot tell: send from now on
            pass
        early, self._early = self._early, None
        for topic, line in early:
            self.sock.send(topic, _MORE)
            self.sock.send(line)
        return True


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


class FirstThenCounts:
    """The first `first` messages of each kind in full, then only counts, summed per interval.

    For a warning that can repeat thousands of times a second (a tripped
    breaker rejects every target): `admit` says whether this one is shown;
    `due` returns, once `interval_s` has passed since the first one held
    back, each kind's held-back count and the span it covers; `drain` returns
    the rest at the end. Pure: the caller passes the time (seconds, any
    monotonic origin).
    """

    def __init__(self, first: int = 3, interval_s: float = 10.0) -> None:
        self.first, self.interval_s = first, interval_s
        self.total: Counter[str] = Counter()  # every one admitted or not, by kind
        self._held: Counter[str] = Counter()  # held back since the interval began
        self._since: float | None = None  # when the current interval began

    def admit(self, kind: str, now_s: float) -> bool:
        """Count one; True if it is among the first of its kind (show it in full)."""
        self.total[kind] += 1
        if self.total[kind] <= self.first:
            return True
        if self._since is None:
            self._since = now_s
        self._held[kind] += 1
        return False

    def due(self, now_s: float) -> list[tuple[str, int, float]]:
        """`(kind, held back, span_s)` for each kind, once the interval has passed; else []."""
        if self._since is None or now_s - self._since < self.interval_s:
            return []
        return self.drain(now_s)

    def drain(self, now_s: float) -> list[tuple[str, int, float]]:
        """Everything held back so far, whether or not the interval has passed."""
        if self._since is None:
            return []
        span_s = now_s - self._since
        held = [(kind, count, span_s) for kind, count in self._held.most_common()]
        self._held.clear()
        self._since = None
        return held


def counts_text(counts: Mapping[str, int] | Counter[str]) -> str:
    """``circuit_breaker 4,379, rate_limit 737`` (largest first), or ``none``: for a log line."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    return ", ".join(f"{kind} {count:,}" for kind, count in ordered if count) or "none"
