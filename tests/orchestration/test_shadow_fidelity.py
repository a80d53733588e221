"""The shadow fidelity core: pairing, per-order figures, the aggregate and its bootstrap."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from common.messages import Fill, OrderSubmitted, Side
from orchestration.shadow_fidelity import bootstrap_ci, fidelity, pair_orders, price_diff_bps
from tests.factories import T0_NS, make_fill

MS = 1_000_000


def _order(order_id: str, side: Side = Side.BUY, qty: float = 0.0001) -> OrderSubmitted:
    return OrderSubmitted(
        order_id=order_id,
        target_id=f"t-{order_id}",
        symbol="BTC/USD",
        side=side,
        qty=qty,
        ref_price=60_000.0,
        tick_seq=1,
        ts_ns=T0_NS,
    )


def _fill(order: OrderSubmitted, price: float, after_ms: float, **over: Any) -> Fill:
    fields: dict[str, Any] = dict(
        order_id=order.order_id,
        side=order.side,
        qty=order.qty,
        price=price,
        fee=order.qty * price * 0.004,
        ts_ns=T0_NS + int(after_ms * MS),
    )
    fields.update(over)
    return make_fill(**fields)


def test_a_buy_paper_filled_cheaper_is_a_negative_difference() -> None:
    """Paper bought 6 USD under live on 60,000: -1 bps, paper optimistic."""
    assert price_diff_bps(Side.BUY, 60_000.0, 59_994.0) == pytest.approx(-1.0)
    assert price_diff_bps(Side.BUY, 60_000.0, 60_006.0) == pytest.approx(1.0)


def test_a_sell_paper_filled_dearer_is_a_negative_difference() -> None:
    """Paper sold 6 USD above live: also -1 bps (the sign is side-adjusted)."""
    assert price_diff_bps(Side.SELL, 60_000.0, 60_006.0) == pytest.approx(-1.0)
    assert price_diff_bps(Side.SELL, 60_000.0, 59_994.0) == pytest.approx(1.0)


def test_per_order_figures_are_paper_minus_live() -> None:
    """Price, fee, fill ratio, times and PnL gap of one order, from hand-made fills."""
    order = _order("o-1")
    live = [_order("o-1"), _fill(order, 60_010.0, 300.0)]
    twin = [_order("o-1"), _fill(order, 60_000.0, 0.0)]
    section = fidelity(live, twin, {"BTC/USD": 60_020.0})
    (row,) = section["orders"]
    assert row["live"]["avg_price"] == 60_010.0 and row["paper"]["avg_price"] == 60_000.0
    assert row["price_diff_bps"] == pytest.approx(-10 / 60_010 * 1e4)
    assert row["fee_diff"] == pytest.approx(0.0001 * (60_000.0 - 60_010.0) * 0.004)
    assert row["fill_ratio_diff"] == 0.0
    assert (row["live"]["first_fill_ms"], row["paper"]["first_fill_ms"]) == (300.0, 0.0)
    assert row["full_fill_ms_diff"] == -300.0
    # Bought 10 cheaper on 0.0001, and 0.0001 * 10 * 0.004 less fee.
    assert row["pnl_gap"] == pytest.approx(0.0001 * 10 + 0.0001 * 10 * 0.004)
    assert section["complete"] and section["aggregate"]["orders"] == 1


def test_an_order_live_filled_and_paper_did_not_shows_in_the_fill_ratio() -> None:
    """Live filled it whole, the twin nothing: fill ratio -1, no price difference."""
    order = _order("o-1")
    section = fidelity([order, _fill(order, 60_010.0, 300.0)], [order], {"BTC/USD": 60_000.0})
    (row,) = section["orders"]
    assert row["fill_ratio_diff"] == -1.0
    assert row["price_diff_bps"] is None and row["first_fill_ms_diff"] is None
    assert row["pnl_gap"] == pytest.approx(0.0 - (-0.0001 * 10 - 0.0001 * 60_010 * 0.004))
    assert section["aggregate"]["price_diff_bps"]["count"] == 0


def test_an_order_paper_filled_in_part_and_live_did_not_shows_in_the_fill_ratio() -> None:
    """The reverse: the twin filled half, live nothing: fill ratio +0.5, no full-fill time."""
    order = _order("o-1", side=Side.SELL, qty=0.0002)
    twin = [order, _fill(order, 60_000.0, 5.0, qty=0.0001)]
    (row,) = fidelity([order], twin, {"BTC/USD": 60_000.0})["orders"]
    assert row["fill_ratio_diff"] == 0.5
    assert row["paper"]["full_fill_ms"] is None and row["paper"]["first_fill_ms"] == 5.0


def test_orders_pair_by_id_whatever_the_order_of_the_journals() -> None:
    """Fills find their order by id; a twin order live never sent is not a figure."""
    a, b = _order("o-1"), _order("o-2", side=Side.SELL)
    live = [a, b, _fill(b, 60_000.0, 40.0), _fill(a, 60_001.0, 50.0)]
    twin = [b, a, _order("o-9"), _fill(a, 60_000.0, 1.0), _fill(b, 60_001.0, 2.0)]
    pairs, missing = pair_orders(live, twin)
    assert [p.order.order_id for p in pairs] == ["o-1", "o-2"] and missing == []
    assert [f.price for f in pairs[1].paper.fills] == [60_001.0]


def test_a_live_order_the_twin_journal_lacks_makes_the_section_incomplete() -> None:
    """A torn twin journal is said plainly: the order is named, never guessed at."""
    a, b = _order("o-1"), _order("o-2")
    section = fidelity([a, b], [a], {})
    assert section["complete"] is False and section["twin_missing"] == ["o-2"]
    assert [row["order_id"] for row in section["orders"]] == ["o-1"]


def test_bootstrap_interval_is_deterministic_with_a_seed_and_contains_the_mean() -> None:
    """Same values and seed: the same interval; it holds the sample mean; another seed differs."""
    values = [(-1.0) ** i * (i % 7) - 0.8 for i in range(60)]
    first = bootstrap_ci(values, seed=7)
    assert first is not None and first == bootstrap_ci(values, seed=7)
    assert first[0] < statistics.fmean(values) < first[1]
    assert bootstrap_ci(values, seed=8) != first
    assert bootstrap_ci([], seed=7) is None


def test_aggregate_counts_means_and_medians_of_the_priced_orders() -> None:
    """Three orders, two priced both sides: the aggregate is over those two."""
    orders = [_order(f"o-{i}") for i in range(3)]
    live: list[object] = [*orders, _fill(orders[0], 60_000.0, 10), _fill(orders[1], 60_000.0, 10)]
    twin: list[object] = [*orders, _fill(orders[0], 59_994.0, 0), _fill(orders[1], 59_988.0, 0)]
    aggregate = fidelity(live, twin, {"BTC/USD": 60_000.0})["aggregate"]
    price = aggregate["price_diff_bps"]
    assert (price["count"], price["mean"], price["median"]) == (2, pytest.approx(-1.5), -1.5)
    assert price["ci95"][0] <= price["mean"] <= price["ci95"][1]
    assert aggregate["fill_ratio_diff"]["count"] == 3


def test_orders_of_a_session_after_a_swap_to_plain_live_are_not_missing_a_twin() -> None:
    """A swap ends shadow mode: the plain live session's order is no figure and not missing."""
    from common.journal import SESSION_STARTED
    from common.messages import RiskEvent
    from orchestration.shadow_fidelity import shadow_sessions_only

    def mark(detail: str) -> RiskEvent:
        return RiskEvent(kind=SESSION_STARTED, symbol=None, detail=detail, ts_ns=T0_NS)

    a, b = _order("o-1"), _order("o-2")
    live = [
        mark("ShadowLiveExecutor (LIVE via krakenex)"),
        a,
        mark("LiveOrderExecutor (LIVE via krakenex)"),
        b,
        _fill(b, 60_000.0, 10.0),
    ]
    section = fidelity(shadow_sessions_only(live), [a], {})
    assert section["complete"] and [row["order_id"] for row in section["orders"]] == ["o-1"]
