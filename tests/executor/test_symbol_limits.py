"""Per-symbol limits: `--max-position 0.05,BTC/USD=0.01,ETH/USD=100USD`, enforced per order."""

from __future__ import annotations

import dataclasses

import pytest

from common.errors import ConfigError
from common.limits import Limit, SymbolLimits, symbol_limits
from common.messages import RejectReason
from services.executor.executor_config import ExecutorConfig
from services.executor.risk import Exposure, OrderIntent, RiskEngine, RiskLimits
from services.model.service_config import ModelConfig

PARSE = symbol_limits(1e8, 0.05)
BASE = RiskLimits(
    max_order_notional=PARSE("1000,ETH/USD=200"),
    max_position=PARSE("0.05,BTC/USD=0.01,SOL/USD=150USD"),
    max_loss=50.0,
    max_orders_per_minute=100,
    price_band_bps=1e6,
    stale_after_ms=2000,
)


def refusal(symbol: str, qty: float, price: float, before: float = 0.0) -> tuple | None:
    order = OrderIntent(symbol, qty, price, Exposure(before), 0)
    return RiskEngine(BASE).check(order, price, 0.0)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("0.01", SymbolLimits(Limit(0.01))),
        ("BTC/USD=0.01,ETH/USD=0.5", SymbolLimits(
            Limit(0.05), (("BTC/USD", Limit(0.01)), ("ETH/USD", Limit(0.5)))
        )),
        ("100usdt", SymbolLimits(Limit(100.0, "USDT"))),
    ],
)  # fmt: skip
def test_the_forms_a_limit_takes(text: str, parsed: SymbolLimits) -> None:
    assert PARSE(text) == parsed
    assert PARSE(str(parsed)) == parsed  # what the runner forwards reads back the same


@pytest.mark.parametrize("text", ["", "x", "0", "-1", "1,2", "BTC=1", "BTC/USD=1,BTC/USD=2"])
def test_a_malformed_limit_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        PARSE(text)


def test_each_symbol_meets_its_own_position_limit() -> None:
    assert refusal("BTC/USD", 0.01, 100.0) is None
    assert refusal("BTC/USD", 0.011, 100.0)[0] is RejectReason.MAX_POSITION
    assert refusal("ETH/USD", 0.05, 100.0) is None  # the default for the rest
    assert refusal("ETH/USD", 0.06, 100.0)[0] is RejectReason.MAX_POSITION


def test_a_notional_position_limit_is_worth_its_amount_at_the_order_s_price() -> None:
    """150USD of SOL/USD at 150: 1 SOL; at 100: 1.5 SOL."""
    assert refusal("SOL/USD", 1.0, 150.0) is None
    rejected = refusal("SOL/USD", 1.01, 150.0)
    assert rejected[0] is RejectReason.MAX_POSITION and "150.0USD" in rejected[1]
    assert refusal("SOL/USD", 1.5, 100.0) is None
    room = RiskEngine(BASE).position_room(Exposure(0.5), buy=True, symbol="SOL/USD", price=150.0)
    assert room == pytest.approx(0.5)


def test_a_notional_in_another_currency_lets_nothing_through() -> None:
    limits = dataclasses.replace(BASE, max_position=PARSE("100USDT"))
    rejected = RiskEngine(limits).check(
        OrderIntent("BTC/USD", 0.001, 100.0, Exposure(), 0), 100.0, 0
    )
    assert rejected is not None and "not in BTC/USD's quote currency" in rejected[1]


def test_each_symbol_meets_its_own_order_notional_limit() -> None:
    assert refusal("ETH/USD", 0.04, 5000.0) is None  # 200
    assert refusal("ETH/USD", 0.0401, 5000.0)[0] is RejectReason.MAX_ORDER_NOTIONAL
    assert refusal("BTC/USD", 0.01, 100_000.0) is None  # 1000, the default


def test_the_limits_in_force_are_recorded_per_symbol() -> None:
    values = RiskEngine(BASE).limit_values()
    assert values["max_position"] == 0.05
    assert values["max_position BTC/USD"] == 0.01
    assert values["max_position_USD SOL/USD"] == 150.0
    assert values["max_order_notional ETH/USD"] == 200.0
    assert values["max_loss"] == 50.0  # one breaker for the portfolio


def test_the_flags_and_the_model_read_the_same_per_symbol_value() -> None:
    environ = {"PLR_MAX_POSITION": "0.02,BTC/USD=0.01,ETH/USD=0.5"}
    executor = ExecutorConfig.from_args([], environ)
    assert executor.max_position.for_symbol("ETH/USD") == Limit(0.5)
    assert executor.max_position.for_symbol("SOL/USD") == Limit(0.02)
    model = ModelConfig.from_args(["--ckpt", "x.skops"], environ)
    assert model.max_position is not None and model.max_position.largest_plain() == 0.5


def test_a_limit_above_its_ceiling_fails_fast() -> None:
    with pytest.raises(ConfigError, match="--max-position: expected a positive amount at most"):
        ExecutorConfig.from_args(["--max-position", "BTC/USD=1e9"], {})
