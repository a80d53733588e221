"""The executor as a real process: crash recovery by kill -9, and the live gate."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from common import sockets, wire
from common.journal import fill_identity, read_journal
from common.messages import (
    Eos,
    EventBatch,
    Fill,
    Hello,
    OrderSubmitted,
    Position,
    RunCounters,
    Target,
    Tick,
)
from tests.conftest import scaled, small_filesystem, wait_until
from tests.factories import make_tick
from tests.processes import services


class EventProbe(threading.Thread):
    """Subscribes to the executor's events; ready once a forwarded Hello arrives."""

    def __init__(self, ctx: zmq.Context, folder: Path) -> None:
        super().__init__(daemon=True)
        self.ctx, self.folder = ctx, folder
        self.events: list[object] = []
        self.eos = threading.Event()
        self.sub = sockets.subscriber(ctx, f"ipc://{folder}/events", [b""], lossless=True)

    def run(self) -> None:
        answered = False
        deadline = time.monotonic() + scaled(60)
        try:
            while not self.eos.is_set() and time.monotonic() < deadline:
                if not self.sub.poll(50):
                    continue
                message = wire.decode(self.sub.recv_multipart()[1])
                if isinstance(message, Hello) and not answered:
                    answered = sockets.answer_hello(
                        self.ctx, f"ipc://{self.folder}/ready", "probe", timeout_s=5
                    )
                elif isinstance(message, Eos):
                    self.eos.set()
                elif isinstance(message, EventBatch):
                    self.events += message.events
                else:
                    self.events.append(message)
        finally:
            self.sub.close()

    def stop(self) -> None:
        self.eos.set()
        self.join(scaled(10))

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def _executor_args(folder: Path) -> list[str]:
    return [
        "--ticks",
        f"ipc://{folder}/ticks",
        "--targets",
        f"ipc://{folder}/targets",
        "--events",
        f"ipc://{folder}/events",
        "--ready",
        f"ipc://{folder}/ready",
        "--logs",
        f"ipc://{folder}/logs",
        "--run-dir",
        str(folder / "run"),
        "--latency-ms",
        "0",
        "--latency-jitter-ms",
        "0",  # filled on the book the target was computed from: no later tick needed
        "--max-position",
        "1",
        "--max-order-notional",
        "100000",
        "--price-band-bps",
        "1000",
        # A spot account: the 0.25 BTC lets the restart test go from +0.5 to -0.25.
        "--balances",
        "USD=10000,BTC=0.25",
    ]


def _target(name: str, position: float, tick: Tick) -> Target:
    return Target(
        id=name,
        symbol=tick.symbol,
        target_position=position,
        ref_price=tick.mid or 1.0,
        tick_seq=tick.seq,
        tick_ts_ns=tick.recv_ts_ns,
        created_ns=time.time_ns(),
        ttl_ms=60_000,
    )


def _start(
    group,
    folder: Path,
    ctx: zmq.Context,
    pub: zmq.Socket,
    ready: zmq.Socket,
    name: str,
    *extra_args: str,
):
    group.start(name, "services.executor", [*_executor_args(folder), *extra_args])
    probe = EventProbe(ctx, folder)
    probe.start()
    sockets.wait_for_subscribers(
        pub, ready, ["executor", "probe"], source="test", timeout_s=scaled(30)
    )
    return probe


