"""What the run report draws, read from a run folder: per symbol, every series on a time axis.

Reads `result.json`, `events.jsonl` and `ticks.gz` once each, streaming: a
run of days keeps at most `MAX_POINTS` points per series (`Thinned` halves a
series' resolution whenever it would pass twice that), and every fill, breaker
trip and rejection up to `MAX_MARKS`. Times are integer nanoseconds (UTC);
the page turns them into dates.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from common.tickfile import TickFileReader

MAX_POINTS: Final = 4_000  # per line: enough for the eye, small enough for the page
MAX_MARKS: Final = 20_000  # fills and rejections marked one by one
RUN_WIDE: Final = "*"  # a risk event without a symbol (the breaker) belongs to every panel


class Thinned:
    """A series that keeps every `step`-th point, doubling `step` when it grows too long."""

    def __init__(self, limit: int = MAX_POINTS) -> None:
        self.limit = limit
        self.times: list[int] = []
        self.values: list[float] = []
        self.step, self._seen = 1, 0

    def add(self, ts_ns: int, value: float) -> None:
        if self._seen % self.step == 0:
            self.times.append(ts_ns)
            self.values.append(value)
            if len(self.times) > 2 * self.limit:
                self.times, self.values = self.times[::2], self.values[::2]
                self.step *= 2
        self._seen += 1


@dataclass
class SymbolSeries:
    symbol: str
    price: Thinned = field(default_factory=Thinned)
    position: Thinned = field(default_factory=Thinned)
    equity: Thinned = field(default_factory=Thinned)
    drawdown: Thinned = field(default_factory=Thinned)  # equity minus its running peak, <= 0
    fees: Thinned = field(default_factory=Thinned)
    fills: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    peak_equity: float = 0.0  # equity starts at 0: the run's own PnL


@dataclass
class RunData:
    result: dict[str, Any]
    symbols: dict[str, SymbolSeries]
    risk_events: list[dict[str, Any]]  # breaker trips, venue halts: each with its symbol or "*"
    dropped_marks: int = 0  # fills or rejections past MAX_MARKS, not marked

    def series(self, symbol: str) -> SymbolSeries:
        found = self.symbols.get(symbol)
        if found is None:
            found = self.symbols[symbol] = SymbolSeries(symbol)
        return found


def read_run(folder: Path) -> RunData:
    """The run in `folder`, ready to draw.

    Raises:
        OSError: a file is missing or unreadable (result.json is required).
        ValueError: a line of events.jsonl or result.json is not JSON.
        TickFileError: ticks.gz is damaged.
    """
    data = RunData(json.loads((folder / "result.json").read_text()), {}, [])
    for symbol in data.result.get("positions", {}):
        data.series(symbol)
    events = folder / "events.jsonl"
    if events.exists():
        for event in _events(events):
            _add_event(data, event)
    ticks = folder / "ticks.gz"
    if ticks.exists():
        with TickFileReader(ticks) as reader:
            for tick in reader:
                price = tick.mid if tick.mid is not None else tick.last
                if price is not None:
                    data.series(tick.symbol).price.add(tick.recv_ts_ns, price)
    return data


def _events(path: Path) -> Iterator[dict[str, Any]]:
    with path.open() as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _add_event(data: RunData, event: dict[str, Any]) -> None:
    kind = event.get("type")
    if kind == "Position":
        series = data.series(event["symbol"])
        ts_ns, equity = event["ts_ns"], event["equity"]
        series.peak_equity = max(series.peak_equity, equity)
        series.position.add(ts_ns, event["qty"])
        series.equity.add(ts_ns, equity)
        series.drawdown.add(ts_ns, equity - series.peak_equity)
        series.fees.add(ts_ns, event["fees"])
    elif kind in ("Fill", "OrderRejected"):
        series = data.series(event["symbol"])
        marks = series.fills if kind == "Fill" else series.rejections
        if len(marks) < MAX_MARKS:
            marks.append(event)
        else:
            data.dropped_marks += 1
    elif kind == "RiskEvent" and not str(event.get("kind", "")).startswith("executor_session"):
        data.risk_events.append({**event, "symbol": event.get("symbol") or RUN_WIDE})
