"""The sweep spec: a small TOML file, read and checked once (docs/SWEEPS.md).

Pure apart from reading the file and listing tick folders: every problem is a
`ConfigError` naming the key, before any slice is cut or any run starts.
Relative paths are read from the spec's own folder, so a spec and its data
can move together.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from common.errors import ConfigError

TICK_SUFFIXES: Final = (".ticks", ".ticks.gz")
# Flags the sweep sets on every run itself: a spec naming one would fight it.
# Live flags are refused outright: a sweep is replays, never real orders.
OWNED_FLAGS: Final = frozenset(
    {"replay", "ckpt", "run-id", "artifacts-dir", "resume", "speed", "use-ws", "address-dir"}
)
LIVE_FLAGS: Final = frozenset({"no-paper-mode", "live-executor"})
Scalar = str | int | float | bool


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: every tick source x every checkpoint x every grid point."""

    path: Path  # the spec file itself (its text goes into the comparison's header)
    name: str
    ticks: tuple[Path, ...]  # files, folders already listed
    slices: int | None  # cut each file into this many consecutive slices
    slice_ticks: int | None  # ... or into slices of this many ticks
    max_slices: int | None  # keep only the first N slices of each file
    checkpoints: tuple[Path, ...]
    grid: dict[str, tuple[Scalar, ...]]  # runner flag (no dashes) -> values to try
    fixed: dict[str, Scalar]  # runner flag -> value, on every run
    out: Path | None  # the sweep folder, unless --out says otherwise

    @property
    def text(self) -> str:
        return self.path.read_text()


def load_spec(path: Path) -> SweepSpec:
    """Read and check the spec at `path`.

    Raises:
        ConfigError: unreadable, not TOML, an unknown key, a missing file, a bad value.
    """
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"spec {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"spec {path}: not TOML: {e}") from None
    base = path.resolve().parent
    _only(raw, {"sweep", "data", "models", "grid", "fixed"}, "the spec")
    sweep = _table(raw, "sweep")
    data = _table(raw, "data")
    models = _table(raw, "models")
    _only(sweep, {"name", "out"}, "[sweep]")
    _only(data, {"ticks", "slices", "slice_ticks", "max_slices"}, "[data]")
    _only(models, {"checkpoints"}, "[models]")
    slices = _positive(data, "slices")
    slice_ticks = _positive(data, "slice_ticks")
    if slices is not None and slice_ticks is not None:
        raise ConfigError("[data]: give slices or slice_ticks, not both")
    grid = {
        _flag(key, "[grid]"): _values(key, values) for key, values in _table(raw, "grid").items()
    }
    fixed = {
        _flag(key, "[fixed]"): _scalar(f"[fixed] {key}", v)
        for key, v in _table(raw, "fixed").items()
    }
    both = sorted(set(grid) & set(fixed))
    if both:
        raise ConfigError(f"{', '.join(both)}: in both [grid] and [fixed]")
    out = sweep.get("out")
    return SweepSpec(
        path=path.resolve(),
        name=str(sweep.get("name", path.stem)),
        ticks=_tick_files(base, _paths(data, "ticks", "[data]")),
        slices=slices,
        slice_ticks=slice_ticks,
        max_slices=_positive(data, "max_slices"),
        checkpoints=tuple(
            _existing(base, p, "[models] checkpoints")
            for p in _paths(models, "checkpoints", "[models]")
        ),
        grid=grid,
        fixed=fixed,
        out=(base / str(out)) if out is not None else None,
    )


def _table(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}] must be a table")
    return value


def _only(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {', '.join(unknown)} (known: {', '.join(sorted(allowed))})"
        )


def _positive(table: dict[str, Any], key: str) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"[data] {key}: a positive whole number, got {value!r}")
    return value


def _paths(table: dict[str, Any], key: str, where: str) -> list[str]:
    value = table.get(key)
    if isinstance(value, str):
        value = [value]
    if not value or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} {key}: one path or a list of paths")
    return value


def _existing(base: Path, text: str, where: str) -> Path:
    path = (base / text).resolve()
    if not path.exists():
        raise ConfigError(f"{where}: {path} does not exist")
    return path


def _tick_files(base: Path, texts: list[str]) -> tuple[Path, ...]:
    """Each path as given; a folder stands for its tick files, sorted by name."""
    files: list[Path] = []
    for text in texts:
        path = _existing(base, text, "[data] ticks")
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.name.endswith(TICK_SUFFIXES))
            if not found:
                raise ConfigError(f"[data] ticks: no *.ticks or *.ticks.gz in {path}")
            files += found
        else:
            files.append(path)
    return tuple(dict.fromkeys(files))


def _flag(key: str, where: str) -> str:
    flag = key.removeprefix("--")
    if flag in LIVE_FLAGS:
        raise ConfigError(f"{where} {key}: a sweep replays recordings, it never trades live")
    if flag in OWNED_FLAGS:
        raise ConfigError(f"{where} {key}: the sweep sets --{flag} on every run itself")
    return flag


def _scalar(where: str, value: Any) -> Scalar:
    if isinstance(value, (str, int, float, bool)):
        return value
    raise ConfigError(f"{where}: a string, number or true/false, got {value!r}")


def _values(key: str, values: Any) -> tuple[Scalar, ...]:
    if not isinstance(values, list) or not values:
        raise ConfigError(f"[grid] {key}: a non-empty list of values to try")
    scalars = tuple(_scalar(f"[grid] {key}", v) for v in values)
    if len(set(map(repr, scalars))) != len(scalars):
        raise ConfigError(f"[grid] {key}: a value is listed twice")
    return scalars
