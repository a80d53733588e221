"""Codec and tick-file costs, as ratios to baselines measured in the same run.

    python -m bench.codec_tickfile [--ticks 200000] [--json OUT.json]

Figures:
- codec: `wire.encode` + `wire.decode` of one quote Tick, with every check
  (ns/tick). Baseline, same run: the msgpack package's packb+unpackb of the
  same array with no validation and no message object (the floor of "just
  msgpack").
- tick file: reading a file of N ticks through `TickFileReader` (full decode,
  CRC and validation per record), plain and gzip; ticks/s. Baseline: reading
  the same bytes with `f.read()` alone (the I/O floor).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgpack

from common import wire
from common.messages import Tick, TickKind
from common.tickfile import TickFileReader, TickFileWriter, new_header


def _sample_tick(seq: int = 1) -> Tick:
    return Tick(
        venue="kraken",
        symbol="BTC/USD",
        seq=seq,
        kind=TickKind.QUOTE,
        exch_ts_ns=1_723_161_254_087_891_268 + seq,
        recv_ts_ns=1_723_161_254_087_900_000 + seq,
        bid=61837.5,
        bid_size=0.25,
        ask=61837.75,
        ask_size=1.5,
    )


def _best_ns_per_call(fn: Callable[[], object], calls: int, repeats: int = 5) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter_ns() - start) / calls)
    return best


def measure_codec(calls: int) -> dict[str, float]:
    tick = _sample_tick()
    payload = wire.encode(tick)
    items = msgpack.unpackb(payload)
    codec_ns = _best_ns_per_call(lambda: wire.decode(wire.encode(tick)), calls)
    raw_ns = _best_ns_per_call(lambda: msgpack.unpackb(msgpack.packb(items)), calls)
    return {
        "codec_ns_per_tick": codec_ns,
        "baseline_msgpack_raw_ns": raw_ns,
        "ratio_codec_to_raw_msgpack": codec_ns / raw_ns,
    }


def measure_tickfile(ticks: int, folder: Path) -> dict[str, float]:
    results: dict[str, float] = {}
    header = new_header("kraken", ["BTC/USD"], "bench", time.time_ns())
    for label, name in (("plain", "bench.ticks"), ("gzip", "bench.ticks.gz")):
        path = folder / name
        with TickFileWriter(path, header) as writer:
            for seq in range(1, ticks + 1):
                writer.write(_sample_tick(seq))
        start = time.perf_counter()
        with TickFileReader(path) as reader:
            count = sum(1 for _ in reader)
        elapsed = time.perf_counter() - start
        if count != ticks:
            raise RuntimeError(f"read {count} of {ticks} ticks")
        start = time.perf_counter()
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass
        io_floor = time.perf_counter() - start
        results[f"tickfile_{label}_read_ticks_per_s"] = ticks / elapsed
        results[f"tickfile_{label}_bytes_per_tick"] = path.stat().st_size / ticks
        results[f"tickfile_{label}_read_vs_raw_io"] = elapsed / max(io_floor, 1e-9)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.codec_tickfile")
    parser.add_argument("--ticks", type=int, default=200_000)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = {**measure_codec(args.calls), **measure_tickfile(args.ticks, Path(folder))}
    for key, value in results.items():
        print(f"{key:40s} {value:14,.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
