"""A fake Kraken spot REST API: a real HTTP server on 127.0.0.1 (port 0).

It checks `API-Key`, `API-Sign` (HMAC-SHA512 over the path and SHA-256 of
nonce + raw body, exactly as Kraken documents) and strictly increasing nonces
per key, then serves the endpoints ccxt and krakenex call for orders:
public Time/Assets/AssetPairs, private AddOrder, CancelOrder, AmendOrder,
OpenOrders, ClosedOrders, QueryOrders, Balance, BalanceEx,
CancelAllOrdersAfter. The account behind them (orders, balances, matching on
a recorded market) is tests/fakes/kraken_orders.py's; this module is its
HTTP face.

It keeps its own clock, which a test can skew (`clock_skew_s`): `Time`
reports it, AddOrder's `deadline` is checked against it (an order arriving
after its deadline is refused, one more than 60 s ahead is invalid), and the
dead-man switch (`CancelAllOrdersAfter`) runs on it: when its timer runs out
every open order is cancelled, as Kraken does. Faults can be injected on the
next call of a method: a Kraken error string, a bare HTTP status (before or
after the order was booked), or an answer delayed past the client's timeout
*after* the order was booked. Tests stage races with `before_next(method,
action)`: `action` runs (under the account's lock) just before the next call
of `method` is handled, e.g. a `fill` that lands between the client's last
poll and its cancel.
See docs/kraken-rest-live.md (section 9) for the checklist this follows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from tests.fakes.kraken_market import RecordedMarket
from tests.fakes.kraken_orders import (
    CANCELLED_REASON,
    DEADLINE_ELAPSED,
    PAIRS,
    POST_ONLY_REASON,
    FakeKrakenOrders,
)

# Importers of the fake (tests, other branches) find these here, as before the split.
__all__ = [
    "CANCELLED_REASON",
    "DEADLINE_ELAPSED",
    "PAIRS",
    "POST_ONLY_REASON",
    "FakeKrakenRest",
    "kraken_signature",
]

ASSETS = {
    "XXBT": {
        "aclass": "currency",
        "altname": "XBT",
        "decimals": 10,
        "display_decimals": 5,
        "status": "enabled",
    },
    "ZUSD": {
        "aclass": "currency",
        "altname": "USD",
        "decimals": 4,
        "display_decimals": 2,
        "status": "enabled",
    },
}


DEAD_MAN_MAX_TIMEOUT_S: Final = 86_400  # Kraken: the timeout must be below one day
DEAD_MAN_TICK_S: Final = 0.02  # how often the fake's timer looks at its clock


def kraken_signature(path: str, body: bytes, nonce: str, secret_b64: str) -> str:
    """API-Sign: base64(HMAC-SHA512(b64decode(secret), path + SHA256(nonce + body)))."""
    inner = hashlib.sha256(nonce.encode() + body).digest()
    mac = hmac.new(base64.b64decode(secret_b64), path.encode() + inner, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


class FakeKrakenRest(FakeKrakenOrders):
    """`with FakeKrakenRest(key, secret) as fake:`; point clients at `fake.url`."""

    def __init__(
        self,
        api_key: str,
        api_secret_b64: str,
        *,
        mark_price: str = "60000.0",
        market: RecordedMarket | None = None,
    ) -> None:
        super().__init__(mark_price=mark_price, market=market)
        self.keys = {api_key: api_secret_b64}
        self.last_nonce: dict[str, int] = defaultdict(int)
        self.faults: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        self.log: list[dict[str, Any]] = []
        self._before: dict[str, list[Callable[[], None]]] = defaultdict(list)
        self.dead_man_calls: list[int] = []  # every CancelAllOrdersAfter timeout, in order
        self.dead_man_trigger_s: float | None = None  # venue time the switch fires at
        self.dead_man_fired = 0
        self._closing = threading.Event()

    def before_next(self, method: str, action: Callable[[], None]) -> None:
        """Run `action` just before the next `method` call is handled (races, staged)."""
        self._before[method].append(action)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def fail_next(self, method: str, kind: str, value: Any) -> None:
        """`kind`: "error" (Kraken string), "http" (status), "late" (book, then sleep s),
        "http_after_booking" (book, then answer with that status)."""
        self.faults[method].append((kind, value))

    def __enter__(self) -> FakeKrakenRest:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._serve(self, b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                fake._serve(self, self.rfile.read(length))

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll: shutdown() waits for it, once per test.
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        threading.Thread(target=self._dead_man_timer, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()  # ends the timer and any answer held back by a "late" fault
        self.server.shutdown()
        self.server.server_close()

    # -- request handling ---------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        path = urlsplit(handler.path).path
        method = path.rsplit("/", 1)[-1]
        entry = {"method": method, "path": path, "body": body.decode(errors="replace")}
        self.log.append(entry)
        fault = self.faults[method].pop(0) if self.faults[method] else None
        if fault and fault[0] == "http":
            return self._send(handler, fault[1], b"<html>upstream error</html>", "text/html")
        if fault and fault[0] == "error":
            return self._send_json(handler, {"error": [fault[1]]})
        if path.startswith("/0/public/"):
            return self._send_json(handler, self._public(method))
        params = self._params(handler, body)
        problem = self._authenticate(handler, path, body, params)
        entry["signature_ok"] = problem is None
        if problem:
            return self._send_json(handler, {"error": [problem]})
        with self._lock:
            self.match()
            if self._before[method]:
                self._before[method].pop(0)()
            answer = self._private(method, params)
        if fault and fault[0] == "late":
            # Booked already: the client times out on an order that exists.
            self._closing.wait(fault[1])
        if fault and fault[0] == "http_after_booking":
            return self._send(handler, fault[1], b"<html>gateway error</html>", "text/html")
        self._send_json(handler, answer)

    @staticmethod
    def _params(handler: BaseHTTPRequestHandler, body: bytes) -> dict[str, str]:
        if handler.headers.get("Content-Type", "").startswith("application/json"):
            return {k: str(v) for k, v in json.loads(body or b"{}").items()}
        return {k: v[0] for k, v in parse_qs(body.decode()).items()}

    def _authenticate(
        self, handler: BaseHTTPRequestHandler, path: str, body: bytes, params: dict[str, str]
    ) -> str | None:
        key = handler.headers.get("API-Key", "")
        secret = self.keys.get(key)
        if secret is None:
            return "EAPI:Invalid key"
        nonce = params.get("nonce", "")
        if not nonce.isdigit():
            return "EAPI:Invalid nonce"
        if not hmac.compare_digest(
            handler.headers.get("API-Sign", ""), kraken_signature(path, body, nonce, secret)
        ):
            return "EAPI:Invalid signature"
        with self._lock:
            if int(nonce) <= self.last_nonce[key]:
                return "EAPI:Invalid nonce"
            self.last_nonce[key] = int(nonce)  # recorded only once the signature passed
        return None

    def _public(self, method: str) -> dict[str, Any]:
        if method == "Time":
            now = int(self.now_s())  # whole seconds, as Kraken's `unixtime`
            return {"error": [], "result": {"unixtime": now, "rfc1123": time.ctime(now)}}
        if method == "Assets":
            return {"error": [], "result": ASSETS}
        if method == "AssetPairs":
            return {"error": [], "result": PAIRS}
        return {"error": ["EGeneral:Unknown method"]}

    def _private(self, method: str, p: dict[str, str]) -> dict[str, Any]:
        handler = getattr(self, f"_private_{method}", None)
        if handler is None:
            return {"error": ["EGeneral:Unknown method"]}
        return handler(p)

    def _private_CancelAllOrdersAfter(self, p: dict[str, str]) -> dict[str, Any]:
        try:
            timeout_s = int(p.get("timeout", ""))
        except ValueError:
            return {"error": ["EGeneral:Invalid arguments"]}
        if not 0 <= timeout_s < DEAD_MAN_MAX_TIMEOUT_S:
            return {"error": ["EGeneral:Invalid arguments"]}
        now_s = self.now_s()
        self.dead_man_calls.append(timeout_s)
        self.dead_man_trigger_s = now_s + timeout_s if timeout_s else None
        trigger = _rfc3339(self.dead_man_trigger_s) if self.dead_man_trigger_s else "0"
        return {"error": [], "result": {"currentTime": _rfc3339(now_s), "triggerTime": trigger}}

    def _dead_man_timer(self) -> None:
        # Fires on the fake's own (skewable) clock: once it passes the trigger, every
        # open order is cancelled and the switch stays off until the next non-zero call.
        while not self._closing.wait(DEAD_MAN_TICK_S):
            with self._lock:
                trigger = self.dead_man_trigger_s
                if trigger is None or self.now_s() < trigger:
                    continue
                self.dead_man_trigger_s = None
                self.dead_man_fired += 1
                for order in self.orders.values():
                    if order["status"] in ("open", "pending"):
                        order["status"], order["reason"] = "canceled", "Dead man switch"

    # -- replies ------------------------------------------------------------------------
    def _send_json(self, handler: BaseHTTPRequestHandler, data: dict[str, Any]) -> None:
        self._send(handler, 200, json.dumps(data).encode(), "application/json")

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, code: int, body: bytes, kind: str) -> None:
        try:
            handler.send_response(code)
            handler.send_header("Content-Type", kind)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            pass  # the client gave up (its timeout): the order, if any, is booked anyway


def _rfc3339(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
