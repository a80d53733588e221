"""Fidelity of paper fills against the book: oracles (a) depth and (c) latency.

    python -m bench.fidelity [--every N]

For each order size of `SIZES` (BTC), market orders alternately buy and sell,
one decided at every N-th quote tick, each on a fresh `PaperOrderExecutor`
(so no order meets what another took) with the executor's default latency
model (50 ms + exponential jitter of mean 10 ms, seed 0). Two inputs:

- *kraken*: the real Kraken BTC/USD depth-10 book fixture
  (tests/fixtures/kraken/pks_book_btcusd_d10_2023-07-30.json), turned into
  ticks by the feed's own `KrakenSession` (every level the feed publishes);
- *recording*: the bundled Binance BTCUSDT recording (data/, its ticks as
  they are: with levels if it has them, else a one-level book).

Oracles, per size:

- (a) depth: paper's average fill price against an immediate sweep of the book
  at the order's arrival (`book_walk.sweep_price` on the first quote tick at or
  after arrival), in bps, positive when paper is worse for the trader; mean and
  worst over the orders whose arrival book showed enough to sweep. Beside it,
  the same orders filled the old way, on the top of book only (levels
  stripped), against the same reference, and how long those took to fill
  (seconds from arrival to the last fill): what depth on the wire changed.
- (c) latency: fills priced on a tick received before the order's arrival
  (must be 0), and fills whose price is not a level of their tick's book on
  the order's side, or whose size passes what that level showed (must be 0).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import msgspec

from bench.recordings import BUNDLED
from common.messages import Fill, Side, Tick, TickKind
from common.tickfile import iter_ticks
from services.executor.book_walk import levels_taken_by, sweep_price
from services.executor.latency import DEFAULT_FIXED_MS, DEFAULT_JITTER_MS
from services.executor.paper import PaperOrderExecutor
from venues.kraken.pairs import load_pairs
from venues.kraken.ws.session import KrakenSession

PROJECT_ROOT: Final = Path(__file__).resolve().parent.parent
KRAKEN_BOOK: Final = (
    PROJECT_ROOT / "tests" / "fixtures" / "kraken" / "pks_book_btcusd_d10_2023-07-30.json"
)
SIZES: Final = (0.001, 0.01, 0.1, 0.5)
EPSILON: Final = 1e-9


def kraken_fixture_ticks() -> list[Tick]:
    """The fixture's snapshot and 509 updates through the feed's session: its quote ticks.

    Each message is received at its own Kraken timestamp (the snapshot has
    none: 1 ms before the first update).
    """
    data = json.loads(KRAKEN_BOOK.read_text())
    session = KrakenSession(("BTC/USD",), 10, load_pairs())
    ticks: list[Tick] = []
    first_ns = _iso_ns(data["updates"][0]["data"][0]["timestamp"])
    for message in [data["init"], *data["updates"]]:
        stamp = message["data"][0].get("timestamp")
        now_ns = _iso_ns(stamp) if stamp else first_ns - 1_000_000
        ticks += session.on_frame(json.dumps(message), now_ns).ticks
    return ticks


def _iso_ns(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000


@dataclass
class Outcome:
    side: Side
    qty: float
    due_ns: int
    arrival: Tick | None  # the first quote at or after arrival: the book it must meet
    fills: list[Fill]

    def average_price(self) -> float | None:
        filled = sum(f.qty for f in self.fills)
        if filled < self.qty - EPSILON:
            return None
        return sum(f.qty * f.price for f in self.fills) / filled


def run_orders(ticks: list[Tick], qty: float, every: int, symbol: str) -> list[Outcome]:
    """One market order decided at every `every`-th quote, each alone on a fresh paper venue."""
    quotes = [i for i, tick in enumerate(ticks) if tick.kind is TickKind.QUOTE]
    outcomes: list[Outcome] = []
    for n, start in enumerate(quotes[::every]):
        paper = PaperOrderExecutor(
            {},  # no pair rules: submit() takes the raw size, which is what the oracle wants
            latency_ms=DEFAULT_FIXED_MS,
            taker_fee_bps=0,
            latency_jitter_ms=DEFAULT_JITTER_MS,
            latency_seed=n,
        )
        decided = ticks[start]
        paper.on_tick(decided)
        side = Side.BUY if n % 2 == 0 else Side.SELL
        order = paper.submit("o", "t", symbol, side, qty, decided.recv_ts_ns)
        fills = paper.on_tick(decided, only_order_id="o")
        arrival = decided if decided.recv_ts_ns >= order.due_ns else None
        for tick in ticks[start + 1 :]:
            if not paper.open_orders:
                break
            if arrival is None and tick.kind is TickKind.QUOTE and tick.recv_ts_ns >= order.due_ns:
                arrival = tick
            fills += paper.on_tick(tick)
        outcomes.append(Outcome(side, qty, order.due_ns, arrival, fills))
    return outcomes


def error_bps(outcome: Outcome) -> float | None:
    """Paper's average price against sweeping the arrival book at once; + is worse."""
    if outcome.arrival is None:
        return None
    reference = sweep_price(outcome.arrival, outcome.side, outcome.qty)
    paid = outcome.average_price()
    if reference is None or paid is None:
        return None
    sign = 1.0 if outcome.side is Side.BUY else -1.0
    return sign * (paid / reference - 1.0) * 1e4


