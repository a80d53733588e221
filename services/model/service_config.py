"""The model service's configuration: flags, then environment, then defaults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from common.config import (
    SERVICE_OPTIONS,
    Option,
    address_option,
    parse_options,
    positive_float,
    positive_int,
    require_loopback_addresses,
)
from common.errors import ConfigError
from services.model.policy import Policy

# For a bare estimator, which carries no policy of its own: 0.001 base units
# per bps predicted, flat within 0.1 bps, at most 0.01 base units.
DEFAULT_POLICY: Final = Policy(
    position_per_bps=0.001, deadband_bps=0.1, max_position=0.01, min_step=0.001
)

OPTIONS: Final = [
    Option("--ckpt", Path, env="PLR_CKPT", help="joblib checkpoint"),
    Option("--ckpt-sha256", str, env="PLR_CKPT_SHA256", help="pin (else PATH.sha256)"),
    address_option("ticks"),
    address_option("predictions"),
    address_option("targets"),
    address_option("ready"),
    address_option("logs"),
    address_option("progress"),
    Option("--max-position", positive_float, env="PLR_MAX_POSITION", help="clip, base units"),
    Option("--target-ttl-ms", positive_int, env="PLR_TARGET_TTL_MS", default=5_000),
    Option(
        "--batch-max",
        positive_int,
        env="PLR_MODEL_BATCH_MAX",
        default=64,
        help="predict up to this many queued ticks in one call (1: one at a time)",
    ),
    Option("--name", str, env="PLR_MODEL_NAME", default="model", help="name in the handshake"),
    Option("--lossless", env="PLR_LOSSLESS", switch=True, help="never drop ticks (replay)"),
    *SERVICE_OPTIONS,
]


@dataclass(frozen=True)
class ModelConfig:
    ckpt: Path
    ckpt_sha256: str | None
    ticks: str
    predictions: str
    targets: str
    ready: str
    logs: str
    progress: str
    max_position: float | None
    target_ttl_ms: int
    batch_max: int
    name: str
    lossless: bool
    allow_remote: bool
    stay_after_eos: bool

    @classmethod
    def from_args(cls, argv: Sequence[str] | None, environ: Mapping[str, str]) -> ModelConfig:
        values = parse_options("python -m services.model", OPTIONS, argv, environ)
        if values["ckpt"] is None:
            raise ConfigError("--ckpt: a checkpoint is required (or set PLR_CKPT)")
        config = cls(**values)
        require_loopback_addresses(
            config, ("ticks", "predictions", "targets", "ready", "logs", "progress")
        )
        return config
