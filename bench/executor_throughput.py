"""Targets/s through risk checks and paper fills, in one run.

    python -m bench.executor_throughput [--targets 50000]

Drives `ExecutionEngine` (risk engine + `PaperOrderExecutor` + positions) with
the bundled recording's quotes and a target after every quote, alternating
long and short so each one becomes an order that fills. Baseline, same run:
`wire.decode` of the same targets (the floor any executor pays per target).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import wire
from common.messages import Target, TickKind
from common.tickfile import TickFileReader
from services.executor.engine import ExecutionEngine
from services.executor.paper import PaperOrderExecutor
from services.executor.risk import RiskEngine, RiskLimits
from venues.kraken.pairs import load_pairs

BUNDLED = (
    Path(__file__).resolve().parents[1] / "data" / "binance_btcusdt_spot_2024-08-08_10min.ticks.gz"
)

LIMITS = RiskLimits(
    max_order_notional=1e9,
    max_position=1e6,
    max_loss=1e12,
    max_orders_per_minute=10**9,
    price_band_bps=1e6,
    stale_after_ms=10**12,
)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.executor_throughput")
    parser.add_argument("--targets", type=int, default=50_000)
    args = parser.parse_args()
    with TickFileReader(BUNDLED) as reader:
        quotes = [t for t in reader if t.kind is TickKind.QUOTE][: args.targets]
    targets = [
        Target(
            id=f"t{i}",
            symbol=q.symbol,
            target_position=0.01 if i % 2 else -0.01,
            ref_price=q.mid or 1.0,
            tick_seq=q.seq,
            tick_ts_ns=q.recv_ts_ns,
            created_ns=0,
            ttl_ms=60_000,
        )
        for i, q in enumerate(quotes)
    ]
    engine = ExecutionEngine(
        RiskEngine(LIMITS), PaperOrderExecutor(load_pairs(), latency_ms=0, taker_fee_bps=40)
    )
    start = time.perf_counter()
    for quote, target in zip(quotes, targets):
        engine.on_tick(quote, 0)
        engine.on_target(target, 0)
    engine_s = time.perf_counter() - start
    payloads = [wire.encode(t) for t in targets]
    start = time.perf_counter()
    for payload in payloads:
        wire.decode(payload)
    decode_s = time.perf_counter() - start
    n = len(targets)
    print(
        f"risk + paper + positions {n / engine_s:12,.0f} targets/s (ticks included; "
        f"{engine.orders} orders)"
    )
    print(f"decode baseline          {n / decode_s:12,.0f} targets/s")
    print(f"ratio                    {decode_s / engine_s:12.3f} x baseline throughput")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
