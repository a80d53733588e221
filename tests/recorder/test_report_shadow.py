"""The report's shadow tables, drawn from result.json's `shadow` section."""

from __future__ import annotations

from common.messages import OrderSubmitted, Side
from orchestration.shadow_fidelity import fidelity
from services.recorder.report_shadow import shadow_tables
from tests.factories import T0_NS, make_fill


def _order(order_id: str) -> OrderSubmitted:
    return OrderSubmitted(
        order_id=order_id,
        target_id="t-1",
        symbol="BTC/USD",
        side=Side.BUY,
        qty=0.0001,
        ref_price=60_000.0,
        tick_seq=1,
        ts_ns=T0_NS,
    )


def _section(twin_knows_both: bool) -> dict[str, object]:
    a, b = _order("o-1"), _order("o-2")
    fill = make_fill(order_id="o-1", qty=0.0001, price=60_010.0, ts_ns=T0_NS + 5)
    paper = make_fill(order_id="o-1", qty=0.0001, price=60_000.0, ts_ns=T0_NS)
    twin = [a, b, paper] if twin_knows_both else [a, paper]
    return fidelity([a, b, fill], twin, {"BTC/USD": 60_000.0})


def test_a_run_without_a_shadow_section_has_no_shadow_tables() -> None:
    """A paper or live run: nothing is added to the page."""
    assert shadow_tables({"run_id": "r"}) == ""


def test_shadow_tables_show_the_aggregate_and_one_row_per_order() -> None:
    """Both orders are rows; the price difference of o-1 is in the page; complete: no warning."""
    page = shadow_tables({"shadow": _section(twin_knows_both=True)})
    assert page.count("<section class='shadow'>") == 1
    assert "o-1" in page and "o-2" in page and "Incomplete" not in page
    assert "-1.66639" in page  # (60,000 - 60,010) / 60,010 in bps, 6 figures


def test_an_incomplete_twin_journal_is_said_plainly_above_the_tables() -> None:
    """The order the twin's journal lacks is named."""
    page = shadow_tables({"shadow": _section(twin_knows_both=False)})
    assert "Incomplete" in page and "o-2" in page


def test_the_run_summary_ends_with_the_shadow_line_of_a_shadow_run() -> None:
    """The runner prints paper minus live in one line; an incomplete twin journal is said."""
    from services.recorder.run_summary import summary_lines

    base = {"run_id": "r", "exit_reason": "completed", "counts": {"ticks": 1}, "pnl": {}}
    assert not any("shadow" in line for line in summary_lines(base))
    complete = summary_lines(base | {"shadow": _section(twin_knows_both=True)})[-1]
    assert complete.startswith("shadow, paper minus live over 2 orders: price -1.666 bps")
    incomplete = summary_lines(base | {"shadow": _section(twin_knows_both=False)})[-1]
    assert "INCOMPLETE: 1 live orders missing from the twin's journal" in incomplete