def test_kill_9_and_restart_continue_position_pnl_and_fills_exactly(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """Fills before the crash are neither lost nor repeated; PnL carries on from them."""
    now = time.time_ns()
    ticks = [
        make_tick(
            seq=i,
            recv_ts_ns=now + i * 1_000_000,
            bid=100.0 + i,
            ask=100.5 + i,
            bid_size=5.0,
            ask_size=5.0,
        )
        for i in range(1, 7)
    ]
    with (
        sockets.publisher(zmq_ctx, f"ipc://{tmp_path}/ticks", lossless=True) as pub,
        sockets.ready_replier(zmq_ctx, f"ipc://{tmp_path}/ready") as ready,
        sockets.target_pusher(zmq_ctx, f"ipc://{tmp_path}/targets") as push,
        services(tmp_path) as group,
    ):
        first = _start(group, tmp_path, zmq_ctx, pub, ready, "first")
        for tick in ticks[:2]:
            pub.send_multipart([wire.topic(tick), wire.encode(tick)])
        wait_until(
            lambda: sockets.push_nowait(push, wire.encode(_target("a", 0.5, ticks[1]))),
            10,
            "the executor's PULL",
        )
        wait_until(lambda: len(first.of(Fill)) == 1, 20, "the first fill")
        os.kill(group.procs["first"].pid, signal.SIGKILL)
        group.wait("first")
        first.stop()
        before = first.of(Position)[-1]

        second = _start(group, tmp_path, zmq_ctx, pub, ready, "second")
        for tick in ticks[2:5]:
            pub.send_multipart([wire.topic(tick), wire.encode(tick)])
        again = wire.encode(_target("a", 0.5, ticks[1]))  # redelivered: must not act twice
        wait_until(lambda: sockets.push_nowait(push, again), 10, "the restarted PULL")
        push.send(wire.encode(_target("b", -0.25, ticks[4])))
        wait_until(lambda: len(second.of(Fill)) == 1, 20, "the fill after the restart")
        push.send(wire.encode(Eos(source="model", last_seq=5, ts_ns=time.time_ns())))
        assert group.wait("second") == 0
        second.join(scaled(10))
    [sell] = second.of(Fill)
    assert (sell.side, sell.qty, sell.price) == ("sell", 0.75, 105.0)  # from +0.5 to -0.25
    assert before.qty == 0.5 and before.avg_price == 102.5
    final = second.of(Position)[-1]
    # 0.5 closed at 105 against 102.5 -> +1.25 realized; fees of both fills at 0.40 %.
    assert final.qty == pytest.approx(-0.25)
    assert final.realized_pnl == pytest.approx(1.25)
    assert final.fees == pytest.approx(before.fees + 0.75 * 105.0 * 0.004)
    journal = (tmp_path / "run" / "executor.journal").read_text().splitlines()
    assert sum(line.startswith('["Fill"') for line in journal) == 2
    # The starting balances are journaled once per run, not once per process.
    assert sum('"account_opened"' in line for line in journal) == 1


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        (
            {},
            [
                "ENABLE_REAL_LIVE_EXECUTOR=1",
                "CONFIRM_LIVE=1",
                "LIVE_EXECUTOR_PROVIDER",
                "EXCHANGE_API_KEY",
                "EXCHANGE_API_SECRET",
            ],
        ),
        (
            {
                "ENABLE_REAL_LIVE_EXECUTOR": "1",
                "CONFIRM_LIVE": "1",
                "LIVE_EXECUTOR_PROVIDER": "ccxt",
                "EXCHANGE_API_KEY": "k",
            },
            ["EXCHANGE_API_SECRET"],
        ),
        (
            {
                "ENABLE_REAL_LIVE_EXECUTOR": "1",
                "LIVE_EXECUTOR_PROVIDER": "ccxt",
                "EXCHANGE_API_KEY": "k",
                "EXCHANGE_API_SECRET": "s3cr3t-value",
            },
            ["CONFIRM_LIVE=1"],
        ),
    ],
)
def test_live_request_without_every_opt_in_exits_2_before_any_socket(
    tmp_path: Path, env: dict[str, str], missing: list[str]
) -> None:
    """Each missing opt-in is named; no socket is bound; no secret is printed."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "ENABLE_REAL_LIVE_EXECUTOR",
            "CONFIRM_LIVE",
            "LIVE_EXECUTOR_PROVIDER",
            "EXCHANGE_API_KEY",
            "EXCHANGE_API_SECRET",
        )
    }
    with services(tmp_path) as group:
        group.start(
            "executor",
            "services.executor",
            [*_executor_args(tmp_path), "--no-paper-mode", "--live-executor"],
            env={**clean, **env},
        )
        assert group.wait("executor") == 2
        output = group.output("executor")
    assert len(output.strip().splitlines()) == 1
    for name in missing:
        assert name in output
    assert "s3cr3t" not in output
    assert not (tmp_path / "targets").exists() and not (tmp_path / "events").exists()


def test_live_flag_alone_is_refused_naming_the_other_flag(tmp_path: Path) -> None:
    """--live-executor without --no-paper-mode is not live: it is refused."""
    with services(tmp_path) as group:
        group.start("executor", "services.executor", [*_executor_args(tmp_path), "--live-executor"])
        assert group.wait("executor") == 2
        assert "--no-paper-mode" in group.output("executor")


@pytest.fixture
def tiny_run_dir(tmp_path: Path) -> Iterator[Path]:
    """The executor's run folder on a real 4 KiB filesystem (tmpfs): the journal fills it."""
    with small_filesystem(tmp_path / "run", "size=4k") as folder:
        yield folder


