"""Run inside the peer's own virtual environment (NautilusTrader only; not this project).

    python peer_nautilus_run.py QUOTES.csv

Replays the quotes (recv_ts_ns,bid,ask,bid_size,ask_size per line) through
NautilusTrader's in-process `BacktestEngine` with a trivial strategy that
sends a market order every 1,000 quotes, and prints one JSON line:
quotes/s of `engine.run()` (building the quote objects is not timed).
"""

from __future__ import annotations

import json
import sys
import time

from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.model.currencies import BTC, USDT
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Money
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.trading.strategy import Strategy

ORDER_EVERY = 1_000
INSTRUMENT = TestInstrumentProvider.btcusdt_binance()


class EveryNConfig(StrategyConfig, frozen=True):
    every: int = ORDER_EVERY


class EveryN(Strategy):
    """A market order every N quotes, alternating sides: the engine's full order path."""

    def __init__(self, config: EveryNConfig) -> None:
        super().__init__(config)
        self.quotes = 0

    def on_start(self) -> None:
        self.subscribe_quote_ticks(INSTRUMENT.id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self.quotes += 1
        if self.quotes % self.config.every == 0:
            side = OrderSide.BUY if (self.quotes // self.config.every) % 2 else OrderSide.SELL
            order = self.order_factory.market(INSTRUMENT.id, side, INSTRUMENT.make_qty(0.001))
            self.submit_order(order)


def main(path: str) -> int:
    quotes = []
    with open(path) as f:
        for line in f:
            ts, bid, ask, bid_size, ask_size = line.split(",")
            quotes.append(
                QuoteTick(
                    INSTRUMENT.id,
                    INSTRUMENT.make_price(float(bid)),
                    INSTRUMENT.make_price(float(ask)),
                    INSTRUMENT.make_qty(float(bid_size)),
                    INSTRUMENT.make_qty(float(ask_size)),
                    int(ts),
                    int(ts),
                )
            )
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR")))
    engine.add_venue(
        Venue("BINANCE"),
        oms_type=OmsType.NETTING,
        account_type=AccountType.CASH,
        base_currency=None,
        starting_balances=[Money(1_000_000, USDT), Money(10, BTC)],
    )
    engine.add_instrument(INSTRUMENT)
    engine.add_data(quotes)
    strategy = EveryN(EveryNConfig())
    engine.add_strategy(strategy)
    started = time.perf_counter()
    engine.run()
    elapsed_s = time.perf_counter() - started
    result = {
        "quotes": len(quotes),
        "quotes_per_s": len(quotes) / elapsed_s,
        "orders": len(engine.cache.orders()),
        "strategy_saw": strategy.quotes,
    }
    engine.dispose()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
