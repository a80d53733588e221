"""The feed service's configuration: flags, then environment, then defaults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from common.config import (
    SERVICE_OPTIONS,
    Option,
    address_option,
    name_list,
    non_negative_float,
    non_negative_int,
    parse_options,
    positive_float,
    positive_int,
    require_loopback,
    require_loopback_addresses,
)
from common.errors import ConfigError
from common.messages import BATCH_MAX
from venues.kraken.pairs import DEFAULT_PAIRS_FILE, PairRules, load_pairs

BOOK_DEPTHS: Final = (10, 25, 100, 500, 1000)  # what Kraken's v2 book channel accepts


def book_depth(text: str) -> int:
    depth = int(text)
    if depth not in BOOK_DEPTHS:
        raise ValueError(f"Kraken book depth is one of {BOOK_DEPTHS}, got {text!r}")
    return depth


def ws_url(text: str) -> str:
    if not text.startswith(("ws://", "wss://")):
        raise ValueError(f"expected ws:// or wss://, got {text!r}")
    return text


OPTIONS: Final = [
    Option("--use-ws", env="PLR_USE_WS", switch=True, help="live Kraken WebSocket v2 source"),
    Option("--symbols", name_list, env="PLR_SYMBOLS", default=("BTC/USD",)),
    Option("--book-depth", book_depth, env="PLR_BOOK_DEPTH", default=10),
    Option("--ws-url", ws_url, env="KRAKEN_WS_URL", default="wss://ws.kraken.com/v2"),
    Option(
        "--watchdog-s",
        positive_float,
        env="PLR_WATCHDOG_S",
        default=10.0,
        help="recycle a connection silent this long (heartbeats included)",
    ),
    Option("--stale-after-s", positive_float, env="PLR_STALE_AFTER_S", default=5.0),
    Option("--health-port", non_negative_int, env="PLR_HEALTH_PORT", default=8780),
    Option("--health-host", str, env="PLR_HEALTH_HOST", default="127.0.0.1"),
    Option("--disable-health", env="WS_DISABLE_HEALTH_SERVER", switch=True),
    Option("--pairs-file", Path, env="PLR_PAIRS_FILE", default=DEFAULT_PAIRS_FILE),
    Option("--replay", Path, env="PLR_REPLAY", help="tick file to replay"),
    Option(
        "--speed",
        non_negative_float,
        env="PLR_SPEED",
        default=0.0,
        help="1 = recorded pace, 0 = as fast as possible (lossless)",
    ),
    Option(
        "--replay-batch",
        positive_int,
        env="PLR_REPLAY_BATCH",
        default=1,
        help=f"speed 0: up to N ticks per message (TickBatch, at most {BATCH_MAX}); 1 = unbatched",
    ),
    Option(
        "--expect",
        name_list,
        env="PLR_EXPECT",
        default=(),
        help="subscribers to wait for before the first tick (replay or live), e.g. model,recorder",
    ),
    Option("--handshake-timeout-s", positive_float, env="PLR_HANDSHAKE_TIMEOUT_S", default=30.0),
    Option("--max-ticks", positive_int, env="PLR_MAX_TICKS", help="stop after N ticks"),
    address_option("ticks", flag="--pub"),
    address_option("ready"),
    address_option("logs"),
    address_option("progress"),
    *SERVICE_OPTIONS,
]


def check_replay_batch(batch: int, *, fast_replay: bool) -> None:
    """`--replay-batch`'s rule, for the feed and for the runner (which checks before it starts).

    Batching is for lossless `--speed 0` replays only: in a paced replay or
    live data it would hold ticks back until their batch filled.
    """
    if batch < 1:
        raise ConfigError("--replay-batch must be positive")
    if batch > BATCH_MAX:
        raise ConfigError(f"--replay-batch: at most {BATCH_MAX} ticks per message")
    if batch > 1 and not fast_replay:
        raise ConfigError("--replay-batch is for replays at --speed 0 (it would delay ticks)")


@dataclass(frozen=True)
class FeedConfig:
    use_ws: bool
    symbols: tuple[str, ...]
    book_depth: int
    ws_url: str
    watchdog_s: float
    stale_after_s: float
    health_port: int
    health_host: str
    disable_health: bool
    pairs_file: Path
    replay: Path | None
    speed: float
    replay_batch: int
    expect: tuple[str, ...]
    handshake_timeout_s: float
    max_ticks: int | None
    pub: str
    ready: str
    logs: str
    progress: str
    allow_remote: bool
    stay_after_eos: bool

    @classmethod
    def from_args(cls, argv: Sequence[str] | None, environ: Mapping[str, str]) -> FeedConfig:
        config = cls(**parse_options("python -m services.feed", OPTIONS, argv, environ))
        if config.use_ws == (config.replay is not None):
            raise ConfigError("choose one source: --use-ws (live Kraken) or --replay FILE")
        require_loopback_addresses(config, ("pub", "ready", "logs", "progress"))
        require_loopback(
            f"tcp://{config.health_host}:1", allow_remote=config.allow_remote, what="--health-host"
        )
        check_replay_batch(
            config.replay_batch, fast_replay=config.replay is not None and config.speed == 0
        )
        if config.stale_after_s >= config.watchdog_s:
            raise ConfigError("--stale-after-s must be shorter than --watchdog-s")
        return config

    def pair_rules(self) -> dict[str, PairRules]:
        """The rules of every configured symbol; an unknown symbol is a ConfigError."""
        pairs = load_pairs(self.pairs_file)
        unknown = [symbol for symbol in self.symbols if symbol not in pairs]
        if unknown:
            raise ConfigError(
                f"--symbols: no pair rules for {', '.join(unknown)} in {self.pairs_file} "
                f"(known: {', '.join(sorted(pairs))})"
            )
        return {symbol: pairs[symbol] for symbol in self.symbols}
