"""Which messages the recorder turns into alerts: breaker, venue halt, a feed down too long."""

from __future__ import annotations

from common.alerts import BREAKER_TRIPPED, FEED_DOWN, VENUE_HALTED, AlertSender
from common.messages import FeedState, FeedStatus, RiskEvent
from services.recorder.alerting import RunAlerts
from tests.fakes.webhook import WebhookReceiver


def _status(symbol: str, state: FeedState) -> FeedStatus:
    return FeedStatus(venue="kraken", symbol=symbol, state=state, detail="", ts_ns=1)


def test_feed_down_alerts_once_past_the_threshold_and_again_only_after_recovering() -> None:
    """Down 10 s: nothing; past 30 s: one feed_down; still down: no repeat; live, then down
    past 30 s again: a second one. A stale symbol that recovers in time never alerts."""
    with WebhookReceiver() as receiver:
        alerts = RunAlerts(
            AlertSender(receiver.url, run_id="r", min_interval_s=0), feed_down_after_s=30
        )
        alerts.on_message(_status("BTC/USD", FeedState.DOWN), now_s=100)
        alerts.on_message(_status("ETH/USD", FeedState.STALE), now_s=100)
        alerts.check(now_s=110)
        alerts.on_message(_status("ETH/USD", FeedState.LIVE), now_s=120)
        alerts.check(now_s=131)
        alerts.check(now_s=200)
        alerts.on_message(_status("BTC/USD", FeedState.LIVE), now_s=210)
        alerts.on_message(_status("BTC/USD", FeedState.RESYNCING), now_s=220)
        alerts.check(now_s=251)
        alerts.close()
    assert receiver.kinds() == [FEED_DOWN, FEED_DOWN]
    assert {body["details"]["symbol"] for body in receiver.bodies} == {"BTC/USD"}
    assert [body["details"]["state"] for body in receiver.bodies] == ["down", "resyncing"]


def test_breaker_trip_and_venue_halt_each_alert_and_session_marks_do_not() -> None:
    """Risk events: the breaker's trip and a venue halt alert with their numbers; others don't."""
    with WebhookReceiver() as receiver:
        alerts = RunAlerts(
            AlertSender(receiver.url, run_id="r", min_interval_s=0), feed_down_after_s=30
        )
        for kind in ("circuit_breaker_tripped", "executor_session_started", "venue_halted"):
            event = RiskEvent(
                kind=kind, symbol=None, values={"equity": -251.5}, detail="d", ts_ns=1
            )
            alerts.on_message(event, now_s=0)
        alerts.close()
    assert receiver.kinds() == [BREAKER_TRIPPED, VENUE_HALTED]
    assert receiver.bodies[0]["details"]["equity"] == -251.5
