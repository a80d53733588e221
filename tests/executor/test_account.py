"""The paper spot account: Kraken's funds rule, holds for open orders, fees in quote."""

from __future__ import annotations

from decimal import Decimal

import pytest

from common.messages import Fill, OrderRejected, OrderSubmitted, RejectReason, Side
from services.executor.account import KRAKEN_INSUFFICIENT_FUNDS, SpotAccount, balance_list
from services.executor.engine import ExecutionEngine
from services.executor.paper import PaperOrderExecutor
from services.executor.risk import RiskEngine
from tests.executor.test_paper_and_positions import LOOSE, PAIRS, quote, target


def spot(balances: str, fee_bps: float = 40) -> ExecutionEngine:
    paper = PaperOrderExecutor(PAIRS, latency_ms=0, taker_fee_bps=fee_bps)
    amounts = {k: Decimal(v) for k, _, v in (i.partition("=") for i in balance_list(balances))}
    account = SpotAccount(amounts, Decimal(repr(fee_bps)) / 10_000)
    return ExecutionEngine(RiskEngine(LOOSE), paper, order_prefix="o", account=account)


def balances(ex: ExecutionEngine) -> dict[str, Decimal]:
    assert ex.account is not None
    return ex.account.balances


def test_sell_without_the_base_asset_is_refused_as_kraken_refuses_it() -> None:
    """0 BTC on a spot account: a target of -0.01 is refused, insufficient funds, no fill."""
    ex = spot("USD=10000,BTC=0")
    ex.on_tick(quote(1, 0, 100.0, 100.5), now_ns=0)
    [refused] = ex.on_target(target("short", -0.01, 1, 0), now_ns=0)
    assert isinstance(refused, OrderRejected)
    assert refused.reason is RejectReason.INSUFFICIENT_FUNDS
    assert refused.detail.startswith(KRAKEN_INSUFFICIENT_FUNDS)
    assert ex.book("BTC/USD").position.qty == 0.0


def test_sell_larger_than_the_holding_is_cut_to_it_and_never_goes_below_zero() -> None:
    """Holding 0.01 BTC, target -0.05 (sell 0.05): the order sells the 0.01 there is."""
    ex = spot("USD=10000,BTC=0.01")
    ex.on_tick(quote(1, 0, 100.0, 100.5), now_ns=0)
    events = ex.on_target(target("short", -0.05, 1, 0), now_ns=0)
    [order] = [e for e in events if isinstance(e, OrderSubmitted)]
    assert (order.side, order.qty) == (Side.SELL, 0.01)
    assert balances(ex)["BTC"] == 0
    # Already flat on the account: the next sell target finds nothing to sell.
    [refused] = ex.on_target(target("again", -0.02, 1, 0), now_ns=0)
    assert isinstance(refused, OrderRejected)
    assert refused.reason is RejectReason.INSUFFICIENT_FUNDS


def test_buy_pays_cost_and_fee_in_quote_and_a_round_trip_returns_base_to_zero() -> None:
    """Buy 0.5 at 100.5 (fee 0.201), sell 0.5 at 100: USD and BTC settle to the cent."""
    ex = spot("USD=1000,BTC=0")
    ex.on_tick(quote(1, 0, 100.0, 100.5), now_ns=0)
    ex.on_target(target("in", 0.5, 1, 0), now_ns=0)
    assert balances(ex) == {
        "USD": Decimal("1000") - Decimal("50.25") - Decimal("0.201"),
        "BTC": Decimal("0.5"),
    }
    ex.on_tick(quote(2, 1, 100.0, 100.5), now_ns=0)
    ex.on_target(target("out", 0.0, 2, 1), now_ns=0)
    assert balances(ex)["BTC"] == 0
    assert balances(ex)["USD"] == Decimal("1000") - Decimal("50.25") - Decimal("0.201") + Decimal(
        "50"
    ) - Decimal("0.2")


def test_buy_beyond_the_quote_balance_is_cut_to_what_it_pays_for_with_fee_and_headroom() -> None:
    """100 USD at 100 with 40 bps fee and 1% headroom pays for 0.98615439 BTC, not 5."""
    ex = spot("USD=100")
    ex.on_tick(quote(1, 0, 100.0, 100.5), now_ns=0)
    events = ex.on_target(target("big", 5.0, 1, 100), now_ns=0)
    [order] = [e for e in events if isinstance(e, OrderSubmitted)]
    assert order.qty == 0.98615439  # 100 / (100 * 1.01 * 1.004), down to the lot
    assert balances(ex)["USD"] >= 0