def test_a_full_disk_under_the_journal_halts_cleanly_publishing_only_what_it_journaled(
    tmp_path: Path, zmq_ctx: zmq.Context, tiny_run_dir: Path
) -> None:
    """ENOSPC: one line naming the journal, counters and eos still out, exit 1, no traceback."""
    now = time.time_ns()
    with (
        sockets.publisher(zmq_ctx, f"ipc://{tmp_path}/ticks", lossless=True) as pub,
        sockets.ready_replier(zmq_ctx, f"ipc://{tmp_path}/ready") as ready,
        sockets.target_pusher(zmq_ctx, f"ipc://{tmp_path}/targets") as push,
        services(tmp_path) as group,
    ):
        # An order every millisecond until the disk fills: far beyond Kraken's
        # Starter rate limits, which are not what this test is about.
        probe = _start(group, tmp_path, zmq_ctx, pub, ready, "executor", "--rate-limit-tier", "off")
        proc = group.procs["executor"]
        for i in range(1, 200):
            if proc.poll() is not None:
                break
            # A new size each tick: a fresh book (paper remembers what it took from
            # a level shown unchanged, and this test wants every order to fill).
            tick = make_tick(
                seq=i,
                recv_ts_ns=now + i * 1_000_000,
                bid=100.0,
                ask=100.5,
                bid_size=5.0 + i / 1000,
                ask_size=5.0 + i / 1000,
            )
            pub.send_multipart([wire.topic(tick), wire.encode(tick)])
            target = wire.encode(_target(f"t-{i}", 0.5 if i % 2 else -0.5, tick))
            try:
                wait_until(
                    lambda: proc.poll() is not None or sockets.push_nowait(push, target),
                    10,
                    "the executor's PULL",
                )
                wait_until(
                    lambda: (
                        proc.poll() is not None
                        or any(e.target_id == f"t-{i}" for e in probe.of(OrderSubmitted))
                    ),
                    20,
                    f"the order for target {i}, or the executor's exit",
                )
            except BaseException:
                probe.stop()
                raise
        probe.join(scaled(10))  # it ends at the executor's eos
        probe.stop()
        assert group.wait("executor") == 1
        assert probe.eos.is_set()
    output = group.output("executor")
    assert "Traceback" not in output
    [halt] = [line for line in output.splitlines() if "No space left on device" in line]
    assert str(tiny_run_dir / "executor.journal") in halt
    assert probe.of(RunCounters)
    journal = read_journal(tiny_run_dir / "executor.journal")
    assert journal.orders > 0 and not journal.torn_tail
    journaled = [e.order.order_id for e in journal.progress.values()]
    assert [e.order_id for e in probe.of(OrderSubmitted)] == journaled
    assert [fill_identity(f) for f in probe.of(Fill)] == [fill_identity(f) for f in journal.fills]
