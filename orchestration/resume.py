"""What a resumed run starts from: its own `config.json`, checked before anything starts.

`--resume --run-id ID` continues the run in that folder: its settings are
the ones it was started with (read back from `config.json`, never retyped:
a run-shaping flag given again is refused), its socket addresses are the
new session's own, and every service is told `PLR_RESUME=1`. A replay is
executed again from its first tick (the executor re-derives what its
journal holds without trading it again; ARCHITECTURE.md, "Resume"); the
feed sends the ticks the run had already reached unpaced
(`PLR_CATCH_UP_TICKS`, the ticks `ticks.gz` holds whole). A live run resumes
from its journal like any executor restart, with every live opt-in given
again. Every problem is a `ConfigError`: one line, nothing started.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from common.addresses import SOCKET_NAMES, env_name
from common.errors import ConfigError, TickFileError
from common.tickfile import TickFileReader
from common.tickfile_tail import readable_prefix
from services.model.checkpoint import verify_pin
from services.model.errors import CheckpointError

# The runner's settings that shape what a run trades: a resume takes them from config.json.
RUN_SHAPING: Final = (
    "ckpt",
    "ckpt_sha256",
    "plugin_path",
    "use_ws",
    "replay",
    "max_ticks",
    "symbols",
    "speed",
    "replay_batch",
    "ws_url",
    "max_order_notional",
    "max_position",
    "max_loss",
    "balances",
    "margin",
    "shadow",  # config.json keeps it: a shadow run resumes as one
)
# Who can reach the sockets is the new session's choice, like the addresses themselves.
SOCKET_VARIABLES: Final = frozenset(
    {env_name(name) for name in SOCKET_NAMES}
    | {"PLR_CURVE_KEYS", "PLR_INSECURE_TCP", "PLR_ALLOW_REMOTE"}
)


def resumed_env(
    folder: Path, *, retyped: list[str], live: bool
) -> tuple[dict[str, str], int | None]:
    """The services' environment for resuming the run in `folder`, and its ticks expected.

    Args:
        folder: the run's folder (`--artifacts-dir`/`--run-id`).
        retyped: the run-shaping flags given on this command line (refused).
        live: whether this command line asks for live execution.

    Raises:
        ConfigError: no run to resume, flags retyped, a live mismatch, a checkpoint
            whose pin no longer holds, an unreadable replay file.
    """
    if retyped:
        raise ConfigError(
            f"--resume takes the run's settings from its config.json; do not give "
            f"{', '.join(retyped)}"
        )
    saved = _saved_settings(folder)
    if (saved.get("PLR_MODE") == "live") != live:
        raise ConfigError(
            f"--resume: run {folder.name} is a live run: give --no-paper-mode --live-executor "
            "and every live opt-in again"
            if saved.get("PLR_MODE") == "live"
            else f"--resume: run {folder.name} is a paper run: no live flags"
        )
    try:
        verify_pin(Path(_needed(saved, "PLR_CKPT", folder)), saved.get("PLR_CKPT_SHA256"))
    except CheckpointError as e:
        raise ConfigError(f"--resume: the run's checkpoint: {e}") from None
    env = {k: v for k, v in saved.items() if k not in SOCKET_VARIABLES}
    env["PLR_RESUME"] = "1"
    total = None
    if "PLR_REPLAY" in saved:
        replay = Path(saved["PLR_REPLAY"])
        try:
            with TickFileReader(replay) as reader:
                total = int(saved.get("PLR_MAX_TICKS") or 0) or reader.count_records()
        except (TickFileError, ValueError) as e:
            raise ConfigError(f"--resume: the run's replay file: {e}") from None
        env["PLR_CATCH_UP_TICKS"] = str(readable_prefix(folder / "ticks.gz").ticks)
    return env, total


def _saved_settings(folder: Path) -> dict[str, str]:
    path = folder / "config.json"
    if not folder.is_dir():
        raise ConfigError(f"--resume: no run in {folder} to resume")
    try:
        saved = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"--resume: {folder} holds no config.json: not a run") from None
    except (OSError, ValueError) as e:
        raise ConfigError(f"--resume: cannot read {path}: {e}") from None
    if not isinstance(saved, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in saved.items()
    ):
        raise ConfigError(f"--resume: {path} is not a run's config (names to texts)")
    return saved


def _needed(saved: dict[str, str], name: str, folder: Path) -> str:
    if name not in saved:
        raise ConfigError(f"--resume: {folder / 'config.json'} has no {name}")
    return saved[name]
