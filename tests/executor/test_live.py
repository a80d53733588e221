"""`LiveOrderExecutor` through both providers against the fake Kraken REST server.

Every test runs the real ccxt or krakenex client over HTTP on 127.0.0.1 and
checks the outcome the executor reports *and* what the venue booked: a
failure must never leave two orders where one was meant.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import zmq

from common import wire
from common.config import Secret
from common.journal import VENUE_BASELINE, Journal, JournalEntry, JournalState, read_journal
from common.messages import Fill, OrderRejected, OrderSubmitted, RejectReason, RiskEvent, Side
from services.executor.engine import ExecutionEngine
from services.executor.errors import VenueMismatch
from services.executor.live import LiveOrderExecutor, LiveTimings, Report
from services.executor.reconcile import reconcile_at_start
from services.executor.risk import RiskEngine, RiskLimits
from services.executor.venue import Venue
from tests.conftest import scaled
from tests.fakes.kraken_rest import DEADLINE_ELAPSED, FakeKrakenRest
from venues.errors import VenueError, VenueErrorKind
from venues.kraken.pairs import load_pairs
from venues.kraken.rest.live_ccxt import CcxtVenue
from venues.kraken.rest.live_krakenex import KrakenexVenue

KEY = "live-test-key"
SECRET = base64.b64encode(os.urandom(64)).decode()
PAIRS = load_pairs()
FAST = LiveTimings(deadline_s=2.0, poll_s=0.05, settle_s=0.5, retries=3, backoff_s=0.05)
PROVIDERS = ("ccxt", "krakenex")


def make_venue(provider: str, url: str, secret: str = SECRET, timeout_s: float = 1.0) -> Venue:
    if provider == "ccxt":
        return CcxtVenue(url, Secret(KEY), Secret(secret), timeout_s=timeout_s, rate_limit_ms=1)
    return KrakenexVenue(url, Secret(KEY), Secret(secret), timeout_s=timeout_s, pairs=PAIRS)


@pytest.fixture
def fake() -> Iterator[FakeKrakenRest]:
    with FakeKrakenRest(KEY, SECRET) as server:
        yield server


def run_orders(
    zmq_ctx: zmq.Context,
    venue: Venue,
    orders: list[tuple[str, Side, float]],
    settled: int,
) -> list[Report]:
    """Submit `orders` (BTC/USD), then collect reports until `settled` orders ended."""
    live = LiveOrderExecutor(venue, PAIRS, zmq_ctx, FAST)
    live.start()
    for order_id, side, qty in orders:
        live.submit(order_id, "t-" + order_id, "BTC/USD", side, qty, 0)
    live.send_staged()
    reports: list[Report] = []
    ended: set[str] = set()
    try:
        while len(ended) < settled:
            assert live.reports.poll(int(scaled(15) * 1000)), f"only {len(ended)} orders ended"
            report = wire.decode(live.reports.recv())
            assert isinstance(report, (Fill, OrderRejected, RiskEvent))
            reports.append(report)
            if isinstance(report, OrderRejected) or (
                isinstance(report, Fill) and _filled(reports, report.order_id, orders)
            ):
                ended.add(report.order_id)
    finally:
        assert live.close(scaled(10))
        live.reports.close()
    return reports


def _filled(reports: list[Report], order_id: str, orders: list[tuple[str, Side, float]]) -> bool:
    wanted = next(qty for oid, _, qty in orders if oid == order_id)
    got = sum(r.qty for r in reports if isinstance(r, Fill) and r.order_id == order_id)
    return got >= wanted - 1e-12


def add_order_calls(fake: FakeKrakenRest) -> int:
    return sum(entry["method"] == "AddOrder" for entry in fake.log)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_market_order_fills_at_the_venues_price_and_fee(
    provider: str, fake: FakeKrakenRest, zmq_ctx: zmq.Context
) -> None:
    """One AddOrder under the engine's order id as cl_ord_id; the fill is the venue's."""
    [fill] = run_orders(zmq_ctx, make_venue(provider, fake.url), [("ab12-1", Side.BUY, 0.01)], 1)
    assert isinstance(fill, Fill)
    assert (fill.order_id, fill.side, fill.qty) == ("ab12-1", Side.BUY, pytest.approx(0.01))
    assert fill.price == pytest.approx(60_000.0)
    assert fill.fee == pytest.approx(0.01 * 60_000.0 * 0.004)
    assert len(fake.booked("ab12-1")) == 1 and add_order_calls(fake) == 1
    assert all(entry.get("signature_ok", True) for entry in fake.log)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_insufficient_funds_is_rejected_with_its_own_reason(
    provider: str, fake: FakeKrakenRest, zmq_ctx: zmq.Context
) -> None:
    """1 BTC at 60,000 against 10,000 USD: refused, nothing booked, nothing retried."""
    [reject] = run_orders(zmq_ctx, make_venue(provider, fake.url), [("ab12-2", Side.BUY, 1.0)], 1)
    assert isinstance(reject, OrderRejected)
    assert reject.reason is RejectReason.INSUFFICIENT_FUNDS and reject.qty == 1.0
    assert fake.orders == {} and add_order_calls(fake) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("refusal", ["EAPI:Rate limit exceeded", "EAPI:Invalid nonce"])
def test_refusal_at_the_door_is_retried_into_exactly_one_order(
    provider: str, refusal: str, fake: FakeKrakenRest, zmq_ctx: zmq.Context
) -> None:
    """Rate limit and nonce refusals come before the order exists: sent again, booked once."""
    venue = make_venue(provider, fake.url)
    fake.fail_next("AddOrder", "error", refusal)
    [fill] = run_orders(zmq_ctx, venue, [("ab12-3", Side.BUY, 0.01)], 1)
    assert isinstance(fill, Fill) and fill.qty == pytest.approx(0.01)
    assert add_order_calls(fake) == 2 and len(fake.booked("ab12-3")) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("kind", "value"), [("http_after_booking", 502), ("late", 2.0)], ids=["5xx", "timeout"]
)
def test_unknown_outcome_after_booking_is_found_by_client_id_not_resent(
    provider: str, kind: str, value: object, fake: FakeKrakenRest, zmq_ctx: zmq.Context
) -> None:
    """The order was booked but the answer was lost: found by cl_ord_id, filled once."""
    venue = make_venue(provider, fake.url, timeout_s=1.0)
    fake.fail_next("AddOrder", kind, value)
    [fill] = run_orders(zmq_ctx, venue, [("ab12-4", Side.BUY, 0.01)], 1)
    assert isinstance(fill, Fill) and fill.qty == pytest.approx(0.01)
    assert add_order_calls(fake) == 1 and len(fake.booked("ab12-4")) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_5xx_before_booking_is_rejected_after_the_deadline_never_resent(
    provider: str, fake: FakeKrakenRest, zmq_ctx: zmq.Context
) -> None:
    """Not at the venue, even after its deadline passed: rejected, and never sent again."""
    venue = make_venue(provider, fake.url)
    fake.fail_next("AddOrder", "http", 503)
    [reject] = run_orders(zmq_ctx, venue, [("ab12-5", Side.BUY, 0.01)], 1)
    assert isinstance(reject, OrderRejected)
    assert reject.reason is RejectReason.EXCHANGE_UNAVAILABLE
    assert add_order_calls(fake) == 1 and fake.orders == {}
    lookups = [e["method"] for e in fake.log if e["method"] in ("OpenOrders", "ClosedOrders")]
    assert lookups == ["OpenOrders", "ClosedOrders"] * 2  # before and after the deadline


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("skew_s", [30.0, -90.0], ids=["venue-ahead", "venue-behind"])
def test_deadline_is_built_from_the_venues_clock_when_the_clocks_disagree(
    provider: str, skew_s: float, fake: FakeKrakenRest, zmq_ctx: zmq.Context
) -> None:
    """Read from Kraken's Time: a 2 s deadline neither passed nor over 60 s ahead at the venue."""
    fake.clock_skew_s = skew_s  # this host's clock would give a deadline already past / too far
    [fill] = run_orders(zmq_ctx, make_venue(provider, fake.url), [("ab12-9", Side.BUY, 0.01)], 1)
    assert isinstance(fill, Fill) and fill.qty == pytest.approx(0.01)
    assert add_order_calls(fake) == 1 and len(fake.booked("ab12-9")) == 1
    assert any(entry["path"] == "/0/public/Time" for entry in fake.log)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_order_past_its_deadline_at_the_venue_is_refused_and_never_booked(
    provider: str, fake: FakeKrakenRest
) -> None:
    """The fake honours `deadline` on its own clock, with Kraken's refusal."""
    venue = make_venue(provider, fake.url)
    with pytest.raises(VenueError) as refused:
        venue.place_market("BTC/USD", Side.BUY, Decimal("0.01"), "late-1", 2.0, fake.now_s() - 3)
    assert refused.value.kind is VenueErrorKind.REFUSED
    assert refused.value.venue_error == DEADLINE_ELAPSED and fake.orders == {}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_worker_arms_the_dead_man_switch_and_disarms_it_on_a_clean_stop(
    provider: str, fake: FakeKrakenRest, zmq_ctx: zmq.Context
) -> None:
    """CancelAllOrdersAfter with the timeout before the first order; 0 once all orders ended."""
    run_orders(zmq_ctx, make_venue(provider, fake.url), [("ab12-10", Side.BUY, 0.01)], 1)
    calls = [e["method"] for e in fake.log if e["path"].startswith("/0/private/")]
    assert calls[0] == "CancelAllOrdersAfter" and calls[-1] == "CancelAllOrdersAfter"
    assert fake.dead_man_calls[0] == FAST.dead_man_timeout_s and fake.dead_man_calls[-1] == 0
    assert all(entry.get("signature_ok", True) for entry in fake.log)  # one nonce sequence


