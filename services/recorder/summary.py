"""Summarise a tick file: ``python -m services.recorder.summary FILE``.

Prints the header, tick counts by kind, the time span, the price range, the
median spread and the trade flow, then checks the sequence is gap-free. The
whole file is streamed once, so any size works. Exit 0, or 1 with one line
when the file is damaged (after saying how many ticks were good).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.errors import TickFileError
from common.logs import utc_now_text
from common.messages import Side, Tick, TickKind
from common.tickfile import TickFileReader


@dataclass
class TickStats:
    """What one pass over a tick file learns."""

    quotes: int = 0
    trades: int = 0
    gaps: int = 0
    first: Tick | None = None
    last: Tick | None = None
    low: float = float("inf")
    high: float = float("-inf")
    bought: float = 0.0
    sold: float = 0.0
    spreads_bps: list[float] = field(default_factory=list)

    def add(self, tick: Tick) -> None:
        if self.last is not None and tick.seq != self.last.seq + 1:
            self.gaps += 1
        self.first = self.first or tick
        self.last = tick
        if tick.kind is TickKind.QUOTE and tick.bid is not None and tick.ask is not None:
            self.quotes += 1
            mid = (tick.bid + tick.ask) / 2
            self.low, self.high = min(self.low, tick.bid), max(self.high, tick.ask)
            if self.quotes % 10 == 1:  # a sample is enough for a median
                self.spreads_bps.append((tick.ask - tick.bid) / mid * 1e4)
        elif tick.last_size is not None:
            self.trades += 1
            if tick.side is Side.BUY:
                self.bought += tick.last_size
            else:
                self.sold += tick.last_size


def summarise(path: Path) -> tuple[str, TickStats]:
    stats = TickStats()
    with TickFileReader(path) as reader:
        header = reader.header
        for tick in reader:
            stats.add(tick)
    title = f"{path.name}: {header.venue} {', '.join(header.symbols)} ({header.source})"
    return title, stats


def render(title: str, stats: TickStats) -> str:
    if stats.first is None or stats.last is None:
        return f"{title}\n  no ticks"
    span_s = (stats.last.recv_ts_ns - stats.first.recv_ts_ns) / 1e9
    median_spread = float(np.median(stats.spreads_bps)) if stats.spreads_bps else float("nan")
    return "\n".join(
        [
            title,
            f"  ticks      {stats.quotes + stats.trades:,} ({stats.quotes:,} quotes, "
            f"{stats.trades:,} trades), sequence gaps: {stats.gaps}",
            f"  span       {utc_now_text(stats.first.recv_ts_ns)} -> "
            f"{utc_now_text(stats.last.recv_ts_ns)} ({span_s:,.1f} s)",
            f"  prices     {stats.low:,.2f} .. {stats.high:,.2f}, median spread "
            f"{median_spread:.3f} bps",
            f"  trade flow bought {stats.bought:,.4f}, sold {stats.sold:,.4f} (base units)",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m services.recorder.summary TICK_FILE", file=sys.stderr)
        return 2
    try:
        title, stats = summarise(Path(args[0]))
    except TickFileError as e:
        print(f"summary: {e}", file=sys.stderr)
        return 1
    print(render(title, stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
