"""The executor's configuration: flags, then environment, then defaults."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from common.config import (
    SERVICE_OPTIONS,
    Option,
    Secret,
    address_option,
    name_list,
    non_negative_float,
    parse_options,
    positive_float,
    positive_int,
    require_loopback_addresses,
)
from common.errors import ConfigError
from services.executor.gate import missing_live_opt_ins
from services.executor.live import LiveTimings
from services.executor.paper import KRAKEN_BASE_TAKER_FEE_BPS
from venues.kraken.pairs import DEFAULT_PAIRS_FILE
from venues.kraken.rest.orders import (
    DEADLINE_MAX_S,
    DEADLINE_MIN_S,
    KRAKEN_REST_URL,
    check_base_url,
)

OPTIONS: Final = [
    address_option("ticks"),
    address_option("targets"),
    address_option("events"),
    address_option("ready"),
    address_option("logs"),
    address_option("progress"),
    Option("--run-dir", Path, env="PLR_RUN_DIR", help="journal folder (a new run dir if unset)"),
    Option("--max-order-notional", positive_float, env="PLR_MAX_ORDER_NOTIONAL", default=5_000.0),
    Option("--max-position", positive_float, env="PLR_MAX_POSITION", default=0.05),
    Option("--max-loss", positive_float, env="PLR_MAX_LOSS", default=250.0),
    Option("--max-orders-per-minute", positive_int, env="PLR_MAX_ORDERS_PER_MINUTE", default=120),
    Option("--price-band-bps", positive_float, env="PLR_PRICE_BAND_BPS", default=50.0),
    Option("--stale-after-ms", positive_int, env="PLR_STALE_AFTER_MS", default=5_000),
    Option(
        "--latency-ms",
        non_negative_float,
        env="PLR_LATENCY_MS",
        default=50.0,
        help="paper fills price on the market this long after the order",
    ),
    Option(
        "--taker-fee-bps",
        non_negative_float,
        env="PLR_TAKER_FEE_BPS",
        default=KRAKEN_BASE_TAKER_FEE_BPS,
    ),
    Option("--pairs-file", Path, env="PLR_PAIRS_FILE", default=DEFAULT_PAIRS_FILE),
    Option(
        "--drain-timeout-s",
        positive_float,
        env="PLR_DRAIN_TIMEOUT_S",
        default=5.0,
        help="after the feed's eos, how long the model may stay silent before we finish",
    ),
    Option(
        "--reset-breaker",
        env="PLR_RESET_BREAKER",
        switch=True,
        help="start with the circuit breaker reset even if the journal says tripped",
    ),
    Option("--fsync", env="PLR_JOURNAL_FSYNC", switch=True, help="fsync the journal per entry"),
    Option("--no-paper-mode", env="PLR_NO_PAPER_MODE", switch=True),
    Option("--live-executor", env="PLR_LIVE_EXECUTOR", switch=True),
    Option("--name", str, env="PLR_EXECUTOR_NAME", default="executor"),
    Option(
        "--symbols",
        name_list,
        env="PLR_SYMBOLS",
        default=("BTC/USD",),
        help="live: the symbols whose venue balance is reconciled at start",
    ),
    Option(
        "--exchange-url",
        check_base_url,
        env="EXCHANGE_BASE_URL",
        default=KRAKEN_REST_URL,
        help="live: Kraken's REST base URL (or a loopback test server)",
    ),
    Option("--venue-timeout-s", positive_float, env="PLR_VENUE_TIMEOUT_S", default=10.0),
    Option(
        "--order-deadline-s",
        positive_float,
        env="PLR_ORDER_DEADLINE_S",
        default=LiveTimings.deadline_s,
        help="live: Kraken drops an order that reaches its engine later than this",
    ),
    Option(
        "--order-settle-s",
        positive_float,
        env="PLR_ORDER_SETTLE_S",
        default=LiveTimings.settle_s,
        help="live: a market order still working this long is cancelled",
    ),
    Option(
        "--venue-rate-limit-ms",
        positive_int,
        env="PLR_VENUE_RATE_LIMIT_MS",
        help="live, ccxt: its client-side throttle per call (ccxt's default 1000)",
    ),
    Option(
        "--lossless",
        env="PLR_LOSSLESS",
        switch=True,
        help="replay: never drop ticks, and follow the model's watermark",
    ),
    *SERVICE_OPTIONS,
]


@dataclass(frozen=True)
class ExecutorConfig:
    ticks: str
    targets: str
    events: str
    ready: str
    logs: str
    progress: str
    run_dir: Path | None
    max_order_notional: float
    max_position: float
    max_loss: float
    max_orders_per_minute: int
    price_band_bps: float
    stale_after_ms: int
    latency_ms: float
    taker_fee_bps: float
    pairs_file: Path
    drain_timeout_s: float
    reset_breaker: bool
    fsync: bool
    no_paper_mode: bool
    live_executor: bool
    name: str
    lossless: bool
    allow_remote: bool
    stay_after_eos: bool
    exchange_url: str
    venue_timeout_s: float
    order_deadline_s: float
    order_settle_s: float
    venue_rate_limit_ms: int | None
    symbols: tuple[str, ...]
    live: bool = False  # only ever True when every opt-in of the live gate is present
    provider: str | None = None
    api_key: Secret | None = None
    api_secret: Secret | None = None

    @property
    def live_timings(self) -> LiveTimings:
        return LiveTimings(deadline_s=self.order_deadline_s, settle_s=self.order_settle_s)

    @classmethod
    def from_args(cls, argv: Sequence[str] | None, environ: Mapping[str, str]) -> ExecutorConfig:
        config = cls(**parse_options("python -m services.executor", OPTIONS, argv, environ))
        require_loopback_addresses(
            config, ("ticks", "targets", "events", "ready", "logs", "progress")
        )
        if not DEADLINE_MIN_S <= config.order_deadline_s <= DEADLINE_MAX_S:
            raise ConfigError(
                f"--order-deadline-s: {DEADLINE_MIN_S:g}-{DEADLINE_MAX_S:g} s, as Kraken allows"
            )
        if config.no_paper_mode or config.live_executor:
            missing = missing_live_opt_ins(
                no_paper_mode=config.no_paper_mode,
                live_executor=config.live_executor,
                environ=environ,
            )
            if missing:
                raise ConfigError(f"live execution refused; missing: {', '.join(missing)}")
            if config.lossless:
                raise ConfigError(
                    "live execution refused: --lossless is for replays; live orders need live data"
                )
            return dataclasses.replace(
                config,
                live=True,
                fsync=True,  # real money: every journal entry reaches the disk before it is sent
                provider=environ["LIVE_EXECUTOR_PROVIDER"],
                api_key=Secret(environ["EXCHANGE_API_KEY"]),
                api_secret=_api_secret(environ["EXCHANGE_API_SECRET"]),
            )
        return config


def _api_secret(text: str) -> Secret:
    """Kraken's private key is base64 (64 bytes): check it now, not at the first signature."""
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("EXCHANGE_API_SECRET is not base64 (value not shown)") from None
    return Secret(text)
