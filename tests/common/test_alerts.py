"""Alerts to a webhook: the documented payload, Telegram's form, rate limits, failed deliveries."""

from __future__ import annotations

import logging

import pytest

from common.alerts import BREAKER_TRIPPED, RUN_ENDED, Alert, AlertSender, payload
from common.errors import ConfigError
from tests.conftest import free_ports, wait_until
from tests.fakes.webhook import WebhookReceiver


def test_alert_reaches_the_webhook_with_the_documented_payload() -> None:
    """kind, text, run id, UTC time, details and the held-back count, as JSON."""
    with WebhookReceiver() as receiver:
        sender = AlertSender(receiver.url, run_id="run-1")
        assert sender.send(Alert(BREAKER_TRIPPED, "breaker tripped", {"equity": -251.0}))
        sender.close()
    [body] = receiver.bodies
    assert body["kind"] == BREAKER_TRIPPED and body["run_id"] == "run-1"
    assert body["details"] == {"equity": -251.0} and body["suppressed"] == 0
    assert body["at"].endswith("Z")
    assert sender.sent == 1 and sender.failed == 0


def test_same_kind_within_the_interval_is_held_back_and_counted_on_the_next_one() -> None:
    """A burst of one kind sends one alert; the next, after the interval, says how many waited;
    another kind is not held back by it."""
    with WebhookReceiver() as receiver:
        sender = AlertSender(receiver.url, run_id="run-1", min_interval_s=0.5)
        assert sender.send(Alert(BREAKER_TRIPPED, "first"))
        assert not sender.send(Alert(BREAKER_TRIPPED, "second"))
        assert not sender.send(Alert(BREAKER_TRIPPED, "third"))
        assert sender.send(Alert(RUN_ENDED, "the end"))
        wait_until(lambda: sender.due(BREAKER_TRIPPED), 5, "the interval to pass")
        assert sender.send(Alert(BREAKER_TRIPPED, "later"))
        sender.close()
    texts = {body["text"]: body["suppressed"] for body in receiver.bodies}
    assert texts == {"first": 0, "the end": 0, "later": 2}


def test_a_failed_delivery_is_logged_without_the_url_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 500 and a closed port: counted and logged (host only, no token), the caller unharmed."""
    with WebhookReceiver(fail_first=1) as receiver:
        sender = AlertSender(receiver.url, run_id="run-1", min_interval_s=0)
        with caplog.at_level(logging.WARNING, logger="common.alerts"):
            sender.send(Alert(BREAKER_TRIPPED, "lost"))
            sender.send(Alert(BREAKER_TRIPPED, "kept"))
            sender.close()
    assert [body["text"] for body in receiver.bodies] == ["kept"]
    closed = AlertSender(f"http://127.0.0.1:{free_ports()}/x/secret-token", run_id="r")
    closed.send(Alert(RUN_ENDED, "nobody listens"))
    closed.close()
    assert sender.failed == 1 and closed.failed == 1
    assert "secret-token" not in caplog.text


def test_telegram_form_is_a_send_message_body() -> None:
    """With a chat id the body is {chat_id, text}: Telegram's sendMessage takes it as is."""
    body = payload(
        Alert(BREAKER_TRIPPED, "breaker tripped"),
        run_id="run-1",
        suppressed=3,
        telegram_chat_id="42",
    )
    assert body == {
        "chat_id": "42",
        "text": "[run-1] breaker tripped (3 more breaker_tripped alerts held back)",
    }


@pytest.mark.parametrize("url", ["ftp://host/x", "not a url", "http:///nohost"])
def test_a_webhook_that_is_no_http_url_is_refused_without_echoing_it(url: str) -> None:
    """Bad configuration: one clear error, and the URL (maybe a token) is not repeated."""
    with pytest.raises(ConfigError) as refused:
        AlertSender(url, run_id="r")
    assert url not in str(refused.value)
