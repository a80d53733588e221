"""Pre-trade risk checks and the drawdown circuit breaker. Pure.

Every order, paper or live, passes `RiskEngine.check` first; a refusal is a
`RejectReason`, never an exception. The breaker trips when equity since the
run's start falls to `-max_loss`; once tripped only risk-reducing orders pass,
until a restart with an explicit reset.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from common.messages import RejectReason, RiskEvent

# Limits are inclusive; this absorbs float residue such as 101/100 - 1 != 0.01.
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RiskLimits:
    max_order_notional: float  # quote currency, per order
    max_position: float  # base units, absolute, per symbol, after the order
    max_loss: float  # quote currency of drawdown from the run's start
    max_orders_per_minute: int  # of event time
    price_band_bps: float  # the order's reference price vs the last tick's mid
    stale_after_ms: int  # no order on market data older than this (wall clock)


@dataclass(frozen=True)
class OrderIntent:
    symbol: str
    signed_qty: float  # + buy, - sell, base units
    ref_price: float
    position_before: float  # the working position the order starts from
    event_ts_ns: int


class RiskEngine:
    def __init__(self, limits: RiskLimits, tripped: bool = False) -> None:
        self.limits = limits
        self.tripped = tripped
        self.activations = 0
        self._recent_orders_ns: deque[int] = deque()

    def check(
        self, order: OrderIntent, mid: float | None, market_age_ms: float | None
    ) -> tuple[RejectReason, str] | None:
        """Return why the order must not go out, or None when it may."""
        limits = self.limits
        after = order.position_before + order.signed_qty
        reduces = abs(after) < abs(order.position_before)
        if self.tripped and not reduces:
            return RejectReason.CIRCUIT_BREAKER, "breaker tripped: only risk-reducing orders"
        if market_age_ms is None or market_age_ms > limits.stale_after_ms:
            return RejectReason.STALE_MARKET, f"last tick {market_age_ms} ms old"
        notional = abs(order.signed_qty) * order.ref_price
        if notional > limits.max_order_notional * (1 + _TOLERANCE):
            return RejectReason.MAX_ORDER_NOTIONAL, (
                f"notional {notional:.2f} > {limits.max_order_notional:g}"
            )
        if abs(after) > limits.max_position * (1 + _TOLERANCE) and not reduces:
            return (
                RejectReason.MAX_POSITION,
                f"position {after:+.8f} beyond {limits.max_position:g}",
            )
        if mid is not None:
            band_bps = abs(order.ref_price / mid - 1.0) * 1e4
            if band_bps > limits.price_band_bps * (1 + _TOLERANCE):
                return RejectReason.PRICE_BAND, (
                    f"reference {order.ref_price} is {band_bps:.1f} bps from mid {mid}"
                )
        window_start = order.event_ts_ns - 60_000_000_000
        while self._recent_orders_ns and self._recent_orders_ns[0] <= window_start:
            self._recent_orders_ns.popleft()
        if len(self._recent_orders_ns) >= limits.max_orders_per_minute:
            return (
                RejectReason.RATE_LIMIT,
                f"{limits.max_orders_per_minute} orders in the last minute",
            )
        self._recent_orders_ns.append(order.event_ts_ns)
        return None

    def on_equity(self, equity: float, ts_ns: int) -> RiskEvent | None:
        """Trip the breaker when the drawdown reaches `max_loss`; report it once."""
        if self.tripped or equity > -self.limits.max_loss:
            return None
        self.tripped = True
        self.activations += 1
        return RiskEvent(
            kind="circuit_breaker_tripped",
            symbol=None,
            values={"equity": equity, "drawdown": -equity, "max_loss": self.limits.max_loss},
            detail="drawdown reached --max-loss; only risk-reducing orders until a reset",
            ts_ns=ts_ns,
        )