@pytest.mark.parametrize("provider", PROVIDERS)
def test_bad_credentials_halt_the_executor_and_later_orders_never_leave(
    provider: str, fake: FakeKrakenRest, zmq_ctx: zmq.Context
) -> None:
    """An invalid signature halts: a RiskEvent, then every order rejected without a call."""
    wrong = base64.b64encode(os.urandom(64)).decode()
    venue = make_venue(provider, fake.url, secret=wrong)
    orders = [("ab12-6", Side.BUY, 0.01), ("ab12-7", Side.BUY, 0.01)]
    reports = run_orders(zmq_ctx, venue, orders, 2)
    [halt] = [r for r in reports if isinstance(r, RiskEvent)]
    assert halt.kind == "venue_halted" and halt.detail == "EAPI:Invalid signature"
    rejects = [r for r in reports if isinstance(r, OrderRejected)]
    assert [r.reason for r in rejects] == [RejectReason.EXCHANGE_HALTED] * 2
    assert add_order_calls(fake) == 1 and fake.orders == {}
    assert wrong not in repr(venue.__dict__) and SECRET not in str(reports)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_partial_fill_left_working_is_cancelled_and_the_rest_rejected(
    provider: str, fake: FakeKrakenRest, zmq_ctx: zmq.Context
) -> None:
    """A market order stuck half-filled: its fill is reported, then it is cancelled."""
    fake.market_fill_fraction = Decimal("0.5")
    reports = run_orders(zmq_ctx, make_venue(provider, fake.url), [("ab12-8", Side.BUY, 0.02)], 1)
    fill, reject = reports
    assert isinstance(fill, Fill) and fill.qty == pytest.approx(0.01)
    assert isinstance(reject, OrderRejected) and reject.qty == pytest.approx(0.01)
    assert reject.reason is RejectReason.EXCHANGE_REJECTED
    [order] = fake.booked("ab12-8")
    assert order["status"] == "canceled"


