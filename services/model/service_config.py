"""The model service's settings, each declared once: flags, then environment, then defaults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from common.config import (
    ServiceSettings,
    address_setting,
    check_transport,
    name_list,
    parse_settings,
    positive_int,
    setting,
)
from common.errors import ConfigError
from common.limits import MAX_POSITION_CEILING, SymbolLimits, symbol_limits
from common.metrics import metrics_host_setting, metrics_port_setting
from services.model.policy import Policy


def path_list(text: str) -> tuple[Path, ...]:
    """Folders separated by commas (as every list setting), each one that exists, made absolute."""
    folders = tuple(Path(part).resolve() for part in text.split(",") if part)
    missing = [str(folder) for folder in folders if not folder.is_dir()]
    if not folders or missing:
        raise ValueError(f"not a folder: {', '.join(missing) or repr(text)}")
    return folders


# For a bare estimator, which carries no policy of its own: 0.001 base units
# per bps predicted, flat within 0.1 bps, at most 0.01 base units.
DEFAULT_POLICY: Final = Policy(
    position_per_bps=0.001, deadband_bps=0.1, max_position=0.01, min_step=0.001
)


@dataclass(frozen=True, kw_only=True)
class ModelConfig(ServiceSettings):
    ckpt: Path = setting(
        "--ckpt", Path, env="PLR_CKPT", help="checkpoint: .skops, or a .pkl/.joblib pickle"
    )
    ckpt_sha256: str | None = setting(
        "--ckpt-sha256", str, env="PLR_CKPT_SHA256", help="pin (else PATH.sha256)"
    )
    plugin_path: tuple[Path, ...] | None = setting(
        "--plugin-path",
        path_list,
        env="PLR_PLUGIN_PATH",
        help="folders to import a bundle's features and policy from (comma-separated)",
    )
    ticks: str = address_setting("ticks")
    predictions: str = address_setting("predictions")
    targets: str = address_setting("targets")
    ready: str = address_setting("ready")
    progress: str = address_setting("progress")
    metrics_port: int = metrics_port_setting("model")
    metrics_host: str = metrics_host_setting()
    # The same variable as the executor's limit: the runner sets both at once.
    # Per symbol or as a notional, the executor enforces it; the one policy is
    # clipped to the largest base-unit figure (not at all if any is a notional).
    max_position: SymbolLimits | None = setting(
        "--max-position",
        symbol_limits(MAX_POSITION_CEILING, MAX_POSITION_CEILING),
        env="PLR_MAX_POSITION",
        help="clip the policy's targets to this, base units",
    )
    target_ttl_ms: int = setting(
        "--target-ttl-ms", positive_int, env="PLR_TARGET_TTL_MS", default=5_000
    )
    batch_max: int = setting(
        "--batch-max",
        positive_int,
        env="PLR_MODEL_BATCH_MAX",
        default=64,
        help="predict up to this many queued ticks in one call (1: one at a time)",
    )
    name: str = setting(
        "--name", str, env="PLR_MODEL_NAME", default="model", help="name in the handshake"
    )
    symbols: tuple[str, ...] | None = setting(
        "--symbols",
        name_list,
        env="PLR_MODEL_SYMBOLS",
        help="serve only these symbols' ticks, e.g. BTC/USD,ETH/USD (default: every symbol)",
    )
    lossless: bool = setting(
        "--lossless", env="PLR_LOSSLESS", switch=True, help="never drop ticks (replay)"
    )
    wait_for_executor: bool = setting(
        "--wait-for-executor",
        env="PLR_WAIT_FOR_EXECUTOR",
        switch=True,
        help="with --lossless: ready for the replay only once an executor takes targets",
    )

    @classmethod
    def from_args(cls, argv: Sequence[str] | None, environ: Mapping[str, str]) -> ModelConfig:
        config = parse_settings(cls, "python -m services.model", argv, environ)
        if config.ckpt is None:
            raise ConfigError("--ckpt: a checkpoint is required (or set PLR_CKPT)")
        check_transport(config)
        return config
