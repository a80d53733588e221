"""Every service's Prometheus `/metrics` endpoint: its settings and its server.

Each service serves its own registry on its own loopback port (defaults
below, one flag and one variable each); `PLR_DISABLE_METRICS=1` turns all of
them off at once. The feed's metrics stay on its health server
(`--health-port`), which also answers `/healthz /readyz /status`.

A service describes its metrics in a `Collector` of its own
(`services/<name>/metrics.py`) that reads the service's state when scraped:
nothing is counted twice, and the hot loop does not pay for metrics nobody reads.
The server is prometheus_client's own (a daemon thread); it never touches a socket
of the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from common.config import is_loopback_host, non_negative_int, setting
from common.errors import ConfigError

log = logging.getLogger(__name__)

# The documented default ports (ARCHITECTURE.md, Metrics): the feed's health
# server, then one per service, then the dashboard.
DEFAULT_PORTS: Final = {
    "feed": 8780,
    "model": 8781,
    "executor": 8782,
    "recorder": 8783,
    "dashboard": 8784,
}
DEFAULT_HOST: Final = "127.0.0.1"

T = TypeVar("T")


def bind_or_fall_back(bind: Callable[[int], T], port: int, flag: str) -> T:
    """`bind(port)`; a documented default port already taken falls back to a free one.

    Two runs on one host (a sweep of replays, a paper run beside a live one)
    would otherwise meet on the defaults, and the second would refuse to
    start. The port actually bound is logged by the caller. A port that was
    chosen (not a default) and is taken is a ConfigError: exit 2, one line.
    """
    try:
        return bind(port)
    except OSError as e:
        if port not in DEFAULT_PORTS.values():
            raise ConfigError(f"{flag} {port}: {e.strerror or e}") from None
        log.warning(
            "%s %d is in use (another run on this host?): serving on a free port", flag, port
        )
        return bind(0)


def metrics_port_setting(service: str) -> Any:
    """`--metrics-port`, `PLR_<SERVICE>_METRICS_PORT`: each service its own (0: any free port)."""
    return setting(
        "--metrics-port",
        non_negative_int,
        env=f"PLR_{service.upper()}_METRICS_PORT",
        default=DEFAULT_PORTS[service],
        help=f"serve Prometheus /metrics here (default {DEFAULT_PORTS[service]}; 0: a free port)",
    )


def metrics_host_setting() -> Any:
    return setting(
        "--metrics-host",
        str,
        env="PLR_METRICS_HOST",
        default=DEFAULT_HOST,
        help="the /metrics address (loopback unless --allow-remote)",
    )


class CallbackCollector(Collector):
    """A collector whose metrics are built, at scrape time, by one function."""

    def __init__(self, build: Callable[[], Iterable[Metric]]) -> None:
        self.build = build

    def collect(self) -> Iterable[Metric]:
        return list(self.build())


@dataclass(frozen=True)
class MetricsEndpoint:
    """Where a service's /metrics answers (the bound port, when 0 was asked)."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"


def serve_metrics(
    build: Callable[[], Iterable[Metric]],
    *,
    host: str,
    port: int,
    allow_remote: bool = False,
) -> MetricsEndpoint:
    """Serve `build`'s metrics on http://host:port/metrics in a daemon thread.

    Raises:
        ConfigError: a non-loopback host without `allow_remote`, or a chosen port
            that cannot be bound (the service then exits 2 with one line).
    """
    if not allow_remote and not is_loopback_host(host):
        raise ConfigError(f"--metrics-host: {host} is not loopback; pass --allow-remote to mean it")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CallbackCollector(build))
    server, _ = bind_or_fall_back(
        lambda free: start_http_server(free, addr=host, registry=registry), port, "--metrics-port"
    )
    endpoint = MetricsEndpoint(host, int(server.server_port))
    log.info("metrics on %s", endpoint.url)
    return endpoint
