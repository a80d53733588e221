"""Pre-trade risk checks and the drawdown circuit breaker. Pure.

Every order, paper or live, passes `RiskEngine.check` first; a refusal is a
`RejectReason`, never an exception. The breaker trips when equity since the
run's start falls to `-max_loss`; once tripped only risk-reducing orders pass,
until a restart with an explicit reset.

The position limit bounds the worst case, not the expected one: open orders
may fill in any order, in part, or not at all (a venue cuts one short, a
market shows too little size), so the filled position plus every open order
on the side that grows it must stay within `max_position`, long and short.
An open order keeps its room until it is resolved (filled or refused).

`max_position` and `max_order_notional` may differ per symbol and may be
given as a notional in the symbol's quote currency (`100USDT`: a position
worth at most 100 USDT at the order's reference price); the breaker's
`max_loss` is one figure for the whole portfolio.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from common.limits import Limit, SymbolLimits
from common.messages import RejectReason, RiskEvent
from services.executor.quantities import exact

# Limits are inclusive; this absorbs float residue such as 101/100 - 1 != 0.01.
_TOLERANCE = 1e-9
_INCLUSIVE = 1 + _TOLERANCE


@dataclass(frozen=True)
class RiskLimits:
    # Either one figure for every symbol or `SymbolLimits` (per symbol, maybe a notional).
    max_order_notional: float | SymbolLimits  # quote currency, per order
    max_position: float | SymbolLimits  # base units (or a notional), absolute, per symbol
    max_loss: float  # quote currency of drawdown from the run's start
    max_orders_per_minute: int  # of event time
    price_band_bps: float  # the order's reference price vs the last tick's mid
    stale_after_ms: int  # no order on market data older than this (wall clock)


@dataclass(frozen=True)
class Exposure:
    """One symbol's filled position and what its open orders may still add, per side."""

    position: float = 0.0  # filled, signed base units
    open_buy_qty: float = 0.0  # the unfilled rest of every open buy
    open_sell_qty: float = 0.0  # the unfilled rest of every open sell

    @property
    def working(self) -> float:
        """The position once every open order has filled (what sizing aims from)."""
        if not (self.open_buy_qty or self.open_sell_qty):
            # No open order (the usual case): the decimal sum below is the position
            # itself (+ 0.0: a zero comes out +0.0, as from the sum).
            return self.position + 0.0
        # In decimal: binary residue here would cut a whole lot off the next order.
        return float(exact(self.position) + exact(self.open_buy_qty) - exact(self.open_sell_qty))

    @property
    def worst_long(self) -> float:
        """The highest the position can go: every open buy fills, no open sell does."""
        return self.position + self.open_buy_qty

    @property
    def worst_short(self) -> float:
        """The lowest the position can go: every open sell fills, no open buy does."""
        return self.position - self.open_sell_qty


@dataclass(frozen=True)
class OrderIntent:
    symbol: str
    signed_qty: float  # + buy, - sell, base units
    ref_price: float
    exposure: Exposure  # the symbol's position and open orders before this order
    event_ts_ns: int

    @property
    def worst_after(self) -> float:
        """The far end of the position range on this order's side once it is open too."""
        if self.signed_qty > 0:
            return self.exposure.worst_long + self.signed_qty
        return self.exposure.worst_short + self.signed_qty


