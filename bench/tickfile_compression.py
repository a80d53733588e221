"""What writing a recorder's `ticks.gz` costs per tick, against stdlib gzip in the same run.

    python -m bench.tickfile_compression [RECORDING] [--repeats 5]

Writes every tick of the recording (the bundled one by default) the way the
recorder does, in batches of 64 through `TickFileWriter.write_encoded_many`
at level 1 (zlib-ng members). Baseline, same run, same records: the framing
and `gzip.GzipFile` at level 1 (stdlib zlib), what the writer did before.
CPU time of this thread (steady on a shared machine), best of the repeats;
the sizes say what the speed costs on disk.
"""

from __future__ import annotations

import argparse
import gzip
import io
import struct
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from common.tickfile import TickFileReader, TickFileWriter

BUNDLED = Path(__file__).parents[1] / "data" / "binance_btcusdt_spot_2024-08-08_10min.ticks.gz"
BATCH = 64
_HEAD = struct.Struct(">II")


def _best_cpu_s(write: Callable[[], int], repeats: int) -> tuple[float, int]:
    best, size = float("inf"), 0
    for _ in range(repeats):
        start = time.thread_time()
        size = write()
        best = min(best, time.thread_time() - start)
    return best, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recording", type=Path, nargs="?", default=BUNDLED)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with TickFileReader(args.recording) as reader:
        header = reader.header
        payloads = [payload for _tick, payload in reader.records()]
    batches = [payloads[i : i + BATCH] for i in range(0, len(payloads), BATCH)]
    folder = Path(tempfile.mkdtemp(prefix="plr-bench-"))

    def writer() -> int:
        path = folder / "ticks.gz"
        with TickFileWriter(path, header, compresslevel=1) as file:
            for batch in batches:
                file.write_encoded_many(batch)
        return path.stat().st_size

    def stdlib_gzip() -> int:
        raw = io.BytesIO()
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as member:
            for batch in batches:
                records = bytearray()
                for payload in batch:
                    records += _HEAD.pack(len(payload), zlib.crc32(payload))
                    records += payload
                member.write(records)
        return len(raw.getvalue())

    ours_s, ours_bytes = _best_cpu_s(writer, args.repeats)
    base_s, base_bytes = _best_cpu_s(stdlib_gzip, args.repeats)
    ticks = len(payloads)
    print(
        f"{ticks:,} ticks: TickFileWriter {ours_s / ticks * 1e9:.0f} ns/tick, "
        f"{ours_bytes / 1e6:.2f} MB; stdlib gzip {base_s / ticks * 1e9:.0f} ns/tick, "
        f"{base_bytes / 1e6:.2f} MB; CPU ratio {ours_s / base_s:.2f}, "
        f"size ratio {ours_bytes / base_bytes:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
