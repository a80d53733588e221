"""Flow control for lossless replays: the feed stays at most `WINDOW` ticks ahead.

A fast replay reads its file far quicker than the model decides, and the
lossless sockets (no high-water mark, so nothing is ever dropped) would hold
the whole difference in memory. So each subscriber of a replay reports the
last seq it has handled, when it joins and then every `REPORT_EVERY` ticks,
on a PUSH to the feed's `progress` PULL; the feed sends tick n only once
every subscriber that has reported is at n - `WINDOW` or later.

A report is one frame, the wire payload of a `Progress` message:
`Progress(source, tick_seq, joined=False)` for a position, and
`Progress(source, 0, joined=True)` when the subscriber (re)joins. Anything else
on the socket (bytes that do not decode, another message, several frames) is
counted in `ReplayWindow.malformed` and ignored: it never stops the feed. Memory then
stays flat however long the file, and nothing is dropped.

A subscriber also reports whenever it runs out of queued input, so a feed
holding back always hears the position it waits for.

A subscriber that joins (or rejoins after a restart) counts as caught up with
what was already sent: what it missed is gone and must not stall the replay.
One that never reports is not waited for, and one that holds the feed back
for `GIVE_UP_S` without reporting is taken for gone (killed, or stopped for a
swap) until it reports again. Live mode has none of this.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Final, TypeAlias

import zmq

from common import wire
from common.errors import WireError
from common.messages import Progress

if TYPE_CHECKING:
    ZSocket: TypeAlias = zmq.Socket[bytes]

log = logging.getLogger(__name__)

# Ticks in flight to the slowest subscriber, at most. A subscriber's ZeroMQ
# queue holds them in its own memory: unbatched, 8,192 moved the executor's
# resident size by 43-50 MiB from sample to sample (its queue's fill), 4,096
# by 43-44, with replays no slower (bench/README.md, ninth pass).
WINDOW: Final = 4_096
REPORT_EVERY: Final = 1_024
IDLE_REPORT_S: Final = 0.05
GIVE_UP_S: Final = 10.0  # a reporter that holds the feed this long without a word is gone


class ProgressReporter:
    """A subscriber's side: tell the feed how far it has got (never blocks).

    It reports when it has moved `REPORT_EVERY` ticks past its last report and,
    whatever the distance, whenever its loop finds nothing queued (`idle`, at
    most every `IDLE_REPORT_S`): a feed that holds back waits for exactly those
    reports, so the last one must never depend on more ticks arriving.
    """

    def __init__(self, sock: ZSocket, name: str) -> None:
        self.sock, self.name = sock, name
        self.position = 0
        self._reported = 0
        # When the next report is due, whether the last one went out or not:
        # with no feed listening (live mode) each try costs an encode and a
        # refused send, and must not come on every tick.
        self._next_seq = REPORT_EVERY
        self._next_idle_s = 0.0

    def joined(self) -> None:
        """This subscriber (re)starts: count it as caught up with what was already sent."""
        self._send(Progress(source=self.name, tick_seq=0, joined=True))

    def handled(self, seq: int) -> None:
        """Everything up to `seq` is done here."""
        self.position = seq
        if seq >= self._next_seq:
            self._send(Progress(source=self.name, tick_seq=seq, joined=False))

    def idle(self) -> None:
        """Nothing is queued: say where we are, if that is news."""
        if self.position != self._reported and time.monotonic() >= self._next_idle_s:
            self._send(Progress(source=self.name, tick_seq=self.position, joined=False))

    def _send(self, report: Progress) -> None:
        if not report.joined:
            self._next_seq = report.tick_seq + REPORT_EVERY
            self._next_idle_s = time.monotonic() + IDLE_REPORT_S
        try:
            self.sock.send(wire.encode(report), zmq.NOBLOCK)
        except zmq.Again:
            return  # no feed listening (live mode), or reports piled up: `idle` retries
        if not report.joined:
            self._reported = report.tick_seq


class ReplayWindow:
    """The feed's side: wait before tick n until every reporter is within `window` of it."""

    def __init__(self, sock: ZSocket, window: int = WINDOW, give_up_s: float = GIVE_UP_S) -> None:
        self.sock, self.window, self.give_up_s = sock, window, give_up_s
        self.reached: dict[str, int] = {}
        self._floor = 0  # the slowest reporter's seq; recomputed only on reports
        self._sent = 0
        self.holds = 0  # times a tick had to wait for room
        self.malformed = 0  # messages on the progress socket that were not a `Progress`

    def wait_for_room(self, seq: int, stop: threading.Event) -> bool:
        """Block until tick `seq` may go out; False if `stop` was set while waiting."""
        self._sent = seq - 1
        if seq % REPORT_EVERY == 0:
            self.read_reports(0)  # keep up with reports even while there is room
        if not self.reached or seq - self._floor <= self.window:
            return True
        self.holds += 1
        held_since = time.monotonic()
        while self.reached and seq - self._floor > self.window:
            if stop.is_set():
                return False
            self.read_reports(100)
            if time.monotonic() - held_since > self.give_up_s:
                self._drop_slowest()
                held_since = time.monotonic()
        return True

    def room_until(self, seq: int, stop: threading.Event) -> int:
        """`wait_for_room(seq)`, then the last seq that may go out without asking again.

        Every tick up to the returned seq would pass `wait_for_room` at once
        and read no reports (none falls on a multiple of `REPORT_EVERY`), so
        an unbatched replay asks once per run of ticks, not once per tick.
        Below `seq` when `stop` was set while waiting.
        """
        if not self.wait_for_room(seq, stop):
            return seq - 1
        before_next_read = (seq // REPORT_EVERY + 1) * REPORT_EVERY - 1
        if not self.reached:
            return before_next_read
        return min(self._floor + self.window, before_next_read)

    def _drop_slowest(self) -> None:
        # A subscriber silent this long is gone (killed, or stopped for a swap):
        # waiting for it would freeze the replay for everyone. It is waited for
        # again once it reports (a restarted one rejoins as caught up).
        for name in [n for n, seq in self.reached.items() if seq == self._floor]:
            log.warning("replay no longer waits for %s: silent %.0f s", name, self.give_up_s)
            del self.reached[name]
        self._floor = min(self.reached.values(), default=0)

    def read_reports(self, timeout_ms: int) -> None:
        """Take the reports that have arrived (waiting up to `timeout_ms` for the first)."""
        if not self.sock.poll(timeout_ms):
            return
        while True:
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            report = _as_progress(frames)
            if report is None:
                self.malformed += 1  # ignored, like any malformed message
                continue
            value = self._sent if report.joined else report.tick_seq
            self.reached[report.source] = max(self.reached.get(report.source, 0), value)
        self._floor = min(self.reached.values(), default=0)


def _as_progress(frames: list[bytes]) -> Progress | None:
    # A report is exactly one frame holding a `Progress`; anything else is None.
    if len(frames) != 1:
        return None
    try:
        message = wire.decode(frames[0])
    except WireError:
        return None
    return message if isinstance(message, Progress) else None
