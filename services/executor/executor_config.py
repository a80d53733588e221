"""The executor's settings, each declared once: flags, then environment, then defaults."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from common.config import (
    Secret,
    ServiceSettings,
    address_setting,
    check_transport,
    int_between,
    name_list,
    non_negative_float,
    parse_settings,
    positive_float,
    positive_float_up_to,
    positive_int,
    setting,
)
from common.errors import ConfigError
from common.limits import MAX_LOSS_CEILING, MAX_ORDER_NOTIONAL_CEILING, MAX_POSITION_CEILING
from common.metrics import metrics_host_setting, metrics_port_setting
from common.runs import run_folder
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

# CancelAllOrdersAfter: Kraken takes a timeout below one day; under 2 s the
# refresh (a quarter of it) would race the calls around it.
DEAD_MAN_TIMEOUT_MIN_S: Final = 2
DEAD_MAN_TIMEOUT_MAX_S: Final = 86_399


@dataclass(frozen=True, kw_only=True)
class ExecutorConfig(ServiceSettings):
    ticks: str = address_setting("ticks")
    targets: str = address_setting("targets")
    events: str = address_setting("events")
    ready: str = address_setting("ready")
    progress: str = address_setting("progress")
    run_dir: Path | None = setting(
        "--run-dir", run_folder, env="PLR_RUN_DIR", help="journal folder (a new run dir if unset)"
    )
    max_order_notional: float = setting(
        "--max-order-notional",
        positive_float_up_to(MAX_ORDER_NOTIONAL_CEILING),
        env="PLR_MAX_ORDER_NOTIONAL",
        default=5_000.0,
        help=f"largest order, quote currency (at most {MAX_ORDER_NOTIONAL_CEILING:g})",
    )
    max_position: float = setting(
        "--max-position",
        positive_float_up_to(MAX_POSITION_CEILING),
        env="PLR_MAX_POSITION",
        default=0.05,
        help=f"largest position per symbol, base units (at most {MAX_POSITION_CEILING:g})",
    )
    max_loss: float = setting(
        "--max-loss",
        positive_float_up_to(MAX_LOSS_CEILING),
        env="PLR_MAX_LOSS",
        default=250.0,
        help=f"drawdown that trips the breaker, quote currency (at most {MAX_LOSS_CEILING:g})",
    )
    max_orders_per_minute: int = setting(
        "--max-orders-per-minute", positive_int, env="PLR_MAX_ORDERS_PER_MINUTE", default=120
    )
    price_band_bps: float = setting(
        "--price-band-bps", positive_float, env="PLR_PRICE_BAND_BPS", default=50.0
    )
    stale_after_ms: int = setting(
        "--stale-after-ms", positive_int, env="PLR_STALE_AFTER_MS", default=5_000
    )
    latency_ms: float = setting(
        "--latency-ms",
        non_negative_float,
        env="PLR_LATENCY_MS",
        default=50.0,
        help="paper fills price on the market this long after the order",
    )
    taker_fee_bps: float = setting(
        "--taker-fee-bps",
        non_negative_float,
        env="PLR_TAKER_FEE_BPS",
        default=KRAKEN_BASE_TAKER_FEE_BPS,
    )
    pairs_file: Path = setting(
        "--pairs-file", Path, env="PLR_PAIRS_FILE", default=DEFAULT_PAIRS_FILE
    )
    drain_timeout_s: float = setting(
        "--drain-timeout-s",
        positive_float,
        env="PLR_DRAIN_TIMEOUT_S",
        default=5.0,
        help="after the feed's eos, how long the model may stay silent before we finish",
    )
    reset_breaker: bool = setting(
        "--reset-breaker",
        env="PLR_RESET_BREAKER",
        switch=True,
        help="start with the circuit breaker reset even if the journal says tripped",
    )
    fsync: bool = setting(
        "--fsync", env="PLR_JOURNAL_FSYNC", switch=True, help="fsync the journal per entry"
    )
    no_paper_mode: bool = setting("--no-paper-mode", env="PLR_NO_PAPER_MODE", switch=True)
    live_executor: bool = setting("--live-executor", env="PLR_LIVE_EXECUTOR", switch=True)
    name: str = setting("--name", str, env="PLR_EXECUTOR_NAME", default="executor")
    metrics_port: int = metrics_port_setting("executor")
    metrics_host: str = metrics_host_setting()
    models: tuple[str, ...] = setting(
        "--models",
        name_list,
        env="PLR_MODELS",
        default=("model",),
        help="the model processes (their --name) whose targets we take; all their eos end the run",
    )
    symbols: tuple[str, ...] = setting(
        "--symbols",
        name_list,
        env="PLR_SYMBOLS",
        default=("BTC/USD",),
        help="live: the symbols whose venue balance is reconciled at start",
    )
    exchange_url: str = setting(
        "--exchange-url",
        check_base_url,
        env="EXCHANGE_BASE_URL",
        default=KRAKEN_REST_URL,
        help="live: Kraken's REST base URL (or a loopback test server)",
    )
    venue_timeout_s: float = setting(
        "--venue-timeout-s", positive_float, env="PLR_VENUE_TIMEOUT_S", default=10.0
    )
    order_deadline_s: float = setting(
        "--order-deadline-s",
        positive_float,
        env="PLR_ORDER_DEADLINE_S",
        default=LiveTimings.deadline_s,
        help="live: Kraken drops an order that reaches its engine later than this",
    )
    order_settle_s: float = setting(
        "--order-settle-s",
        positive_float,
        env="PLR_ORDER_SETTLE_S",
        default=LiveTimings.settle_s,
        help="live: a market order still working this long is cancelled",
    )
    dead_man_timeout_s: int = setting(
        "--dead-man-timeout-s",
        int_between(DEAD_MAN_TIMEOUT_MIN_S, DEAD_MAN_TIMEOUT_MAX_S),
        env="PLR_DEAD_MAN_TIMEOUT_S",
        default=LiveTimings.dead_man_timeout_s,
        help="live: Kraken cancels every open order if the executor is silent this long "
        f"({DEAD_MAN_TIMEOUT_MIN_S}-{DEAD_MAN_TIMEOUT_MAX_S} s; pushed back every quarter of it)",
    )
    venue_rate_limit_ms: int | None = setting(
        "--venue-rate-limit-ms",
        positive_int,
        env="PLR_VENUE_RATE_LIMIT_MS",
        help="live, ccxt: its client-side throttle per call (ccxt's default 1000)",
    )
    lossless: bool = setting(
        "--lossless",
        env="PLR_LOSSLESS",
        switch=True,
        help="replay: never drop ticks, and follow the model's watermark",
    )
    # Derived, never read from a flag: only ever set when every opt-in of the live gate is present.
    live: bool = False
    provider: str | None = None
    api_key: Secret | None = None
    api_secret: Secret | None = None

    @property
    def live_timings(self) -> LiveTimings:
        return LiveTimings(
            deadline_s=self.order_deadline_s,
            settle_s=self.order_settle_s,
            dead_man_timeout_s=self.dead_man_timeout_s,
        )

    @classmethod
    def from_args(cls, argv: Sequence[str] | None, environ: Mapping[str, str]) -> ExecutorConfig:
        config = parse_settings(cls, "python -m services.executor", argv, environ)
        check_transport(config)
        if not DEADLINE_MIN_S <= config.order_deadline_s <= DEADLINE_MAX_S:
            raise ConfigError(
                f"--order-deadline-s: {DEADLINE_MIN_S:g}-{DEADLINE_MAX_S:g} s, as Kraken allows"
            )
        if config.dead_man_timeout_s <= config.venue_timeout_s:
            # One slow call must not outlast the switch it is meant to push back.
            raise ConfigError("--dead-man-timeout-s must be longer than --venue-timeout-s")
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
