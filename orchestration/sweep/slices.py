"""Slices of a recording: consecutive runs of ticks, each written once as its own tick file.

The runner replays a file from its first tick (it has `--max-ticks`, no
skip), so a slice is a real tick file under `SWEEP/slices/`, cut from the
recording with `common.tickfile` (same header, same records, in order). A
slice file is written under a temporary name and renamed, so one that exists
is whole and is reused by the next sweep over the same recording.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path

from common.errors import ConfigError
from common.tickfile import TickFileReader, TickFileWriter
from orchestration.sweep.combinations import TickSource
from orchestration.sweep.spec import SweepSpec


def slice_bounds(
    total: int, *, slices: int | None, slice_ticks: int | None, max_slices: int | None
) -> list[tuple[int, int]]:
    """(first, count) of each slice of a `total`-tick recording; [] means the whole file.

    `slices` N: N consecutive slices as equal as can be (the first ones one
    tick longer). `slice_ticks` K: slices of K ticks, the last one shorter.
    `max_slices` keeps the first ones only.
    """
    if slices is None and slice_ticks is None:
        return []
    if slices is not None:
        if slices > total:
            raise ConfigError(f"[data] slices {slices}: the recording has only {total} ticks")
        size, extra = divmod(total, slices)
        counts = [size + (1 if i < extra else 0) for i in range(slices)]
    else:
        step = slice_ticks or total
        counts = [min(step, total - first) for first in range(0, total, step)]
    bounds, first = [], 0
    for count in counts[:max_slices]:
        bounds.append((first, count))
        first += count
    return bounds


def tick_sources(spec: SweepSpec, folder: Path) -> list[tuple[TickSource, Path]]:
    """Each recording of the spec, or each of its slices, with the file the run replays.

    Slice files are cut (once) under `folder`, the sweep's `slices/`.
    """
    found: list[tuple[TickSource, Path]] = []
    for recording in spec.ticks:
        with TickFileReader(recording) as reader:
            total = reader.count_records() if spec.slices or spec.slice_ticks else 0
        bounds = slice_bounds(
            total, slices=spec.slices, slice_ticks=spec.slice_ticks, max_slices=spec.max_slices
        )
        if not bounds:
            found.append((TickSource(recording), recording))
            continue
        sources = [TickSource(recording, first, count) for first, count in bounds]
        paths = [folder / _slice_name(source) for source in sources]
        missing = [(s, p) for s, p in zip(sources, paths) if not p.exists()]
        if missing:
            folder.mkdir(parents=True, exist_ok=True)
            _cut(recording, missing)
        found += zip(sources, paths)
    return found


def _slice_name(source: TickSource) -> str:
    # The recording's full path, hashed: two recordings of one name never share a slice.
    tag = hashlib.sha256(str(source.recording).encode()).hexdigest()[:8]
    stem = source.recording.name.removesuffix(".gz").removesuffix(".ticks")
    return f"{stem}-{tag}-{source.first}-{source.count}.ticks.gz"


def _cut(recording: Path, wanted: list[tuple[TickSource, Path]]) -> None:
    """Write every wanted slice in one pass over the recording."""
    by_first = {source.first: (source, path) for source, path in wanted}
    with TickFileReader(recording) as reader:
        ticks = iter(reader)
        index = 0
        for first in sorted(by_first):
            source, path = by_first[first]
            next(itertools.islice(ticks, first - index, first - index), None)  # skip to `first`
            partial = path.with_name(path.name + ".partial")
            with TickFileWriter(partial, reader.header, compress=True) as writer:
                for _ in range(source.count or 0):
                    writer.write(next(ticks))
            os.replace(partial, path)
            index = first + (source.count or 0)