class RiskEngine:
    def __init__(self, limits: RiskLimits, tripped: bool = False) -> None:
        self.limits = limits
        # Each symbol's limits, looked up once (`limits` is frozen).
        self._position_limits: dict[str, Limit] = {}
        self._notional_limits: dict[str, Limit] = {}
        self.tripped = tripped
        self.activations = 0
        self._recent_orders_ns: deque[int] = deque()

    def limit_values(self) -> dict[str, float]:
        """Every limit as flat figures (per symbol where given), for a journal mark."""
        values: dict[str, float] = {}
        for name in ("max_order_notional", "max_position"):
            limit = getattr(self.limits, name)
            if isinstance(limit, SymbolLimits):
                values |= limit.as_values(name)
            else:
                values[name] = limit
        limits = self.limits
        return values | {
            "max_loss": limits.max_loss,
            "max_orders_per_minute": limits.max_orders_per_minute,
            "price_band_bps": limits.price_band_bps,
            "stale_after_ms": limits.stale_after_ms,
        }

    def position_limit(self, symbol: str, price: float) -> tuple[float, str]:
        """The symbol's position limit in base units at `price`, and how it was given.

        A notional limit (`100USDT`) is worth `amount / price` base units; one
        in another currency than the symbol's quote is 0 (nothing fits).
        """
        limit = _limit_for(self.limits.max_position, symbol)
        if limit.currency is None:
            return limit.amount, f"{limit.amount:g}"
        if limit.currency != _quote(symbol) or price <= 0:
            return 0.0, f"{limit} (not in {symbol}'s quote currency)"
        return limit.amount / price, f"{limit} = {limit.amount / price:.8f} at {price:g}"

    def order_notional_limit(self, symbol: str) -> tuple[float, str]:
        """The symbol's largest order, in its quote currency, and how it was given."""
        limit = _limit_for(self.limits.max_order_notional, symbol)
        if limit.currency not in (None, _quote(symbol)):
            return 0.0, f"{limit} (not in {symbol}'s quote currency)"
        return limit.amount, f"{limit.amount:g}"

    # Every order asks for both limits' amounts; their texts are for a refusal only.
    # The branches are `position_limit`'s and `order_notional_limit`'s.

    def _position_amount(self, symbol: str, price: float) -> float:
        """`position_limit(symbol, price)`'s amount alone."""
        limit = self._position_limits.get(symbol)
        if limit is None:
            limit = self._position_limits[symbol] = _limit_for(self.limits.max_position, symbol)
        if limit.currency is None:
            return limit.amount
        if limit.currency != _quote(symbol) or price <= 0:
            return 0.0
        return limit.amount / price

    def _notional_amount(self, symbol: str) -> float:
        """`order_notional_limit(symbol)`'s amount alone."""
        limit = self._notional_limits.get(symbol)
        if limit is None:
            limit = self._notional_limits[symbol] = _limit_for(
                self.limits.max_order_notional, symbol
            )
        if limit.currency not in (None, _quote(symbol)):
            return 0.0
        return limit.amount

    def position_room(
        self, exposure: Exposure, buy: bool, symbol: str = "", price: float = 0.0
    ) -> float:
        """The largest order on one side (base units) whose worst case stays within the limit."""
        bound = self._position_amount(symbol, price) * _INCLUSIVE  # as inclusive as `check`
        if buy:
            return max(0.0, bound - exposure.worst_long)
        return max(0.0, bound + exposure.worst_short)

    def check(
        self, order: OrderIntent, mid: float | None, market_age_ms: float | None
    ) -> tuple[RejectReason, str] | None:
        """Return why the order must not go out, or None when it may."""
        limits = self.limits
        worst_after = order.worst_after
        # Reducing: even in the worst case the order leaves the position nearer to flat.
        reduces = abs(worst_after) < abs(order.exposure.position)
        if self.tripped and not reduces:
            return RejectReason.CIRCUIT_BREAKER, "breaker tripped: only risk-reducing orders"
        if market_age_ms is None or market_age_ms > limits.stale_after_ms:
            return RejectReason.STALE_MARKET, f"last tick {market_age_ms} ms old"
        notional = abs(order.signed_qty) * order.ref_price
        max_notional = self._notional_amount(order.symbol)
        if notional > max_notional * _INCLUSIVE:
            _, notional_text = self.order_notional_limit(order.symbol)
            return RejectReason.MAX_ORDER_NOTIONAL, f"notional {notional:.2f} > {notional_text}"
        # Only this order's side: a sell never raises the long worst case, so a
        # sell that reduces a long (even one beyond the limit) always passes here.
        bound = self._position_amount(order.symbol, order.ref_price) * _INCLUSIVE
        if worst_after > bound if order.signed_qty > 0 else worst_after < -bound:
            _, position_text = self.position_limit(order.symbol, order.ref_price)
            return (
                RejectReason.MAX_POSITION,
                f"worst-case position {worst_after:+.8f} beyond {position_text}",
            )
        if mid is not None:
            band_bps = abs(order.ref_price / mid - 1.0) * 1e4
            if band_bps > limits.price_band_bps * _INCLUSIVE:
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


def _limit_for(limit: float | SymbolLimits, symbol: str) -> Limit:
    return limit.for_symbol(symbol) if isinstance(limit, SymbolLimits) else Limit(limit)


def _quote(symbol: str) -> str:
    return symbol.rsplit("/", 1)[-1]
