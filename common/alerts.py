"""Alerts to a webhook: breaker trips, venue halts, a stale or down feed, a dead service, the end.

`AlertSender.send` never blocks and never raises: alerts go out from a
daemon thread, one HTTP POST each (JSON), and a failure to deliver is
logged (the host only: a webhook URL often carries a token) and dropped.
Each kind is rate-limited (`min_interval_s`): the first goes out at once,
later ones of that kind within the interval are counted, and the count rides
on the next one that goes out.

The payload (ARCHITECTURE.md, "Alerts"):

    {"kind": "breaker_tripped", "text": "...", "run_id": "...",
     "at": "2026-12-06T22:13:00.000Z", "details": {...}, "suppressed": 0}

With a Telegram chat id it is Telegram's `sendMessage` body instead,
``{"chat_id": ..., "text": ...}``, so the URL can be
``https://api.telegram.org/bot<token>/sendMessage``.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from common.errors import ConfigError
from common.logs import utc_now_text

log = logging.getLogger(__name__)

DEFAULT_MIN_INTERVAL_S: Final = 60.0
POST_TIMEOUT_S: Final = 5.0
QUEUE_LIMIT: Final = 256  # alerts waiting to go out; past it they are dropped and counted

# The kinds, spelled once.
BREAKER_TRIPPED: Final = "breaker_tripped"
VENUE_HALTED: Final = "venue_halted"
FEED_DOWN: Final = "feed_down"
SERVICE_DIED: Final = "service_died"
RUN_ENDED: Final = "run_ended"


def webhook_url(text: str) -> str:
    """An http(s) URL with a host: the parser of `--alert-webhook`."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL")
    return text


@dataclass(frozen=True)
class Alert:
    kind: str
    text: str
    details: Mapping[str, Any] = field(default_factory=dict)
    at_ns: int = field(default_factory=time.time_ns)


def payload(
    alert: Alert, *, run_id: str, suppressed: int, telegram_chat_id: str | None
) -> dict[str, Any]:
    """The JSON body for one alert: the documented one, or Telegram's `sendMessage`."""
    if telegram_chat_id is not None:
        more = f" ({suppressed} more {alert.kind} alerts held back)" if suppressed else ""
        return {"chat_id": telegram_chat_id, "text": f"[{run_id}] {alert.text}{more}"}
    return {
        "kind": alert.kind,
        "text": alert.text,
        "run_id": run_id,
        "at": utc_now_text(alert.at_ns),
        "details": dict(alert.details),
        "suppressed": suppressed,
    }


class AlertSender:
    def __init__(
        self,
        url: str,
        *,
        run_id: str,
        min_interval_s: float = DEFAULT_MIN_INTERVAL_S,
        telegram_chat_id: str | None = None,
    ) -> None:
        try:
            webhook_url(url)
        except ValueError as e:
            raise ConfigError(f"--alert-webhook: {e}") from None
        self._url, self.run_id = url, run_id
        self.host = urlsplit(url).hostname or "?"  # what the log may say of the URL
        self.min_interval_s, self.telegram_chat_id = min_interval_s, telegram_chat_id
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._next_allowed: dict[str, float] = {}
        self._held_back: dict[str, int] = {}
        self._queue: queue.Queue[tuple[Alert, int] | None] = queue.Queue(QUEUE_LIMIT)
        self._thread = threading.Thread(target=self._deliver, name="alerts", daemon=True)
        self._thread.start()

    def due(self, kind: str) -> bool:
        """True when an alert of `kind` would go out now (not rate-limited)."""
        return time.monotonic() >= self._next_allowed.get(kind, 0.0)

    def send(self, alert: Alert) -> bool:
        """Queue `alert` unless its kind is rate-limited now; True when queued."""
        now = time.monotonic()
        if now < self._next_allowed.get(alert.kind, 0.0):
            self._held_back[alert.kind] = self._held_back.get(alert.kind, 0) + 1
            return False
        self._next_allowed[alert.kind] = now + self.min_interval_s
        suppressed = self._held_back.pop(alert.kind, 0)
        try:
            self._queue.put_nowait((alert, suppressed))
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def close(self, timeout_s: float = POST_TIMEOUT_S * 2) -> None:
        """Deliver what is queued (up to `timeout_s`), then stop."""
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            return
        self._thread.join(timeout_s)

    def _deliver(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            alert, suppressed = item
            body = payload(
                alert,
                run_id=self.run_id,
                suppressed=suppressed,
                telegram_chat_id=self.telegram_chat_id,
            )
            request = urllib.request.Request(
                self._url,
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=POST_TIMEOUT_S) as answer:
                    answer.read()
                self.sent += 1
            except (OSError, urllib.error.URLError, ValueError) as e:
                self.failed += 1
                # The reason, never the URL: it may hold a token.
                reason = getattr(e, "reason", None) or getattr(e, "code", None) or type(e).__name__
                log.warning("alert %s not delivered to %s: %s", alert.kind, self.host, reason)
