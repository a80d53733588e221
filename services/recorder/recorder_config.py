"""The recorder's settings, each declared once: flags, then environment, then defaults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from common.alerts import DEFAULT_MIN_INTERVAL_S, webhook_url
from common.config import (
    Secret,
    ServiceSettings,
    address_setting,
    check_transport,
    name_list,
    non_negative_int,
    parse_settings,
    positive_float,
    setting,
)
from common.errors import ConfigError
from common.metrics import DEFAULT_PORTS, metrics_host_setting, metrics_port_setting
from common.runs import check_run_id, run_folder


def secret_webhook(text: str) -> Secret:
    return Secret(webhook_url(text))


@dataclass(frozen=True, kw_only=True)
class RecorderConfig(ServiceSettings):
    run_dir: Path = setting(
        "--run-dir", run_folder, env="PLR_RUN_DIR", help="where the artifacts go"
    )
    ticks: str = address_setting("ticks")
    # One address per model process (a split deployment runs several).
    predictions: tuple[str, ...] = address_setting("predictions", several=True)
    events: str = address_setting("events")
    ready: str = address_setting("ready")
    progress: str = address_setting("progress")
    metrics_port: int = metrics_port_setting("recorder")
    metrics_host: str = metrics_host_setting()
    dashboard_port: int = setting(
        "--dashboard-port",
        non_negative_int,
        env="PLR_DASHBOARD_PORT",
        default=DEFAULT_PORTS["dashboard"],
        help="serve the live dashboard page here, on --metrics-host (0: a free port; "
        "PLR_DISABLE_METRICS=1 turns it off with /metrics)",
    )
    # Alerts (common/alerts.py): the runner hands its --alert-webhook to the recorder.
    alert_webhook: Secret | None = setting(
        "--alert-webhook",
        secret_webhook,
        env="PLR_ALERT_WEBHOOK",
        help="POST alerts (breaker, venue halt, feed down) here; a Secret: it may hold a token",
    )
    alert_telegram_chat_id: str | None = setting(
        "--alert-telegram-chat-id",
        str,
        env="PLR_ALERT_TELEGRAM_CHAT_ID",
        help="send Telegram sendMessage bodies to this chat (the webhook is then the bot's URL)",
    )
    alert_feed_down_s: float = setting(
        "--alert-feed-down-s",
        positive_float,
        env="PLR_ALERT_FEED_DOWN_S",
        default=30.0,
        help="alert when a feed symbol is stale, down or resyncing this long",
    )
    alert_interval_s: float = setting(
        "--alert-interval-s",
        positive_float,
        env="PLR_ALERT_INTERVAL_S",
        default=DEFAULT_MIN_INTERVAL_S,
        help="at most one alert of a kind per this many seconds (the rest are counted)",
    )
    expect_eos: tuple[str, ...] = setting(
        "--expect-eos", name_list, env="PLR_EXPECT_EOS", default=("feed", "model", "executor")
    )
    mode: str = setting("--mode", str, env="PLR_MODE", default="paper")
    executor_class: str = setting(
        "--executor-class", str, env="PLR_EXECUTOR_CLASS", default="PaperOrderExecutor"
    )
    config_json: Path | None = setting(
        "--config-json", Path, env="PLR_CONFIG_JSON", help="the run's public config"
    )
    venue: str = setting("--venue", str, env="PLR_VENUE", default="unknown")
    symbols: tuple[str, ...] = setting(
        "--symbols", name_list, env="PLR_SYMBOLS", default=("unknown",)
    )
    name: str = setting("--name", str, env="PLR_RECORDER_NAME", default="recorder")
    replay: Path | None = setting(
        "--replay",
        Path,
        env="PLR_REPLAY",
        help="the file the feed replays: resumed, the ticks ticks.gz holds are not written again",
    )

    @classmethod
    def from_args(cls, argv: Sequence[str] | None, environ: Mapping[str, str]) -> RecorderConfig:
        config = parse_settings(cls, "python -m services.recorder", argv, environ)
        if config.run_dir is None:
            raise ConfigError("--run-dir is required (or set PLR_RUN_DIR)")
        check_run_id(config.run_dir.name)
        check_transport(config)
        return config
