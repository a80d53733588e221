"""The executor's settings, each declared once: flags, then environment, then defaults."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
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
    non_negative_int,
    parse_settings,
    positive_float,
    positive_float_up_to,
    positive_int,
    setting,
)
from common.errors import ConfigError
from common.limits import (
    MAX_LOSS_CEILING,
    MAX_ORDER_NOTIONAL_CEILING,
    MAX_POSITION_CEILING,
    Limit,
    SymbolLimits,
    symbol_limits,
)
from common.metrics import metrics_host_setting, metrics_port_setting
from common.runs import run_folder
from services.executor.account import DEFAULT_BALANCES, balance_list
from services.executor.execution_style import DEFAULT_REQUOTE_BPS, ExecutionKind, ExecutionStyle
from services.executor.gate import missing_live_opt_ins
from services.executor.latency import DEFAULT_JITTER_MS, DEFAULT_SEED
from services.executor.live import LiveTimings
from services.executor.quantities import exact
from services.executor.risk import RiskLimits
from venues.kraken.fees import load_fee_schedule
from venues.kraken.pairs import DEFAULT_PAIRS_FILE
from venues.kraken.rate_limits import RateLimitTier
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
DEFAULT_MAX_ORDER_NOTIONAL: Final = 5_000.0
DEFAULT_MAX_POSITION: Final = 0.05


def execution_kind(text: str) -> ExecutionKind:
    """--execution: market, ioc, limit or post-only."""
    try:
        return ExecutionKind(text.strip().lower())
    except ValueError:
        raise ValueError(f"expected one of {', '.join(ExecutionKind)}, got {text!r}") from None


def rate_limit_tier(text: str) -> RateLimitTier | None:
    """Kraken's verification tier whose limits apply, or None for `off`."""
    if text.strip().lower() == "off":
        return None
    try:
        return RateLimitTier(text.strip().lower())
    except ValueError:
        choices = ", ".join([*RateLimitTier, "off"])
        raise ValueError(f"expected one of {choices}, got {text!r}") from None


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
    max_order_notional: SymbolLimits = setting(
        "--max-order-notional",
        symbol_limits(MAX_ORDER_NOTIONAL_CEILING, DEFAULT_MAX_ORDER_NOTIONAL),
        env="PLR_MAX_ORDER_NOTIONAL",
        default=SymbolLimits(Limit(DEFAULT_MAX_ORDER_NOTIONAL)),
        help="largest order, quote currency; per symbol as 1000,BTC/USD=5000 "
        f"(each at most {MAX_ORDER_NOTIONAL_CEILING:g})",
    )
    max_position: SymbolLimits = setting(
        "--max-position",
        symbol_limits(MAX_POSITION_CEILING, DEFAULT_MAX_POSITION),
        env="PLR_MAX_POSITION",
        default=SymbolLimits(Limit(DEFAULT_MAX_POSITION)),
        help="largest position per symbol, base units; per symbol as 0.05,BTC/USD=0.01, "
        f"or a notional as 100USDT (each at most {MAX_POSITION_CEILING:g})",
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
        help="paper orders reach the simulated venue this long after the decision, at least",
    )
    latency_jitter_ms: float = setting(
        "--latency-jitter-ms",
        non_negative_float,
        env="PLR_LATENCY_JITTER_MS",
        default=DEFAULT_JITTER_MS,
        help="mean of the exponential delay added to --latency-ms (services/executor/latency.py)",
    )
    latency_seed: int = setting(
        "--latency-seed",
        non_negative_int,
        env="PLR_LATENCY_SEED",
        default=DEFAULT_SEED,
        help="seed of the latency jitter: a replay repeats its fills exactly",
    )
    fee_30d_volume: float = setting(
        "--fee-30d-volume",
        non_negative_float,
        env="PLR_FEE_30D_VOLUME",
        default=0.0,
        help="30-day volume, USD: picks the fee tier of Kraken's schedule (data/kraken_fees.json)",
    )
    maker_fee_bps: float | None = setting(
        "--maker-fee-bps",
        non_negative_float,
        env="PLR_MAKER_FEE_BPS",
        help="maker fee, overriding the schedule's tier",
    )
    taker_fee_bps: float | None = setting(
        "--taker-fee-bps",
        non_negative_float,
        env="PLR_TAKER_FEE_BPS",
        help="taker fee, overriding the schedule's tier (paper's market orders pay it)",
    )
    execution: ExecutionKind = setting(
        "--execution",
        execution_kind,
        env="PLR_EXECUTION",
        default=ExecutionKind.MARKET,
        help="how targets become orders: market (default), ioc (a limit at the far touch, the "
        "rest cancelled), limit or post-only (resting at the near touch, cancel/replace; "
        "docs/EXECUTION.md)",
    )
    limit_offset_bps: float = setting(
        "--limit-offset-bps",
        non_negative_float,
        env="PLR_LIMIT_OFFSET_BPS",
        default=0.0,
        help="limit price offset from the touch, bps: passive away from it, ioc into it",
    )
    limit_offset_ticks: int = setting(
        "--limit-offset-ticks",
        non_negative_int,
        env="PLR_LIMIT_OFFSET_TICKS",
        default=0,
        help="the same offset in the pair's price increments (not with --limit-offset-bps)",
    )
    requote_bps: float = setting(
        "--requote-bps",
        non_negative_float,
        env="PLR_REQUOTE_BPS",
        default=DEFAULT_REQUOTE_BPS,
        help="replace a resting order when the touch moved further than this from its price",
    )
    rate_limit_tier: RateLimitTier | None = setting(
        "--rate-limit-tier",
        rate_limit_tier,
        env="PLR_RATE_LIMIT_TIER",
        default=RateLimitTier.STARTER,
        help="Kraken's rate limits, paper and live alike: starter, intermediate, pro or off",
    )
    balances: tuple[str, ...] = setting(
        "--balances",
        balance_list,
        env="PLR_BALANCES",
        default=DEFAULT_BALANCES,
        help="paper: the spot account's starting balances, e.g. USD=10000,BTC=0 "
        f"(default {','.join(DEFAULT_BALANCES)}; a run's journal keeps its first ones)",
    )
    margin: bool = setting(
        "--margin",
        env="PLR_MARGIN",
        switch=True,
        help="paper: a margin account (shorts within equity x leverage, Kraken's opening fee); "
        "off: spot, no balance below zero",
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
    shadow: bool = setting(
        "--shadow",
        env="PLR_SHADOW",
        switch=True,
        help="live orders at the pair's minimum size, each also given to a paper twin "
        "(its fills in executor-shadow.journal); needs every live opt-in",
    )
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
    def taker_fee(self) -> float:
        """The taker rate in bps, once `from_args` has resolved it from the schedule."""
        if self.taker_fee_bps is None:
            raise AssertionError("taker fee read before from_args resolved it")
        return self.taker_fee_bps

    @property
    def taker_fee_rate(self) -> Decimal:
        """The taker fee as a fraction, exact: what the spot account holds back for it."""
        return exact(self.taker_fee) / 10_000

    @property
    def execution_style(self) -> ExecutionStyle:
        return ExecutionStyle(
            self.execution, self.limit_offset_bps, self.limit_offset_ticks, self.requote_bps
        )

    @property
    def risk_limits(self) -> RiskLimits:
        return RiskLimits(
            max_order_notional=self.max_order_notional,
            max_position=self.max_position,
            max_loss=self.max_loss,
            max_orders_per_minute=self.max_orders_per_minute,
            price_band_bps=self.price_band_bps,
            stale_after_ms=self.stale_after_ms,
        )

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
        config = _with_fees(config)
        if config.limit_offset_bps and config.limit_offset_ticks:
            raise ConfigError("give --limit-offset-bps or --limit-offset-ticks, not both")
        if not DEADLINE_MIN_S <= config.order_deadline_s <= DEADLINE_MAX_S:
            raise ConfigError(
                f"--order-deadline-s: {DEADLINE_MIN_S:g}-{DEADLINE_MAX_S:g} s, as Kraken allows"
            )
        if config.dead_man_timeout_s <= config.venue_timeout_s:
            # One slow call must not outlast the switch it is meant to push back.
            raise ConfigError("--dead-man-timeout-s must be longer than --venue-timeout-s")
        if config.no_paper_mode or config.live_executor or config.shadow:
            missing = missing_live_opt_ins(
                no_paper_mode=config.no_paper_mode,
                live_executor=config.live_executor,
                environ=environ,
            )
            # --shadow sends live orders (at minimum size): every live opt-in, no shortcut.
            refused = "shadow mode refused" if config.shadow else "live execution refused"
            if missing:
                raise ConfigError(f"{refused}; missing: {', '.join(missing)}")
            if config.lossless:
                raise ConfigError(
                    f"{refused}: --lossless is for replays; live orders need live data"
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


def _with_fees(config: ExecutorConfig) -> ExecutorConfig:
    """Maker and taker rates: as given, else the schedule's tier for the 30-day volume."""
    tier = load_fee_schedule().tier_at(config.fee_30d_volume)
    return dataclasses.replace(
        config,
        maker_fee_bps=tier.maker_bps if config.maker_fee_bps is None else config.maker_fee_bps,
        taker_fee_bps=tier.taker_bps if config.taker_fee_bps is None else config.taker_fee_bps,
    )


def _api_secret(text: str) -> Secret:
    """Kraken's private key is base64 (64 bytes): check it now, not at the first signature."""
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("EXCHANGE_API_SECRET is not base64 (value not shown)") from None
    return Secret(text)
