"""Live sizing across a crash: the executor process restarted against the fake Kraken REST.

Each scenario leaves the venue and the journal as a crash would, restarts
the real executor (ccxt and krakenex), and then sends further targets. The
venue must end holding exactly what the last target asked for, through
exactly the AddOrders a run without the crash would have sent: after a
restart the working position is the journal's fills plus what its open
orders will still add, settled once with what the venue reports by client
order id.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import zmq

from common import sockets, wire
from common.config import Secret
from common.journal import JOURNAL_FILES, Journal, JournalEntry
from common.messages import Eos, Fill, Liquidity, OrderSubmitted, Side, Tick
from tests.conftest import scaled, wait_until
from tests.executor.test_live_service import KEY, SECRET, _live_args, _live_env
from tests.executor.test_service import EventProbe, _target
from tests.factories import make_tick
from tests.fakes.kraken_rest import FakeKrakenRest
from tests.processes import Services, services
from venues.kraken.pairs import load_pairs
from venues.kraken.rest.live_ccxt import CcxtVenue
from venues.kraken.rest.live_krakenex import KrakenexVenue

PROVIDERS = ("ccxt", "krakenex")


@pytest.fixture
def fake() -> Iterator[FakeKrakenRest]:
    with FakeKrakenRest(KEY, SECRET) as server:
        yield server


@dataclass
class Rig:
    """The sockets a feed and a model would hold, and the executor processes of one test."""

    ctx: zmq.Context
    folder: Path
    fake: FakeKrakenRest
    provider: str
    group: Services
    pub: zmq.Socket
    ready: zmq.Socket
    push: zmq.Socket
    seq: int = 0

    def start(self, name: str, **env: str) -> EventProbe:
        full_env = {**_live_env(self.fake, self.provider), "PLR_ORDER_SETTLE_S": "0.5", **env}
        self.group.start(name, "services.executor", _live_args(self.folder), env=full_env)
        probe = EventProbe(self.ctx, self.folder)
        probe.start()
        sockets.wait_for_subscribers(
            self.pub, self.ready, ["executor", "probe"], source="test", timeout_s=scaled(30)
        )
        return probe

    def tick(self) -> Tick:
        self.seq += 1
        tick = make_tick(
            seq=self.seq, recv_ts_ns=time.time_ns(), bid=59_999.0, ask=60_001.0, ask_size=1.0
        )
        self.pub.send_multipart([wire.topic(tick), wire.encode(tick)])
        return tick

    def targets(self, *positions: float) -> None:
        """One fresh tick, then targets computed from it, in order, on the model's socket."""
        tick = self.tick()
        for number, position in enumerate(positions):
            target = wire.encode(_target(f"t{self.seq}-{number}", position, tick))
            wait_until(lambda: sockets.push_nowait(self.push, target), 10, "the targets PULL")

    def finish(self, name: str, probe: EventProbe) -> str:
        """The model's eos: the executor lets its orders finish, then exits 0."""
        self.push.send(wire.encode(Eos(source="model", last_seq=self.seq, ts_ns=time.time_ns())))
        assert self.group.wait(name) == 0, self.group.output(name)
        probe.join(scaled(10))
        return self.group.output(name)

    def journal(self, *entries: JournalEntry) -> None:
        """What a crashed executor left in its journal."""
        (self.folder / "run").mkdir(exist_ok=True)
        journal = Journal(self.folder / "run" / JOURNAL_FILES["live"])
        for entry in entries:
            journal.append(entry)
        journal.close()


@pytest.fixture(params=PROVIDERS)
def rig(
    request: pytest.FixtureRequest, fake: FakeKrakenRest, tmp_path: Path, zmq_ctx: zmq.Context
) -> Iterator[Rig]:
    with ExitStack() as stack:
        pub = stack.enter_context(
            sockets.publisher(zmq_ctx, f"ipc://{tmp_path}/ticks", lossless=True)
        )
        ready = stack.enter_context(sockets.ready_replier(zmq_ctx, f"ipc://{tmp_path}/ready"))
        push = stack.enter_context(sockets.target_pusher(zmq_ctx, f"ipc://{tmp_path}/targets"))
        group = stack.enter_context(services(tmp_path))
        yield Rig(zmq_ctx, tmp_path, fake, request.param, group, pub, ready, push)


