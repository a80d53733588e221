"""A sweep's combinations: tick source x checkpoint x grid point, each one ordinary run.

Pure. A combination's key is the SHA-256 of what shapes its run (the
recording and its slice, the checkpoint's path, every flag and value), so the
same spec names the same runs every time it is read: that key names the
run (`run_id`), its state file and its folder, and is what makes a rerun
skip finished work. The flags reach `orchestration.paper_live` as they are
written in the spec, so a flag the runner learns later needs no change here.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestration.sweep.spec import Scalar, SweepSpec

Flags = tuple[tuple[str, Scalar], ...]  # (flag without dashes, value), sorted by flag


@dataclass(frozen=True)
class TickSource:
    """A recording, whole or the slice of `count` ticks from its `first` (0-based)."""

    recording: Path
    first: int = 0
    count: int | None = None  # None: to the end

    @property
    def label(self) -> str:
        if self.count is None:
            return self.recording.name
        return f"{self.recording.name}[{self.first}:{self.first + self.count}]"


@dataclass(frozen=True)
class Combination:
    ticks: TickSource
    replay: Path  # what the run replays: the recording itself or its slice file
    checkpoint: Path
    grid_point: Flags  # the grid's values for this run (what the comparison groups by)
    flags: Flags  # the grid point and the spec's fixed flags

    @property
    def key(self) -> str:
        shape = {
            "recording": str(self.ticks.recording),
            "first": self.ticks.first,
            "count": self.ticks.count,
            "checkpoint": str(self.checkpoint),
            "flags": [[flag, _typed(value)] for flag, value in self.flags],
        }
        canonical = json.dumps(shape, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def run_id(self) -> str:
        return f"run-{self.key[:16]}"

    def runner_args(self, artifacts_dir: Path) -> list[str]:
        """`orchestration.paper_live`'s arguments for this run (a lossless replay at full speed)."""
        args = ["--replay", str(self.replay), "--speed", "0", "--ckpt", str(self.checkpoint)]
        args += ["--artifacts-dir", str(artifacts_dir), "--run-id", self.run_id]
        return args + flag_args(self.flags)

    def describe(self) -> dict[str, Any]:
        """The combination as plain JSON (its state file and the comparison table)."""
        return {
            "ticks": self.ticks.label,
            "recording": str(self.ticks.recording),
            "slice_first": self.ticks.first,
            "slice_count": self.ticks.count,
            "replay": str(self.replay),
            "checkpoint": str(self.checkpoint),
            "grid": {flag: value for flag, value in self.grid_point},
            "flags": {flag: value for flag, value in self.flags},
        }


def flag_args(flags: Flags) -> list[str]:
    """`--flag value` per pair; true is a bare switch, false leaves the flag out."""
    args: list[str] = []
    for flag, value in flags:
        if value is True:
            args.append(f"--{flag}")
        elif value is not False:
            args += [f"--{flag}", str(value)]
    return args


def combinations(spec: SweepSpec, sources: Sequence[tuple[TickSource, Path]]) -> list[Combination]:
    """Every source (with the file it replays) x checkpoint x grid point, in a stable order."""
    names = sorted(spec.grid)
    points = [
        tuple(zip(names, values)) for values in itertools.product(*(spec.grid[n] for n in names))
    ]
    found = []
    for (source, replay), checkpoint, point in itertools.product(sources, spec.checkpoints, points):
        flags = tuple(sorted((*spec.fixed.items(), *point)))
        found.append(Combination(source, replay, checkpoint, point, flags))
    return found


def _typed(value: Scalar) -> list[Any]:
    # 1 and 1.0 and "1" are different values in the spec, and may be different runs.
    return [type(value).__name__, value]
