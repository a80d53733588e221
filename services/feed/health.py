"""The feed's health HTTP server (127.0.0.1 by default).

    /healthz   200 while the process runs
    /readyz    200 when every symbol is live, else 503 (connecting, down, stale, resyncing)
    /status    JSON: state per symbol, last tick age, counters
    /metrics   Prometheus text format (prometheus_client)

It only reads a `FeedHealth` the feed updates; it never touches sockets or books.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from common.messages import FeedState

_STATE_CODES = {state: index for index, state in enumerate(FeedState)}


@dataclass
class FeedHealth:
    """What the feed knows about itself; written by the feed, read by the server."""

    states: dict[str, FeedState] = field(default_factory=dict)
    last_tick_ns: dict[str, int | None] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    def ready(self) -> bool:
        return bool(self.states) and all(
            s in (FeedState.LIVE, FeedState.REPLAYING) for s in self.states.values()
        )

    def status(self, now_ns: int) -> dict[str, Any]:
        return {
            "ready": self.ready(),
            "symbols": {
                symbol: {
                    "state": str(state),
                    "last_tick_age_s": _age_s(self.last_tick_ns.get(symbol), now_ns),
                }
                for symbol, state in self.states.items()
            },
            "counters": dict(self.counters),
        }


def _age_s(then_ns: int | None, now_ns: int) -> float | None:
    return None if then_ns is None else round((now_ns - then_ns) / 1e9, 3)


class _FeedCollector(Collector):
    def __init__(self, health: FeedHealth) -> None:
        self.health = health

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        for name, value in sorted(self.health.counters.items()):
            yield CounterMetricFamily(f"feed_{name}", f"feed counter {name}", value=value)
        state = GaugeMetricFamily(
            "feed_symbol_state",
            "0=" + ",".join(f"{i}:{s}" for s, i in _STATE_CODES.items()),
            labels=["symbol"],
        )
        for symbol, value in self.health.states.items():
            state.add_metric([symbol], _STATE_CODES[value])
        yield state
        yield GaugeMetricFamily(
            "feed_ready", "1 when every symbol is live", value=int(self.health.ready())
        )
        # Staleness: a quiet market and a dead connection both show here first.
        age = GaugeMetricFamily(
            "feed_last_tick_age_seconds", "time since the last tick, per symbol", labels=["symbol"]
        )
        now_ns = time.time_ns()
        for symbol, then_ns in dict(self.health.last_tick_ns).items():
            if then_ns is not None:
                age.add_metric([symbol], max(0.0, (now_ns - then_ns) / 1e9))
        yield age


def start_health_server(health: FeedHealth, host: str, port: int) -> ThreadingHTTPServer:
    """Serve in a daemon thread; return the server (its `server_port` is the bound port)."""
    registry = CollectorRegistry()
    registry.register(_FeedCollector(health))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._send(200, "text/plain", b"ok\n")
            elif path == "/readyz":
                ready = health.ready()
                self._send(
                    200 if ready else 503, "text/plain", b"ready\n" if ready else b"not ready\n"
                )
            elif path == "/status":
                body = json.dumps(health.status(time.time_ns())).encode()
                self._send(200, "application/json", body)
            elif path == "/metrics":
                self._send(200, "text/plain; version=0.0.4", generate_latest(registry))
            else:
                self._send(404, "text/plain", b"not found\n")

        def _send(self, code: int, kind: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every few seconds would drown the run log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server


def counters_dict(counters: object) -> dict[str, int]:
    return {k: int(v) for k, v in asdict(counters).items()}  # type: ignore[call-overload]