def test_open_orders_hold_their_funds_so_two_buys_cannot_spend_them_twice() -> None:
    """An unfilled buy holds its quote: a second buy gets only what is left."""
    paper = PaperOrderExecutor(PAIRS, latency_ms=1_000, taker_fee_bps=0)
    account = SpotAccount({"USD": Decimal(202)})
    ex = ExecutionEngine(RiskEngine(LOOSE), paper, order_prefix="o", account=account)
    ex.on_tick(quote(1, 0, 100.0, 100.0), now_ns=0)
    [first] = ex.on_target(target("a", 1.0, 1, 0), now_ns=0)  # holds 101 USD, not filled yet
    assert isinstance(first, OrderSubmitted) and first.qty == 1.0
    [second] = ex.on_target(target("b", 3.0, 1, 0), now_ns=0)
    assert isinstance(second, OrderSubmitted) and second.qty == 1.0  # 101 USD left
    [third] = ex.on_target(target("c", 4.0, 1, 0), now_ns=0)
    assert isinstance(third, OrderRejected)
    assert third.reason is RejectReason.INSUFFICIENT_FUNDS


def test_no_account_keeps_the_engine_as_it_was() -> None:
    """Without an account (live: the venue keeps it) a sell from flat is not refused for funds."""
    paper = PaperOrderExecutor(PAIRS, latency_ms=0, taker_fee_bps=0)
    ex = ExecutionEngine(RiskEngine(LOOSE), paper, order_prefix="o")
    ex.on_tick(quote(1, 0, 100.0, 100.5), now_ns=0)
    events = ex.on_target(target("short", -0.01, 1, 0), now_ns=0)
    assert [type(e) for e in events][:2] == [OrderSubmitted, Fill]


@pytest.mark.parametrize(
    "text", ["", "USD", "USD=abc", "USD=-1", "USD=1,USD=2", "US D=1", "USD=inf", "USD=nan"]
)
def test_bad_balances_are_refused_with_a_reason(text: str) -> None:
    """A balance list that is not ASSET=AMOUNT>=0, each asset once, is a ValueError."""
    with pytest.raises(ValueError):
        balance_list(text)


def test_balances_are_normalised() -> None:
    """Assets upper-cased, amounts exact decimals."""
    assert balance_list(" usd=10000.00, btc=0 ,") == ("USD=10000", "BTC=0")


def margin(balances: str) -> ExecutionEngine:
    paper = PaperOrderExecutor(PAIRS, latency_ms=0, taker_fee_bps=0)
    amounts = {k: Decimal(v) for k, _, v in (i.partition("=") for i in balance_list(balances))}
    account = SpotAccount(amounts, margin=True)
    return ExecutionEngine(RiskEngine(LOOSE), paper, order_prefix="o", account=account)


def test_margin_allows_a_short_up_to_collateral_times_leverage_and_charges_the_opening_fee() -> (
    None
):
    """100 USD at 2x lets the position reach -2 BTC at 100; the short pays 0.02 % to open."""
    ex = margin("USD=100")
    ex.on_tick(quote(1, 0, 100.0, 100.0, bid_size=5.0), now_ns=0)
    events = ex.on_target(target("short", -5.0, 1, 0), now_ns=0)
    [order] = [e for e in events if isinstance(e, OrderSubmitted)]
    [fill] = [e for e in events if isinstance(e, Fill)]
    assert (order.side, order.qty) == (Side.SELL, 2.0)
    assert fill.fee == 0.04  # 2 BTC x 100 x 0.0002, no taker fee here
    assert balances(ex)["BTC"] == -2
    # The sale's 200 USD are no collateral: equity is still about 100, fully used.
    [refused] = ex.on_target(target("more", -5.0, 1, 0), now_ns=0)
    assert isinstance(refused, OrderRejected)
    assert refused.reason is RejectReason.INSUFFICIENT_FUNDS


def test_without_margin_the_same_account_cannot_short() -> None:
    """Margin is an explicit opt-in: the default account refuses the same sell."""
    ex = spot("USD=100", fee_bps=0)
    ex.on_tick(quote(1, 0, 100.0, 100.0), now_ns=0)
    [refused] = ex.on_target(target("short", -5.0, 1, 0), now_ns=0)
    assert isinstance(refused, OrderRejected)
    assert refused.reason is RejectReason.INSUFFICIENT_FUNDS