def _journal_with(tmp_path: Path, *entries: JournalEntry) -> JournalState:
    journal = Journal(tmp_path / "executor-live.journal")
    for entry in entries:
        journal.append(entry)
    journal.close()
    return read_journal(tmp_path / "executor-live.journal")


def _engine(live: LiveOrderExecutor, state: JournalState) -> ExecutionEngine:
    limits = RiskLimits(5_000.0, 0.05, 250.0, 120, 50.0, 5_000)
    engine = ExecutionEngine(RiskEngine(limits), live)
    engine.restore(state.fills, state.target_ids, state.orders)
    return engine


@pytest.mark.parametrize("provider", PROVIDERS)
def test_start_up_settles_an_unresolved_order_and_baselines_the_balance(
    provider: str, fake: FakeKrakenRest, zmq_ctx: zmq.Context, tmp_path: Path
) -> None:
    """A crash left an order journaled but unanswered: its fill is learned before trading."""
    venue = make_venue(provider, fake.url)
    venue.place_market(
        "BTC/USD", Side.BUY, Decimal("0.01"), "old-1", 10.0, fake.now_s()
    )  # booked, then crash
    fake.balances["XXBT"] += Decimal("0.25")  # held before this run: the baseline
    make_order = dict(target_id="t", symbol="BTC/USD", ref_price=60_000.0, tick_seq=1)
    submitted = OrderSubmitted(
        order_id="old-1", side=Side.BUY, qty=0.01, ts_ns=time.time_ns(), **make_order
    )
    state = _journal_with(tmp_path, submitted)
    live = LiveOrderExecutor(venue, PAIRS, zmq_ctx, FAST)
    engine = _engine(live, state)
    try:
        events = reconcile_at_start(live, venue, engine, state, ["BTC/USD"], PAIRS)
    finally:
        live.close(1.0)
        live.reports.close()
    [fill] = [e for e in events if isinstance(e, Fill)]
    assert (fill.order_id, fill.qty, fill.price) == ("old-1", pytest.approx(0.01), 60_000.0)
    [baseline] = [e for e in events if isinstance(e, RiskEvent)]
    assert baseline.kind == VENUE_BASELINE
    assert baseline.values["base_balance"] == pytest.approx(0.25)
    assert engine.book("BTC/USD").position.qty == pytest.approx(0.01)
    assert engine.book("BTC/USD").exposure().working == pytest.approx(0.01)  # counted once
    assert add_order_calls(fake) == 1  # looked up, never sent again


