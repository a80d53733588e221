"""Fidelity oracle (b), funds: on a spot account with 0 BTC, no sell takes BTC below zero.

    python -m bench.fidelity_funds [--ckpt PATH] [--max-ticks N] [--out FILE]

Runs the bundled recording through the real decision stack (the bundled
model, trained on first use as the runner does) and the real execution
engine (executor defaults: risk limits, 50 ms latency, 40 bps taker fee),
in process and in event time, twice: *before*, the engine as it was (no
account: paper could short spot), and *after*, on the default spot account
(`USD=10000,USDT=10000`, no BTC). For each it counts the sell fills that
opened or extended a short (the position below zero after the fill), their
share of the traded notional and fees, and the `insufficient_funds`
refusals. The oracle holds when *after* has 0 such sells and its lowest BTC
balance is 0. Figures, never a timed assertion: bench/README.md.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path

from bench.recordings import BUNDLED
from common.messages import Fill, OrderRejected, RejectReason, Side, Tick
from common.tickfile import TickFileReader
from services.executor.account import DEFAULT_BALANCES, SpotAccount, balances_of
from services.executor.engine import ExecutionEngine
from services.executor.executor_config import ExecutorConfig
from services.executor.paper import PaperOrderExecutor
from services.executor.quantities import exact
from services.executor.risk import RiskEngine
from services.model.checkpoint import load_checkpoint
from services.model.decision import DecisionStack
from services.model.service_config import DEFAULT_POLICY
from venues.kraken.pairs import load_pairs

DEFAULT_CKPT = Path(__file__).resolve().parents[1] / "experiments" / "models" / "bundled.skops"


@dataclass
class Figures:
    fills: int = 0
    sell_fills: int = 0
    sells_below_zero: int = 0  # sell fills after which the base position is below 0
    notional: float = 0.0
    notional_below_zero: float = 0.0
    fees: float = 0.0
    fees_below_zero: float = 0.0
    insufficient_funds: int = 0
    lowest_base: float = 0.0


def run(ticks: list[Tick], ckpt: Path, *, spot: bool) -> Figures:
    defaults = ExecutorConfig.from_args([], {})
    paper = PaperOrderExecutor(
        load_pairs(), latency_ms=defaults.latency_ms, taker_fee_bps=defaults.taker_fee
    )
    account = None
    if spot:
        account = SpotAccount(balances_of(DEFAULT_BALANCES), defaults.taker_fee_rate)
    engine = ExecutionEngine(
        RiskEngine(defaults.risk_limits), paper, order_prefix="b", account=account
    )
    stack = DecisionStack(load_checkpoint(ckpt, None, DEFAULT_POLICY), ttl_ms=5_000)
    figures = Figures()
    position: dict[str, Decimal] = {}
    for tick in ticks:
        events = engine.on_tick(tick, now_ns=tick.recv_ts_ns)  # event time throughout
        _, target = stack.on_tick(tick, now_ns=tick.recv_ts_ns)
        if target is not None:
            stack.mark_sent(target)
            events += engine.on_target(target, now_ns=tick.recv_ts_ns)
        for event in events:
            if isinstance(event, OrderRejected):
                figures.insufficient_funds += event.reason is RejectReason.INSUFFICIENT_FUNDS
            if not isinstance(event, Fill):
                continue
            sign = 1 if event.side is Side.BUY else -1
            held = position[event.symbol] = position.get(event.symbol, Decimal(0)) + sign * exact(
                event.qty
            )
            notional = event.qty * event.price
            figures.fills += 1
            figures.notional += notional
            figures.fees += event.fee
            figures.lowest_base = min(figures.lowest_base, float(held))
            if event.side is Side.SELL:
                figures.sell_fills += 1
                if held < 0:
                    figures.sells_below_zero += 1
                    figures.notional_below_zero += notional
                    figures.fees_below_zero += event.fee
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fidelity_funds")
    parser.add_argument("--ckpt", type=Path, default=DEFAULT_CKPT)
    parser.add_argument("--max-ticks", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    args = parser.parse_args()
    if not args.ckpt.is_file():
        from services.model import train  # as the runner does on its first run

        if train.main(["--ticks", str(BUNDLED), "--out", str(args.ckpt)]) != 0:
            return 1
    with TickFileReader(BUNDLED) as reader:
        ticks = list(reader)[: args.max_ticks]
    results = {
        "before (no account)": run(ticks, args.ckpt, spot=False),
        "after (spot, 0 BTC)": run(ticks, args.ckpt, spot=True),
    }
    print(f"oracle (b) funds, {len(ticks):,} ticks of {BUNDLED.name}")
    for name, f in results.items():
        share = f.notional_below_zero / f.notional if f.notional else 0.0
        print(
            f"  {name:20} fills {f.fills:4}  sells {f.sell_fills:4}  "
            f"sells below zero {f.sells_below_zero:4} ({share:.0%} of ${f.notional:,.0f}, "
            f"${f.fees_below_zero:,.2f} of ${f.fees:,.2f} fees)  "
            f"insufficient_funds {f.insufficient_funds:5}  lowest BTC {f.lowest_base:+.8f}"
        )
    after = results["after (spot, 0 BTC)"]
    held = after.sells_below_zero == 0 and after.lowest_base == 0.0
    print(f"  oracle holds: {held}")
    if args.out is not None:
        args.out.write_text(json.dumps({k: asdict(v) for k, v in results.items()}, indent=2))
    return 0 if held else 1


if __name__ == "__main__":
    raise SystemExit(main())
