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
from decimal import Decimal

from common.journal import JOURNAL_FILES
from common.messages import Fill, Liquidity, OrderSubmitted, Side
from tests.conftest import wait_until
from tests.executor.live_rig import Rig
from tests.fakes.kraken_rest import FakeKrakenRest


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
    rig.finish("second", second, booked=2)
    assert venue_orders(rig.fake) == [("buy", "0.01000000", "closed")] * 2
    assert rig.fake.balances["XXBT"] == Decimal("0.02")
    assert add_order_calls(rig.fake) == 2  # as without the crash: +0.01, then +0.01 more
    journal = (rig.folder / "run" / JOURNAL_FILES["live"]).read_text().splitlines()
    fills = [line for line in journal if line.startswith('["Fill"')]
    assert len(fills) == 2  # the one learned by client id at start, once; then +0.01


def test_order_journaled_but_never_sent_is_rejected_and_the_next_target_buys_what_it_asks(
    rig: Rig,
) -> None:
    """(b) Journaled, never sent: rejected past its deadline; +0.02 then buys 0.02, not 0.03."""
    rig.journal(_submitted("gone-1", 0.01))
    probe = rig.start("restarted")
    rig.targets(0.02)
    rig.targets(0.01)
    rig.finish("restarted", probe, booked=2)
    assert venue_orders(rig.fake) == [
        ("buy", "0.02000000", "closed"),
        ("sell", "0.01000000", "closed"),
    ]
    assert rig.fake.balances["XXBT"] == Decimal("0.01")
    assert add_order_calls(rig.fake) == 2


def test_half_filled_order_cancelled_at_start_leaves_only_the_rest_to_buy(rig: Rig) -> None:
    """(c) 0.005 of 0.01 filled and journaled, the rest open: cancelled; +0.01 buys 0.005."""
    rig.fake.market_fill_fraction = Decimal("0.5")
    venue = rig.venue()
    venue.place_market("BTC/USD", Side.BUY, Decimal("0.01"), "half-1", 10.0, rig.fake.now_s())
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
    rig.finish("restarted", probe, booked=3)
    assert venue_orders(rig.fake) == [
        ("buy", "0.01000000", "canceled"),
        ("buy", "0.00500000", "closed"),
        ("buy", "0.01000000", "closed"),
    ]
    assert rig.fake.balances["XXBT"] == Decimal("0.02")
    assert add_order_calls(rig.fake) == 3  # the one before the crash, then 0.005 and 0.01
