"""Shadow mode in the executor: minimum-size live orders, each also filled by a paper twin."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
import zmq

from common.config import Secret
from common.journal import JOURNAL_FILES, SHADOW_JOURNAL, JournalEntry, read_entries
from common.messages import (
    CancelReason,
    Fill,
    Liquidity,
    OrderCancelled,
    OrderSubmitted,
    OrderType,
    Position,
    RejectReason,
    Side,
)
from orchestration.shadow_fidelity import fidelity
from services.executor.paper import PaperOrderExecutor
from services.executor.shadow import PaperTwin, ShadowLiveExecutor, minimum_order_qty
from tests.executor.live_rig import Rig, make_rig
from tests.executor.test_live_service import KEY, SECRET
from tests.factories import T0_NS, make_tick
from venues.kraken.pairs import load_pairs
from venues.kraken.rest.live_krakenex import KrakenexVenue

PAIRS = load_pairs()
BTC_MIN = float(PAIRS["BTC/USD"].qty_min)  # 0.00005: 3 USD at 60,000, over the 0.5 USD cost_min


def _order(order_id: str = "o-1", qty: float = BTC_MIN, ts_ns: int = T0_NS) -> OrderSubmitted:
    return OrderSubmitted(
        order_id=order_id,
        target_id="t-1",
        symbol="BTC/USD",
        side=Side.BUY,
        qty=qty,
        ref_price=60_000.0,
        tick_seq=1,
        ts_ns=ts_ns,
    )


def _twin(latency_ms: float = 0.0) -> tuple[PaperTwin, list[JournalEntry]]:
    book: list[JournalEntry] = []
    paper = PaperOrderExecutor(PAIRS, latency_ms=latency_ms, taker_fee_bps=40.0)
    return PaperTwin(paper, book.append), book


def test_minimum_order_is_qty_min_on_the_lot_grid_raised_to_the_minimum_cost() -> None:
    """BTC/USD: qty_min at 60,000; at a price where qty_min costs under cost_min, more."""
    rules = PAIRS["BTC/USD"]
    assert minimum_order_qty(rules, 60_000.0) == BTC_MIN
    # 0.5 USD at 1,000 per BTC is 0.0005 BTC: ten times qty_min.
    assert minimum_order_qty(rules, 1_000.0) == 0.0005
    # Never below the cost: 0.5 / 7,000 rounded up to the lot (1e-8).
    assert Decimal(repr(minimum_order_qty(rules, 7_000.0))) * 7_000 >= rules.cost_min


def test_twin_fills_at_zero_latency_on_the_book_the_order_was_decided_on() -> None:
    """The twin journals the order, then fills it on the last quote (latency 0) at the ask."""
    twin, book = _twin()
    twin.on_tick(make_tick(seq=1, recv_ts_ns=T0_NS, bid=59_999.0, ask=60_001.0))
    twin.on_event(_order())
    order, fill = book
    assert isinstance(order, OrderSubmitted) and isinstance(fill, Fill)
    assert (fill.order_id, fill.price, fill.qty, fill.ts_ns) == ("o-1", 60_001.0, BTC_MIN, T0_NS)
    assert twin.orders == 1 and twin.fills == 1


def test_twin_with_latency_waits_for_the_first_book_after_its_arrival() -> None:
    """50 ms latency: the decision's book does not fill it; the book 60 ms later does."""
    twin, book = _twin(latency_ms=50.0)
    twin.on_tick(make_tick(seq=1, recv_ts_ns=T0_NS, ask=60_001.0))
    twin.on_event(_order())
    twin.on_tick(make_tick(seq=2, recv_ts_ns=T0_NS + 10_000_000, ask=60_002.0))
    assert [type(e) for e in book] == [OrderSubmitted]
    twin.on_tick(make_tick(seq=3, recv_ts_ns=T0_NS + 60_000_000, ask=60_003.0))
    assert isinstance(book[-1], Fill) and book[-1].price == 60_003.0


def test_twin_ignores_everything_but_orders_and_is_cancelled_with_the_live_order(
    zmq_ctx: zmq.Context,
) -> None:
    """Positions are not the twin's. The engine's cancel of the live order cancels the twin's
    copy at the same event time; after its latency, the book trading through it fills nothing."""
    twin, book = _twin(latency_ms=50.0)
    venue = KrakenexVenue(
        "http://127.0.0.1:9", Secret(KEY), Secret(SECRET), timeout_s=1.0, pairs=PAIRS
    )
    executor = ShadowLiveExecutor(venue, PAIRS, zmq_ctx, twin=twin)
    ms = 1_000_000
    try:
        twin.on_tick(make_tick(seq=1, recv_ts_ns=T0_NS, bid=59_999.0, ask=60_001.0))
        resting = msgspec.structs.replace(
            _order(), order_type=OrderType.LIMIT, limit_price=59_999.0, post_only=True
        )
        twin.on_event(resting)
        twin.on_event(
            Position(
                symbol="BTC/USD",
                qty=1.0,
                avg_price=1.0,
                realized_pnl=0.0,
                unrealized_pnl=0.0,
                fees=0.0,
                equity=0.0,
                ts_ns=T0_NS,
            )
        )
        twin.on_tick(make_tick(seq=2, recv_ts_ns=T0_NS + 50 * ms, bid=59_999.0, ask=60_001.0))
        executor.cancel("o-1", T0_NS + 60 * ms, CancelReason.RETARGET)  # at the twin: +110 ms
        twin.on_tick(make_tick(seq=3, recv_ts_ns=T0_NS + 120 * ms, bid=59_990.0, ask=59_995.0))
    finally:
        executor.reports.close()
    assert [type(e) for e in book] == [OrderSubmitted, OrderCancelled]
    assert book[-1].reason is CancelReason.RETARGET and book[-1].qty == BTC_MIN