def violations(outcomes: Iterable[Outcome], ticks: list[Tick]) -> dict[str, int]:
    """Oracle (c), and each fill within the book of the tick it was priced on."""
    by_seq = {tick.seq: tick for tick in ticks}
    early = outside = 0
    for outcome in outcomes:
        for fill in outcome.fills:
            tick = by_seq[fill.tick_seq]
            early += tick.recv_ts_ns < outcome.due_ns
            shown = dict(levels_taken_by(tick, outcome.side))
            outside += fill.price not in shown or fill.qty > shown[fill.price] + EPSILON
    return {"fills_before_arrival": early, "fills_outside_the_book": outside}


def top_only(ticks: list[Tick]) -> list[Tick]:
    """The same ticks without their levels: paper as it was, top of book only."""
    return [msgspec.structs.replace(t, bids=[], asks=[]) for t in ticks]


def measure(ticks: list[Tick], every: int, symbol: str) -> dict[str, Any]:
    figures: dict[str, Any] = {"ticks": len(ticks), "sizes": {}}
    for qty in SIZES:
        outcomes = run_orders(ticks, qty, every, symbol)
        errors = [e for e in map(error_bps, outcomes) if e is not None]
        old = run_orders(top_only(ticks), qty, every, symbol)
        old_errors = [
            e
            for e in (
                error_bps(Outcome(o.side, o.qty, o.due_ns, n.arrival, o.fills))
                for o, n in zip(old, outcomes, strict=True)
            )
            if e is not None
        ]
        waits = [
            (o.fills[-1].ts_ns - o.due_ns) / 1e9
            for o in old
            if o.fills and o.average_price() is not None
        ]
        figures["sizes"][str(qty)] = {
            "orders": len(outcomes),
            "compared": len(errors),
            "mean_error_bps": statistics.fmean(errors) if errors else None,
            "worst_error_bps": max(map(abs, errors)) if errors else None,
            "top_only_mean_error_bps": statistics.fmean(old_errors) if old_errors else None,
            "top_only_mean_seconds_to_fill": statistics.fmean(waits) if waits else None,
            "top_only_filled": len(waits),  # of `orders`: the rest never filled whole
            **violations(outcomes, ticks),
        }
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=5, help="an order every N quotes (kraken)")
    parser.add_argument(
        "--recording-every", type=int, default=500, help="an order every N quotes (recording)"
    )
    args = parser.parse_args(argv)
    results = {
        "kraken": measure(kraken_fixture_ticks(), args.every, "BTC/USD"),
        "recording": measure(list(iter_ticks(BUNDLED)), args.recording_every, "BTC/USDT"),
    }
    for name, figures in results.items():
        print(f"{name}: {figures['ticks']} ticks")
        print(
            "  size     orders compared  mean bps worst bps  top-only bps, s to fill, filled"
            "  early  outside"
        )
        for size, row in figures["sizes"].items():
            print(
                f"  {size:<8} {row['orders']:>6} {row['compared']:>8}"
                f"  {_bps(row['mean_error_bps'])}  {_bps(row['worst_error_bps'])}"
                f"  {_bps(row['top_only_mean_error_bps'])}"
                f" {_bps(row['top_only_mean_seconds_to_fill'])} {row['top_only_filled']:>6}"
                f"  {row['fills_before_arrival']:>6} {row['fills_outside_the_book']:>8}"
            )
    print(json.dumps(results))


def _bps(value: float | None) -> str:
    return "     n/a" if value is None else f"{value:8.3f}"


if __name__ == "__main__":
    main()