@pytest.mark.parametrize("provider", PROVIDERS)
def test_start_up_refuses_a_balance_the_journal_cannot_explain(
    provider: str, fake: FakeKrakenRest, zmq_ctx: zmq.Context, tmp_path: Path
) -> None:
    """Baseline 0 and no fills, yet the account holds BTC: no trading from a wrong position."""
    venue = make_venue(provider, fake.url)
    venue.place_market("BTC/USD", Side.BUY, Decimal("0.001"), "not-ours", 10.0, fake.now_s())
    fake.market_fill_fraction = Decimal(0)
    venue.place_market("BTC/USD", Side.BUY, Decimal("0.001"), "open-other", 10.0, fake.now_s())
    baseline = RiskEvent(kind=VENUE_BASELINE, symbol="BTC/USD", values={"base_balance": 0.0})
    state = _journal_with(tmp_path, baseline)
    live = LiveOrderExecutor(venue, PAIRS, zmq_ctx, FAST)
    try:
        with pytest.raises(VenueMismatch) as refused:
            reconcile_at_start(live, venue, _engine(live, state), state, ["BTC/USD"], PAIRS)
    finally:
        live.close(1.0)
        live.reports.close()
    assert refused.value.venue_qty == pytest.approx(0.001) and refused.value.expected_qty == 0.0


def test_foreign_open_orders_are_reported_and_left_alone(
    fake: FakeKrakenRest, zmq_ctx: zmq.Context, tmp_path: Path
) -> None:
    """An open order this run did not place: one RiskEvent, no cancel."""
    venue = make_venue("krakenex", fake.url)
    fake.market_fill_fraction = Decimal(0)
    venue.place_market("BTC/USD", Side.BUY, Decimal("0.001"), "someone-else", 10.0, fake.now_s())
    state = _journal_with(tmp_path)
    live = LiveOrderExecutor(venue, PAIRS, zmq_ctx, FAST)
    try:
        events = reconcile_at_start(live, venue, _engine(live, state), state, ["BTC/USD"], PAIRS)
    finally:
        live.close(1.0)
        live.reports.close()
    kinds = [e.kind for e in events if isinstance(e, RiskEvent)]
    assert kinds == ["venue_foreign_open_orders", VENUE_BASELINE]
    assert [o["status"] for o in fake.orders.values()] == ["open"]


def test_an_order_staged_but_never_journaled_is_not_sent_on_close(
    fake: FakeKrakenRest, zmq_ctx: zmq.Context
) -> None:
    """An error cut the turn short before its emit journaled the order: closing drops it.

    Every emit hands its own staged orders over once they are journaled; what
    is still staged at close never was, and must never reach the venue.
    """
    live = LiveOrderExecutor(make_venue("ccxt", fake.url), PAIRS, zmq_ctx, FAST)
    live.start()
    live.submit("ab12-9", "t-9", "BTC/USD", Side.BUY, 0.01, 0)
    try:
        assert live.close(scaled(10))
    finally:
        live.reports.close()
    assert add_order_calls(fake) == 0 and fake.booked("ab12-9") == []
