"""Replay flow control over real sockets: the feed waits for its slowest reporting subscriber."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import zmq

from common import sockets, wire
from common.flow import IDLE_REPORT_S, REPORT_EVERY, ProgressReporter, ReplayWindow
from common.messages import Hello, Progress
from tests.conftest import scaled, wait_until


def _pair(ctx: zmq.Context, tmp_path: Path) -> tuple[zmq.Socket, zmq.Socket]:
    pull = sockets.progress_puller(ctx, f"ipc://{tmp_path}/progress")
    push = sockets.progress_pusher(ctx, f"ipc://{tmp_path}/progress")
    return pull, push


def _until_heard(window: ReplayWindow, say: Callable[[], None], heard: Callable[[], bool]) -> None:
    """Repeat a report until the window has it (a PUSH may drop one sent while connecting)."""

    def attempt() -> bool:
        say()
        window.read_reports(10)
        return heard()

    wait_until(attempt, 5, "the reports")


def _sends_until_blocked(window: ReplayWindow, start: int, limit: int) -> int:
    """Ask for room tick by tick; return the first seq the window holds back."""
    stop = threading.Event()
    seq = start
    while seq < limit:
        waiter = threading.Thread(target=window.wait_for_room, args=(seq, stop))
        waiter.start()
        waiter.join(scaled(0.5))
        if waiter.is_alive():
            stop.set()
            waiter.join()
            return seq
        seq += 1
    return seq


def test_feed_waits_for_the_slowest_reporter_and_resumes_on_its_report(
    zmq_ctx: zmq.Context, tmp_path: Path
) -> None:
    """Window 2 x REPORT_EVERY: held at the edge, released once the laggard reports."""
    pull, push = _pair(zmq_ctx, tmp_path)
    with pull, push:
        window = ReplayWindow(pull, window=2 * REPORT_EVERY)
        fast, slow = ProgressReporter(push, "fast"), ProgressReporter(push, "slow")
        _until_heard(
            window, lambda: (fast.joined(), slow.joined()), lambda: len(window.reached) == 2
        )
        _until_heard(
            window, lambda: fast.handled(4 * REPORT_EVERY), lambda: window.reached["fast"] > 0
        )
        _until_heard(window, lambda: slow.handled(REPORT_EVERY), lambda: window.reached["slow"] > 0)
        held_at = _sends_until_blocked(window, 3 * REPORT_EVERY, 4 * REPORT_EVERY)
        assert held_at == 3 * REPORT_EVERY + 1  # slow is at 1x, the window 2x: 3x is the edge
        slow.handled(2 * REPORT_EVERY)
        done = threading.Event()
        threading.Thread(
            target=lambda: done.set() if window.wait_for_room(held_at, threading.Event()) else None,
            daemon=True,
        ).start()
        assert done.wait(scaled(5))


def test_room_until_is_the_seq_before_wait_for_room_would_hold_or_read_reports(
    zmq_ctx: zmq.Context, tmp_path: Path
) -> None:
    """An unbatched replay asks once per run of ticks: the run ends where asking tick by
    tick would first have held back (the window's edge) or read reports (REPORT_EVERY)."""
    pull, push = _pair(zmq_ctx, tmp_path)
    with pull, push:
        nobody = ReplayWindow(pull, window=8)
        assert nobody.room_until(1, threading.Event()) == REPORT_EVERY - 1
        assert nobody.room_until(REPORT_EVERY, threading.Event()) == 2 * REPORT_EVERY - 1
        window = ReplayWindow(pull, window=2 * REPORT_EVERY)
        slow = ProgressReporter(push, "slow")
        _until_heard(window, slow.joined, lambda: bool(window.reached))
        _until_heard(window, lambda: slow.handled(REPORT_EVERY), lambda: window.reached["slow"] > 0)
        stop = threading.Event()
        assert window.room_until(5, stop) == REPORT_EVERY - 1  # reports are read at REPORT_EVERY
        assert window.room_until(2 * REPORT_EVERY, stop) == 3 * REPORT_EVERY - 1
        assert window.room_until(3 * REPORT_EVERY, stop) == 3 * REPORT_EVERY  # the edge: slow + 2x
        held_at = _sends_until_blocked(window, 3 * REPORT_EVERY, 4 * REPORT_EVERY)
        assert held_at == 3 * REPORT_EVERY + 1  # tick by tick, the first held is the next one
        stop.set()
        assert window.room_until(held_at, stop) == held_at - 1  # stopped while held: no room


def test_a_rejoining_subscriber_counts_as_caught_up(zmq_ctx: zmq.Context, tmp_path: Path) -> None:
    """An executor restarted mid-replay must not stall it waiting for ticks it never got."""
    pull, push = _pair(zmq_ctx, tmp_path)
    with pull, push:
        window = ReplayWindow(pull, window=REPORT_EVERY)
        executor = ProgressReporter(push, "executor")
        _until_heard(window, executor.joined, lambda: bool(window.reached))
        assert _sends_until_blocked(window, 2, 3 * REPORT_EVERY) == REPORT_EVERY + 1
        executor.joined()  # restarted: what it missed is gone
        stop = threading.Event()
        room = []
        waiter = threading.Thread(
            target=lambda: room.append(window.wait_for_room(REPORT_EVERY + 1, stop))
        )
        waiter.start()
        waiter.join(scaled(5))
        stop.set()
        assert room == [True]


def test_nobody_reporting_means_nobody_is_waited_for(zmq_ctx: zmq.Context, tmp_path: Path) -> None:
    """A listener that never reports (a progress bar, a probe) never holds a replay back."""
    pull, push = _pair(zmq_ctx, tmp_path)
    with pull, push:
        window = ReplayWindow(pull, window=8)
        assert all(window.wait_for_room(seq, threading.Event()) for seq in range(1, 1000))


def test_stop_ends_the_wait(zmq_ctx: zmq.Context, tmp_path: Path) -> None:
    """SIGTERM while held back: wait_for_room returns False instead of hanging."""
    pull, push = _pair(zmq_ctx, tmp_path)
    with pull, push:
        window = ReplayWindow(pull, window=8)
        _until_heard(window, ProgressReporter(push, "model").joined, lambda: bool(window.reached))
        stop = threading.Event()
        stop.set()
        assert window.wait_for_room(100, stop) is False


def test_an_idle_subscriber_reports_the_position_a_held_feed_waits_for(
    zmq_ctx: zmq.Context, tmp_path: Path
) -> None:
    """The last ticks before a hold move it less than REPORT_EVERY: idle says so anyway."""
    pull, push = _pair(zmq_ctx, tmp_path)
    with pull, push:
        window = ReplayWindow(pull, window=2 * REPORT_EVERY)
        model = ProgressReporter(push, "model")
        _until_heard(window, model.joined, lambda: bool(window.reached))
        _until_heard(
            window,
            lambda: model.handled(REPORT_EVERY),
            lambda: window.reached["model"] == REPORT_EVERY,
        )
        held_at = _sends_until_blocked(window, 3 * REPORT_EVERY, 4 * REPORT_EVERY)
        assert held_at == 3 * REPORT_EVERY + 1
        model.handled(REPORT_EVERY + 10)  # too small a step to report by itself
        window.read_reports(50)
        assert window.reached["model"] == REPORT_EVERY
        _until_heard(window, model.idle, lambda: window.reached["model"] == REPORT_EVERY + 10)
        assert window.wait_for_room(held_at, threading.Event())


def test_a_silent_subscriber_stops_holding_the_replay_after_the_give_up_time(
    zmq_ctx: zmq.Context, tmp_path: Path
) -> None:
    """An executor killed mid-replay and not restarted must not freeze the feed for good."""
    pull, push = _pair(zmq_ctx, tmp_path)
    with pull, push:
        window = ReplayWindow(pull, window=8, give_up_s=0.3)
        _until_heard(
            window, ProgressReporter(push, "executor").joined, lambda: bool(window.reached)
        )
        done = threading.Event()

        def send_past_the_window() -> None:
            if window.wait_for_room(100, threading.Event()):
                done.set()

        threading.Thread(target=send_past_the_window, daemon=True).start()
        assert not done.wait(0.1)  # held at first
        assert done.wait(scaled(5))  # then released: the executor is taken for gone
        assert window.reached == {}


def test_garbage_on_the_progress_socket_is_counted_and_ignored(
    zmq_ctx: zmq.Context, tmp_path: Path
) -> None:
    """Bytes that are not one Progress frame never stop the feed; real reports still count."""
    pull, push = _pair(zmq_ctx, tmp_path)
    with pull, push:
        window = ReplayWindow(pull, window=8)
        garbage = [
            [b"model 5"],  # the old text report
            [b"\xc1"],  # not msgpack
            [wire.encode(Hello(source="model", ts_ns=1))],  # a message, but not a Progress
            [wire.encode(Progress(source="model", tick_seq=5, joined=False)), b"extra"],
        ]
        _until_heard(window, ProgressReporter(push, "model").joined, lambda: bool(window.reached))
        for frames in garbage:
            push.send_multipart(frames)
        push.send(wire.encode(Progress(source="model", tick_seq=7, joined=False)))

        def reached_7() -> bool:
            window.read_reports(10)
            return window.reached["model"] == 7

        wait_until(reached_7, 5, "the report after the garbage")
        assert window.malformed == len(garbage)
        assert window.reached == {"model": 7}


def test_a_report_is_one_progress_payload(zmq_ctx: zmq.Context, tmp_path: Path) -> None:
    """What a subscriber sends is the wire message: joined first, then its position."""
    pull, push = _pair(zmq_ctx, tmp_path)
    with pull, push:
        reporter = ProgressReporter(push, "recorder")

        def joined_heard() -> bool:
            reporter.joined()  # repeated: a PUSH refuses reports until it is connected
            return bool(pull.poll(10))

        wait_until(joined_heard, 5, "the join")
        reporter.handled(REPORT_EVERY)
        reports = []
        while not reports or reports[-1].joined:
            assert pull.poll(int(scaled(5) * 1000))
            reports.append(wire.decode(pull.recv()))
    assert set(reports[:-1]) == {Progress(source="recorder", tick_seq=0, joined=True)}
    assert reports[-1] == Progress(source="recorder", tick_seq=REPORT_EVERY, joined=False)


class _CountingSends:
    """A real PUSH socket that counts the reports tried on it."""

    def __init__(self, sock: zmq.Socket) -> None:
        self.sock, self.sends = sock, 0

    def send(self, payload: bytes, flags: int = 0) -> None:
        self.sends += 1
        self.sock.send(payload, flags)


def test_with_no_feed_listening_a_subscriber_tries_a_report_once_per_report_interval(
    zmq_ctx: zmq.Context, tmp_path: Path
) -> None:
    """Live mode has no progress socket: a refused report is not retried on every tick or turn."""
    with sockets.progress_pusher(zmq_ctx, f"ipc://{tmp_path}/nobody") as push:
        counting = _CountingSends(push)
        model = ProgressReporter(counting, "model")  # type: ignore[arg-type]
        started = time.monotonic()
        for seq in range(1, 3 * REPORT_EVERY + 1):
            model.handled(seq)
            model.idle()  # the loop says it is idle after every turn
        elapsed_s = time.monotonic() - started
    # Once at each REPORT_EVERY ticks, and idle ones at most every IDLE_REPORT_S.
    assert counting.sends <= 3 + 1 + elapsed_s / IDLE_REPORT_S
