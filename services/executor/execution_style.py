"""`ExecutionStyle`: how the engine turns a wanted order into order terms. Pure.

Four kinds (`--execution`):
- `market` (the default): market orders, as the executor always sent;
- `ioc`: an immediate-or-cancel limit at the far touch plus an offset (a
  buy at ask + offset): takes what is there up to that price, the rest is
  cancelled;
- `limit`: a resting (GTC) limit at the near touch less an offset (a buy at
  bid - offset); it may take if the market crossed it before it arrived;
- `post-only`: the same price, but the venue refuses it if it would take.

The offset is in basis points of the touch (`--limit-offset-bps`) or in the
pair's price increments (`--limit-offset-ticks`). Prices go on the pair's
grid, rounded away from the market (a buy down, a sell up): never a worse
price than asked for. A resting order is replaced when the touch moved more
than `--requote-bps` from where the style would price it now, and always
when the target changes (the engine decides that; see docs/EXECUTION.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Final

from common.messages import OrderType, Side, Tick, TimeInForce
from services.executor.order_executor import MARKET, OrderTerms
from services.executor.quantities import exact

DEFAULT_REQUOTE_BPS: Final = 5.0


class ExecutionKind(StrEnum):
    MARKET = "market"
    IOC = "ioc"
    LIMIT = "limit"
    POST_ONLY = "post-only"


@dataclass(frozen=True)
class ExecutionStyle:
    kind: ExecutionKind = ExecutionKind.MARKET
    offset_bps: float = 0.0
    offset_ticks: int = 0
    requote_bps: float = DEFAULT_REQUOTE_BPS

    def __post_init__(self) -> None:
        if self.offset_bps < 0 or self.offset_ticks < 0 or self.requote_bps < 0:
            raise ValueError("execution offsets and the requote distance must be non-negative")
        if self.offset_bps and self.offset_ticks:
            raise ValueError("give the limit offset in bps or in ticks, not both")

    @property
    def resting(self) -> bool:
        """Orders that rest on the book: at most one per symbol, cancelled and replaced."""
        return self.kind in (ExecutionKind.LIMIT, ExecutionKind.POST_ONLY)

    def terms(self, side: Side, quote: Tick | None, price_increment: Decimal) -> OrderTerms | None:
        """The terms of an order of `side` on this quote; None: no touch to price it on."""
        if self.kind is ExecutionKind.MARKET:
            return MARKET
        price = self.price(side, quote, price_increment)
        if price is None:
            return None
        if self.kind is ExecutionKind.IOC:
            return OrderTerms(OrderType.LIMIT, price, TimeInForce.IOC)
        return OrderTerms(
            OrderType.LIMIT, price, TimeInForce.GTC, post_only=self.kind is ExecutionKind.POST_ONLY
        )

    def price(self, side: Side, quote: Tick | None, price_increment: Decimal) -> float | None:
        """Where this style prices an order of `side` now, on the pair's price grid."""
        if quote is None or quote.bid is None or quote.ask is None:
            return None
        aggressive = self.kind is ExecutionKind.IOC
        buy = side is Side.BUY
        touch = exact(quote.ask if buy == aggressive else quote.bid)
        if self.offset_ticks:
            offset = price_increment * self.offset_ticks
        else:
            offset = touch * exact(self.offset_bps) / 10_000
        # Passive: away from the market (a buy lower); IOC: into it (a buy higher).
        toward_market = aggressive
        raw = touch + offset if buy == toward_market else touch - offset
        steps = raw / price_increment
        # On the grid, never a worse price than asked for: a buy rounds down, a sell up.
        rounded = steps.to_integral_value(ROUND_FLOOR if buy else ROUND_CEILING)
        if rounded <= 0:
            return None
        return float(rounded * price_increment)

    def should_requote(
        self, side: Side, limit_price: float, quote: Tick, price_increment: Decimal
    ) -> str | None:
        """Why a resting order at `limit_price` should be replaced on this quote, or None."""
        now = self.price(side, quote, price_increment)
        if now is None:
            return None
        moved_bps = abs(now - limit_price) / limit_price * 1e4
        if moved_bps > self.requote_bps:
            return (
                f"touch moved {moved_bps:.1f} bps from {limit_price:.10g} "
                f"(requote past {self.requote_bps:g})"
            )
        return None
