"""Kraken's dead-man switch, armed by the real live executor process against the fake REST.

The executor arms CancelAllOrdersAfter when its venue worker starts and
pushes it back every quarter of the timeout; the fake runs the timer on its
own clock and cancels every open order when it runs out. A market order is
left open here (the fake's book fills none of it) and the executor's own
cancel is put far off (`PLR_ORDER_SETTLE_S`), so only the switch can cancel it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from decimal import Decimal

import pytest

from common.messages import Fill
from tests.conftest import wait_until
from tests.executor.live_rig import Rig
from tests.fakes.kraken_rest import FakeKrakenRest

# The worker pushes the switch back every TIMEOUT_S / 4, but a venue call in
# between may block it for up to PLR_VENUE_TIMEOUT_S: at 2 s that left 0.5 s for
# the machine's scheduling, and a loaded CI run once missed it. 4 s leaves 2 s.
TIMEOUT_S = 4
DEAD_MAN_ENV = {
    "PLR_DEAD_MAN_TIMEOUT_S": str(TIMEOUT_S),
    "PLR_VENUE_TIMEOUT_S": "1",
    "PLR_ORDER_SETTLE_S": "120",  # the executor would cancel the open order only after this
    # A 4 s timeout is pushed back every second and the open order polled 4 times
    # a second: more than any Kraken tier's REST counter carries (Starter leaks
    # 0.33 calls/s). The switch, not the pacing, is under test here.
    "PLR_RATE_LIMIT_TIER": "off",
}


@pytest.fixture
def open_order(rig: Rig) -> Iterator[FakeKrakenRest]:
    """The venue books market orders but fills none of them."""
    rig.fake.market_fill_fraction = Decimal(0)
    yield rig.fake


def _statuses(fake: FakeKrakenRest) -> list[str]:
    return [order["status"] for order in fake.orders.values()]


def test_killed_executor_has_its_open_order_cancelled_when_the_switch_runs_out(
    rig: Rig,
    open_order: FakeKrakenRest,
) -> None:
    """SIGKILL with an order open: nobody pushes the timer back, the venue cancels the order."""
    probe = rig.start("live", **DEAD_MAN_ENV)
    rig.targets(0.01)
    wait_until(lambda: _statuses(open_order) == ["open"], 20, "the order open at the venue")
    wait_until(lambda: open_order.dead_man_calls[:1] == [TIMEOUT_S], 10, "the switch armed")
    os.kill(rig.group.procs["live"].pid, signal.SIGKILL)
    rig.group.wait("live")
    probe.stop()
    wait_until(lambda: _statuses(open_order) == ["canceled"], TIMEOUT_S + 5, "the switch firing")
    assert open_order.dead_man_fired == 1
    assert 0 not in open_order.dead_man_calls  # never disarmed: the process died
    assert not any(entry["method"] == "CancelOrder" for entry in open_order.log)


def test_healthy_executor_keeps_its_order_past_the_timeout_and_disarms_on_a_clean_stop(
    rig: Rig,
    open_order: FakeKrakenRest,
) -> None:
    """Refreshed well inside the period: the order outlives several timeouts; eos disarms."""
    probe = rig.start("live", **DEAD_MAN_ENV)
    rig.targets(0.01)
    wait_until(lambda: _statuses(open_order) == ["open"], 20, "the order open at the venue")
    [order] = open_order.orders.values()
    opened_s = order["opentm"]
    wait_until(
        lambda: open_order.now_s() > opened_s + 2 * TIMEOUT_S, 3 * TIMEOUT_S + 5, "two timeouts"
    )
    assert _statuses(open_order) == ["open"] and open_order.dead_man_fired == 0
    assert open_order.dead_man_calls.count(TIMEOUT_S) >= 2 * 4  # a quarter of the timeout apart
    open_order.fill_open_orders()  # the book refills: the executor's order completes
    wait_until(lambda: len(probe.of(Fill)) == 1, 10, "the fill")
    rig.finish("live", probe, booked=1)
    assert open_order.dead_man_calls[-1] == 0  # disarmed on the way out
    assert _statuses(open_order) == ["closed"] and open_order.dead_man_fired == 0
