"""Import market data into a tick file: ``python -m services.feed.importers``.

    python -m services.feed.importers binance IN.gz [IN.gz ...] --out FILE.ticks.gz
        [--max-seconds 600] [--depth 10]
    python -m services.feed.importers kraken-rest TRADES.json --out FILE [--symbol BTC/USD]
    python -m services.feed.importers kraken-csv XBTUSD.csv --symbol BTC/USD --out FILE

Exit codes: 0 done, 2 bad usage or unreadable input (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from common.errors import PipelineError
from common.messages import LEVELS_MAX, Tick
from common.tickfile import TickFileWriter, new_header
from services.feed.importers import binance, kraken


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.feed.importers")
    formats = parser.add_subparsers(dest="format", required=True)
    binance_parser = formats.add_parser("binance", help="Binance raw websocket capture (.gz)")
    binance_parser.add_argument("inputs", nargs="+", type=Path, help="capture files, in order")
    binance_parser.add_argument("--out", type=Path, required=True, help="tick file to write")
    binance_parser.add_argument("--max-seconds", type=float, help="keep this much local time")
    binance_parser.add_argument(
        "--depth",
        type=_depth,
        default=10,
        help="book levels a side on each quote, rebuilt from the depth events (0: top only)",
    )
    rest_parser = formats.add_parser("kraken-rest", help="Kraken REST /0/public/Trades JSON")
    rest_parser.add_argument("input", type=Path)
    rest_parser.add_argument("--out", type=Path, required=True)
    rest_parser.add_argument("--symbol", help="default: from the response's pair name")
    csv_parser = formats.add_parser(
        "kraken-csv", help="Kraken trade history CSV (time,price,volume)"
    )
    csv_parser.add_argument("input", type=Path)
    csv_parser.add_argument("--out", type=Path, required=True)
    csv_parser.add_argument("--symbol", required=True, help="e.g. BTC/USD (the CSV has none)")
    args = parser.parse_args(argv)
    try:
        if args.format == "binance":
            return _import_binance(args.inputs, args.out, args.max_seconds, args.depth)
        if args.format == "kraken-rest":
            ticks = kraken.read_rest_trades(args.input, args.symbol)
            source = f"kraken REST trades: {args.input.name}"
        else:
            ticks = kraken.read_csv_trades(args.input, args.symbol)
            source = f"kraken trade CSV: {args.input.name} (sides by tick test)"
        return _write(ticks, args.out, kraken.VENUE, source, Counter())
    except PipelineError as e:
        print(f"importers: {e}", file=sys.stderr)
        return 2


def _depth(text: str) -> int:
    depth = int(text)
    if not 0 <= depth <= LEVELS_MAX:
        raise argparse.ArgumentTypeError(f"depth is 0 to {LEVELS_MAX}, got {depth}")
    return depth


def _import_binance(inputs: list[Path], out: Path, max_seconds: float | None, depth: int) -> int:
    skipped: Counter[str] = Counter()
    ticks = binance.read_events(inputs, max_seconds=max_seconds, skipped=skipped, depth=depth)
    source = "binance raw capture: " + ", ".join(path.name for path in inputs)
    return _write(ticks, out, binance.VENUE, source, skipped)


def _write(ticks: Iterator[Tick], out: Path, venue: str, source: str, skipped: Counter[str]) -> int:
    """Write one symbol's ticks to `out` atomically (a failure leaves no file)."""
    first = next(ticks, None)
    if first is None:
        raise PipelineError(f"no quotes or trades for {out}")
    header = new_header(venue, [first.symbol], source, time.time_ns())
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