def _venue(provider: str, url: str) -> CcxtVenue | KrakenexVenue:
    if provider == "ccxt":
        return CcxtVenue(url, Secret(KEY), Secret(SECRET), timeout_s=5.0, rate_limit_ms=1)
    return KrakenexVenue(url, Secret(KEY), Secret(SECRET), timeout_s=5.0, pairs=load_pairs())


def venue_orders(fake: FakeKrakenRest) -> list[tuple[str, str, str]]:
    """Every order the venue booked: side, volume, final status."""
    return [(o["descr"]["type"], o["vol"], o["status"]) for o in fake.orders.values()]


def add_order_calls(fake: FakeKrakenRest) -> int:
    return sum(entry["method"] == "AddOrder" for entry in fake.log)


def _submitted(order_id: str, qty: float) -> OrderSubmitted:
    return OrderSubmitted(
        order_id=order_id,
        target_id="before-crash",
        symbol="BTC/USD",
        side=Side.BUY,
        qty=qty,
        ref_price=60_000.0,
        tick_seq=1,
        ts_ns=time.time_ns(),
    )


def test_order_booked_but_unanswered_at_a_kill_9_is_counted_once_after_the_restart(
    rig: Rig,
) -> None:
    """(a) Booked, answer held back, SIGKILL: found by client id, and +0.01 is not bought again."""
    first = rig.start("first", PLR_VENUE_TIMEOUT_S="30")
    rig.fake.fail_next("AddOrder", "late", 60.0)  # booked; the answer never comes in time
    rig.targets(0.01)
    wait_until(lambda: len(rig.fake.orders) == 1, 20, "the order booked at the venue")
    os.kill(rig.group.procs["first"].pid, signal.SIGKILL)
    rig.group.wait("first")
    first.stop()

    second = rig.start("second")
    rig.targets(0.01)  # the same wanted position: nothing to send
    rig.targets(0.02)
    rig.finish("second", second)
    assert venue_orders(rig.fake) == [("buy", "0.01000000", "closed")] * 2
    assert rig.fake.balances["XXBT"] == Decimal("0.02")
    assert add_order_calls(rig.fake) == 2  # as without the crash: +0.01, then +0.01 more
    learned_at_start = second.of(Fill)[0]  # by client id, before any target
    assert learned_at_start.qty == pytest.approx(0.01)


def test_order_journaled_but_never_sent_is_rejected_and_the_next_target_buys_what_it_asks(
    rig: Rig,
) -> None:
    """(b) Journaled, never sent: rejected past its deadline; +0.02 then buys 0.02, not 0.03."""
    rig.journal(_submitted("gone-1", 0.01))
    probe = rig.start("restarted")
    rig.targets(0.02)
    rig.targets(0.01)
    rig.finish("restarted", probe)
    assert venue_orders(rig.fake) == [
        ("buy", "0.02000000", "closed"),
        ("sell", "0.01000000", "closed"),
    ]
    assert rig.fake.balances["XXBT"] == Decimal("0.01")
    assert add_order_calls(rig.fake) == 2


def test_half_filled_order_cancelled_at_start_leaves_only_the_rest_to_buy(rig: Rig) -> None:
    """(c) 0.005 of 0.01 filled and journaled, the rest open: cancelled; +0.01 buys 0.005."""
    rig.fake.market_fill_fraction = Decimal("0.5")
    venue = _venue(rig.provider, rig.fake.url)  # the adapter the executor uses
    venue.place_market("BTC/USD", Side.BUY, Decimal("0.01"), "half-1", rig.fake.now_s() + 10)
    rig.fake.market_fill_fraction = Decimal(1)
    fill = Fill(
        order_id="half-1",
        symbol="BTC/USD",
        side=Side.BUY,
        qty=0.005,
        price=60_000.0,
        fee=0.005 * 60_000.0 * 0.004,
        liquidity=Liquidity.TAKER,
        tick_seq=1,
        ts_ns=time.time_ns(),
    )
    rig.journal(_submitted("half-1", 0.01), fill)
    probe = rig.start("restarted")
    rig.targets(0.01)
    rig.targets(0.02)
    rig.finish("restarted", probe)
    assert venue_orders(rig.fake) == [
        ("buy", "0.01000000", "canceled"),
        ("buy", "0.00500000", "closed"),
        ("buy", "0.01000000", "closed"),
    ]
    assert rig.fake.balances["XXBT"] == Decimal("0.02")
    assert add_order_calls(rig.fake) == 3  # the one before the crash, then 0.005 and 0.01