@pytest.fixture
def shadow_executor(zmq_ctx: zmq.Context) -> Iterator[ShadowLiveExecutor]:
    # The venue client is never called by `conform`; its URL is a closed loopback port.
    venue = KrakenexVenue(
        "http://127.0.0.1:9", Secret(KEY), Secret(SECRET), timeout_s=1.0, pairs=PAIRS
    )
    executor = ShadowLiveExecutor(venue, PAIRS, zmq_ctx, twin=_twin()[0])
    yield executor
    executor.reports.close()


def test_shadow_live_orders_are_the_pairs_minimum_whatever_the_target_asks(
    shadow_executor: ShadowLiveExecutor,
) -> None:
    """0.3 BTC wanted: the minimum is sent; under the minimum: refused as live refuses it."""
    assert shadow_executor.conform("BTC/USD", 0.3, 60_000.0) == (BTC_MIN, None)
    qty, refusal = shadow_executor.conform("BTC/USD", 0.00001, 60_000.0)
    assert refusal is not None and refusal[0] is RejectReason.MIN_ORDER_SIZE
    assert shadow_executor.conform("NOPE/USD", 1.0, 1.0)[1][0] is RejectReason.UNKNOWN_SYMBOL


@pytest.fixture
def krakenex_rig(tmp_path: Path, zmq_ctx: zmq.Context) -> Iterator[Rig]:
    """One provider is enough: shadow mode sits above the venue client."""
    yield from make_rig(zmq_ctx, tmp_path, "krakenex")


def test_shadow_executor_sends_minimum_orders_live_and_journals_the_twins_fills_apart(
    krakenex_rig: Rig,
) -> None:
    """A real executor process with --shadow against the fake venue: same order ids both sides,
    positions from the live fills alone, the twin's fills only in executor-shadow.journal."""
    rig = krakenex_rig
    probe = rig.start("shadow", PLR_SHADOW="1")
    rig.targets(0.01)
    rig.targets(0.02)
    rig.finish("shadow", probe, booked=2)
    run = rig.folder / "run"
    live = read_entries(run / JOURNAL_FILES["live"])
    twin = read_entries(run / SHADOW_JOURNAL)
    live_orders = [e for e in live if isinstance(e, OrderSubmitted)]
    assert [o.qty for o in live_orders] == [BTC_MIN, BTC_MIN]
    assert [e for e in twin if isinstance(e, OrderSubmitted)] == live_orders
    twin_fills = [e for e in twin if isinstance(e, Fill)]
    assert [f.order_id for f in twin_fills] == [o.order_id for o in live_orders]
    assert all(f.price == 60_001.0 for f in twin_fills)  # the ask of the rig's book
    positions = probe.of(Position)
    assert positions[-1].qty == pytest.approx(2 * BTC_MIN)  # live fills only, not doubled
    assert {f.price for f in probe.of(Fill)} == {60_000.0}  # the fake venue's mark, not paper's
    section = fidelity(live, twin, {"BTC/USD": 60_000.0})
    assert section["complete"] and section["aggregate"]["price_diff_bps"]["count"] == 2
    assert section["aggregate"]["price_diff_bps"]["mean"] == pytest.approx(1 / 60_000 * 1e4)


def test_the_twin_charges_the_maker_fee_on_its_passive_fills() -> None:
    """The twin is built as the paper executor is, fee schedule and all: maker fills pay maker."""
    from services.executor.__main__ import _paper_executor
    from services.executor.executor_config import ExecutorConfig

    config = ExecutorConfig.from_args(
        ["--latency-ms", "0", "--latency-jitter-ms", "0", "--maker-fee-bps", "25"], {}
    )
    book: list[JournalEntry] = []
    twin = PaperTwin(_paper_executor(config, PAIRS), book.append)
    twin.on_tick(make_tick(seq=1, recv_ts_ns=T0_NS, bid=59_999.0, ask=60_001.0))
    resting = msgspec.structs.replace(
        _order(), order_type=OrderType.LIMIT, limit_price=59_999.0, post_only=True
    )
    twin.on_event(resting)
    twin.on_tick(make_tick(seq=2, recv_ts_ns=T0_NS + 1_000, bid=59_990.0, ask=59_995.0))
    (fill,) = [e for e in book if isinstance(e, Fill)]
    assert fill.liquidity is Liquidity.MAKER
    assert fill.fee == pytest.approx(BTC_MIN * 59_999.0 * 25e-4)
