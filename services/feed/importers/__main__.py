"""Import market data into a tick file: ``python -m services.feed.importers``.

    python -m services.feed.importers binance IN.gz [IN.gz ...] --out FILE.ticks.gz
        [--max-seconds 600]

Exit codes: 0 done, 2 bad usage or unreadable input (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from common.errors import PipelineError
from common.tickfile import TickFileWriter, new_header
from services.feed.importers import binance


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.feed.importers")
    formats = parser.add_subparsers(dest="format", required=True)
    binance_parser = formats.add_parser("binance", help="Binance raw websocket capture (.gz)")
    binance_parser.add_argument("inputs", nargs="+", type=Path, help="capture files, in order")
    binance_parser.add_argument("--out", type=Path, required=True, help="tick file to write")
    binance_parser.add_argument("--max-seconds", type=float, help="keep this much local time")
    args = parser.parse_args(argv)
    try:
        return _import_binance(args.inputs, args.out, args.max_seconds)
    except PipelineError as e:
        print(f"importers: {e}", file=sys.stderr)
        return 2


def _import_binance(inputs: list[Path], out: Path, max_seconds: float | None) -> int:
    skipped: Counter[str] = Counter()
    ticks = binance.read_events(inputs, max_seconds=max_seconds, skipped=skipped)
    first = next(ticks, None)
    if first is None:
        raise PipelineError(f"no quotes or trades in {', '.join(map(str, inputs))}")
    source = "binance raw capture: " + ", ".join(path.name for path in inputs)
    header = new_header(binance.VENUE, [first.symbol], source, time.time_ns())
    partial = out.with_name(out.name + ".partial")
    compress = out.name.endswith(".gz")
    try:
        with TickFileWriter(partial, header, compress=compress, compresslevel=9) as writer:
            writer.write(first)
            for tick in ticks:
                if tick.symbol != first.symbol:
                    raise PipelineError(f"one symbol per file: {first.symbol} then {tick.symbol}")
                writer.write(tick)
            count = writer.count
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out)  # a half-written file never carries the final name
    print(f"wrote {count} ticks to {out} (skipped: {dict(skipped) or 'nothing'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
