"""The feed service's settings, each declared once: flags, then environment, then defaults."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from common.config import (
    ServiceSettings,
    address_setting,
    check_transport,
    float_between,
    name_list,
    non_negative_int,
    parse_settings,
    positive_float,
    positive_int,
    require_loopback,
    setting,
)
from common.errors import ConfigError
from common.messages import BATCH_MAX
from venues.kraken.pairs import DEFAULT_PAIRS_FILE, PairRules, load_pairs

BOOK_DEPTHS: Final = (10, 25, 100, 500, 1000)  # what Kraken's v2 book channel accepts


MAX_SPEED: Final = 1_000.0  # times the recorded pace; 0 is "as fast as possible"


def book_depth(text: str) -> int:
    depth = int(text)
    if depth not in BOOK_DEPTHS:
        raise ValueError(f"Kraken book depth is one of {BOOK_DEPTHS}, got {text!r}")
    return depth


def ws_url(text: str) -> str:
    if not text.startswith(("ws://", "wss://")):
        raise ValueError(f"expected ws:// or wss://, got {text!r}")
    return text


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


@dataclass(frozen=True, kw_only=True)
class FeedConfig(ServiceSettings):
    use_ws: bool = setting(
        "--use-ws", env="PLR_USE_WS", switch=True, help="live Kraken WebSocket v2 source"
    )
    symbols: tuple[str, ...] = setting(
        "--symbols", name_list, env="PLR_SYMBOLS", default=("BTC/USD",), help="live symbols"
    )
    book_depth: int = setting("--book-depth", book_depth, env="PLR_BOOK_DEPTH", default=10)
    ws_url: str = setting("--ws-url", ws_url, env="KRAKEN_WS_URL", default="wss://ws.kraken.com/v2")
    watchdog_s: float = setting(
        "--watchdog-s",
        positive_float,
        env="PLR_WATCHDOG_S",
        default=10.0,
        help="recycle a connection silent this long (heartbeats included)",
    )
    stale_after_s: float = setting(
        "--stale-after-s", positive_float, env="PLR_STALE_AFTER_S", default=5.0
    )
    health_port: int = setting(
        "--health-port", non_negative_int, env="PLR_HEALTH_PORT", default=8780
    )
    health_host: str = setting("--health-host", str, env="PLR_HEALTH_HOST", default="127.0.0.1")
    disable_health: bool = setting("--disable-health", env="WS_DISABLE_HEALTH_SERVER", switch=True)
    pairs_file: Path = setting(
        "--pairs-file", Path, env="PLR_PAIRS_FILE", default=DEFAULT_PAIRS_FILE
    )
    replay: Path | None = setting("--replay", Path, env="PLR_REPLAY", help="tick file to replay")
    speed: float = setting(
        "--speed",
        float_between(0.0, MAX_SPEED),
        env="PLR_SPEED",
        default=0.0,
        help=f"1 = recorded pace, 0 = as fast as possible (lossless); at most {MAX_SPEED:g}",
    )
    replay_batch: int = setting(
        "--replay-batch",
        positive_int,
        env="PLR_REPLAY_BATCH",
        default=1,
        help=f"speed 0: up to N ticks per message (TickBatch, at most {BATCH_MAX}); 1 = unbatched",
    )
    catch_up_ticks: int = setting(
        "--catch-up-ticks",
        non_negative_int,
        env="PLR_CATCH_UP_TICKS",
        default=0,
        help="replay: the first N ticks go out unpaced (a resumed run catching up to where "
        "it was; the runner's --resume sets it)",
    )
    expect: tuple[str, ...] = setting(
        "--expect",
        name_list,
        env="PLR_EXPECT",
        default=(),
        help="subscribers to wait for before the first tick (replay or live), e.g. model,recorder",
    )
    handshake_timeout_s: float = setting(
        "--handshake-timeout-s", positive_float, env="PLR_HANDSHAKE_TIMEOUT_S", default=30.0
    )
    max_ticks: int | None = setting(
        "--max-ticks", positive_int, env="PLR_MAX_TICKS", help="stop after N ticks"
    )
    position_file: Path | None = setting(
        "--position-file",
        Path,
        env="PLR_FEED_POSITION_FILE",
        help="write the last tick seq sent here, a few times a second (the runner's progress line)",
    )
    pub: str = address_setting("ticks", flag="--pub")
    ready: str = address_setting("ready")
    progress: str = address_setting("progress")

    @classmethod
    def from_args(cls, argv: Sequence[str] | None, environ: Mapping[str, str]) -> FeedConfig:
        config = parse_settings(cls, "python -m services.feed", argv, environ)
        if config.use_ws == (config.replay is not None):
            raise ConfigError("choose one source: --use-ws (live Kraken) or --replay FILE")
        check_transport(config)
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
            near = difflib.get_close_matches(unknown[0], pairs, n=3)
            raise ConfigError(
                f"--symbols: no pair rules for {', '.join(unknown)} in {self.pairs_file} "
                f"({len(pairs)} pairs known{'; did you mean ' + ', '.join(near) if near else ''})"
            )
        return {symbol: pairs[symbol] for symbol in self.symbols}
