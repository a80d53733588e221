"""The dashboard's state: what each message shows on the page, without a server."""

from __future__ import annotations

from services.recorder.artifacts import RunRecord
from services.recorder.dashboard_state import DashboardState
from tests.factories import T0_NS, one_of_each


def test_only_fills_positions_statuses_risk_events_and_service_words_are_shown() -> None:
    """Every message type once: a fill, the equity, the feed's state, the breaker and the
    services are shown; ticks, predictions, orders and rejections only move the clock."""
    record = RunRecord()
    state = DashboardState(record, run_id="run", settings={})
    for n, message in enumerate(one_of_each()):
        record.on_event(message, T0_NS + n)
        state.on_message(message, T0_NS + n)
    snapshot = state.snapshot()
    assert snapshot["last_message_ns"] == T0_NS + len(one_of_each()) - 1
    assert [(f["symbol"], f["side"]) for f in snapshot["fills"]] == [("BTC/USD", "buy")]
    assert snapshot["equity"]["values"] == [-61.9025]
    assert snapshot["feed"] == {
        "BTC/USD": {"state": "live", "detail": "snapshot received", "since_ns": T0_NS + 14}
    }
    assert snapshot["breaker"]["tripped"] and state.venue_halted is None
    assert snapshot["services"] == {"feed": {"state": "finished"}, "model": {"state": "running"}}
