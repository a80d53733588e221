"""The feed service's configuration: flags, then environment, then defaults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from common.config import (
    Option,
    name_list,
    non_negative_float,
    parse_options,
    positive_float,
    positive_int,
    require_loopback,
    zmq_address,
)
from common.errors import ConfigError

OPTIONS: Final = [
    Option("--replay", Path, env="PLR_REPLAY", help="tick file to replay"),
    Option("--speed", non_negative_float, env="PLR_SPEED", default=0.0,
           help="1 = recorded pace, 0 = as fast as possible (lossless)"),
    Option("--expect", name_list, env="PLR_EXPECT", default=(),
           help="subscribers to wait for before the first tick, e.g. model,recorder"),
    Option("--handshake-timeout-s", positive_float, env="PLR_HANDSHAKE_TIMEOUT_S", default=30.0),
    Option("--max-ticks", positive_int, env="PLR_MAX_TICKS", help="stop after N ticks"),
    Option("--pub", zmq_address, env="PLR_PUB_ADDR", default="tcp://127.0.0.1:5555"),
    Option("--ready", zmq_address, env="PLR_READY_ADDR", default="tcp://127.0.0.1:5559"),
    Option("--logs", zmq_address, env="PLR_LOGS_ADDR", default="tcp://127.0.0.1:5560"),
    Option("--allow-remote", env="PLR_ALLOW_REMOTE", switch=True),
]


@dataclass(frozen=True)
class FeedConfig:
    replay: Path | None
    speed: float
    expect: tuple[str, ...]
    handshake_timeout_s: float
    max_ticks: int | None
    pub: str
    ready: str
    logs: str
    allow_remote: bool

    @classmethod
    def from_args(cls, argv: Sequence[str] | None, environ: Mapping[str, str]) -> FeedConfig:
        config = cls(**parse_options("python -m services.feed", OPTIONS, argv, environ))
        if config.replay is None:
            raise ConfigError("--replay FILE is required (the live Kraken source is not built yet)")
        for what in ("pub", "ready", "logs"):
            require_loopback(getattr(config, what), allow_remote=config.allow_remote, what=what)
        return config
