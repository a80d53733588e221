"""Benchmark recordings, made on the fly from `../shared/data/hftbacktest/` (not committed).

The two spot BTCUSDT captures form one unbroken real stream (93,078 ticks over
650 s). A longer recording repeats that stream end to end, each lap shifted
in time by the stream's span (plus one tick interval), so seq and time keep
rising and every tick is a real one: this is how the >= 250,000-tick and the
1,000,000-tick replays are made. The laps are written uncompressed so reading
the file costs the feed as little as possible.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import msgspec

from common.messages import Tick
from common.tickfile import TickFileWriter, iter_ticks, new_header
from services.feed.importers import binance

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BUNDLED = PROJECT_ROOT / "data" / "binance_btcusdt_spot_2024-08-08_10min.ticks.gz"
HFTBACKTEST_SPOT = PROJECT_ROOT.parent / "shared" / "data" / "hftbacktest" / "spot"
CAPTURES = ("btcusdt_20240808.gz", "btcusdt_20240809.gz")


def captures_available() -> bool:
    return all((HFTBACKTEST_SPOT / name).is_file() for name in CAPTURES)


def real_stream() -> list[Tick]:
    """The two spot captures, imported (the same importer a user runs)."""
    paths = [HFTBACKTEST_SPOT / name for name in CAPTURES]
    return list(binance.read_events(paths, max_seconds=None, skipped=Counter()))


def looped(stream: list[Tick], total: int) -> Iterator[Tick]:
    """`total` ticks: `stream` again and again, each lap later by the stream's span."""
    span_ns = stream[-1].recv_ts_ns - stream[0].recv_ts_ns + 1_000_000
    replace = msgspec.structs.replace
    for seq in range(1, total + 1):
        lap, index = divmod(seq - 1, len(stream))
        tick = stream[index]
        shift = lap * span_ns
        yield replace(
            tick, seq=seq, recv_ts_ns=tick.recv_ts_ns + shift, exch_ts_ns=tick.exch_ts_ns + shift
        )


def make_recording(path: Path, total: int) -> Path:
    """Write a `total`-tick recording of the real stream to `path` (once; reused after)."""
    if path.is_file():
        return path
    stream = real_stream() if captures_available() else list(iter_ticks(BUNDLED))
    source = f"benchmark: {len(stream)}-tick real stream looped to {total} ticks"
    header = new_header(stream[0].venue, [stream[0].symbol], source, 0)
    partial = path.with_name(path.name + ".partial")
    with TickFileWriter(partial, header, compress=False) as writer:
        writer.write_all(looped(stream, total))
    partial.replace(path)
    return path
