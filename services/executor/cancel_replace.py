"""`CancelReplace`: a resting style's one working order per symbol, and when to replace it.

Pure.

Used by the engine with `--execution limit|post-only` (docs/EXECUTION.md). It
decides, the engine carries out:
- a new target while an order works: cancel it (`retarget`) and keep the
  target pending; a target already pending is superseded by the newer one;
- a quote on which the style's price moved past `--requote-bps`: cancel
  (`requote`), the same target pending;
- once the order is gone (its cancel confirmed, filled whole, or refused as
  post-only), the pending target is worked again, the new order naming the
  one it replaces.
A cancel is sent only when the venue's rate limits take its penalty and the
replacement's AddOrder now; a re-quote that does not fit waits for a later
quote, a retarget is tried again on every tick.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from common.messages import CancelReason, Side, Target, Tick, TickKind
from services.executor.execution_style import ExecutionStyle
from venues.kraken.pairs import PairRules
from venues.kraken.rate_limits import ADD_ORDER_COST, LeakyCounter, cancel_penalty


class CancelCounters(Protocol):
    """The venue's per-pair order counter (Kraken: `KrakenRateLimits`)."""

    def order_counter(self, symbol: str) -> LeakyCounter: ...

    def charge_cancel(self, symbol: str, age_s: float, now_ns: int) -> None: ...


class CancelSender(Protocol):
    def cancel(self, order_id: str, event_ts_ns: int, reason: CancelReason) -> None: ...


@dataclass
class WorkingOrder:
    """A symbol's one resting order and what was asked of it."""

    order_id: str
    target: Target
    side: Side
    limit_price: float
    submitted_ns: int  # event time it was decided at: a cancel's Kraken penalty goes by age
    cancel_sent: bool = False
    cancel_deferred: bool = False  # a wanted cancel waited for the venue's rate limits
    cancel_wanted: CancelReason | None = None  # why, once a cancel was first wanted


@dataclass
class CancelReplace:
    style: ExecutionStyle
    venue: CancelSender
    pairs: dict[str, PairRules]  # the price grid a re-quote is priced on
    rate_limits: CancelCounters | None = None
    working: dict[str, WorkingOrder] = field(default_factory=dict)  # by symbol
    pending: dict[str, Target] = field(default_factory=dict)  # to work once the order is gone
    cancels_sent: int = 0
    cancels_deferred: int = 0  # working orders whose cancel had to wait for the rate limits
    _replaced: dict[str, str] = field(default_factory=dict)  # by symbol: the cancelled order's id

    def placed(self, order: WorkingOrder) -> None:
        self.working[order.target.symbol] = order

    def busy(self, symbol: str) -> bool:
        """A working order of `symbol`, or a target waiting for one: every tick may act."""
        return symbol in self.working or symbol in self.pending

    def on_target(self, target: Target, now_ns: int) -> tuple[bool, Target | None]:
        """A new target: (True if it waits for a cancel, the pending target it supersedes)."""
        symbol = target.symbol
        working = self.working.get(symbol)
        if working is None:
            return False, None
        old = self.pending.get(symbol)
        # The working order's own target, pending for a re-quote, was ordered: not superseded.
        superseded = old if old is not None and old is not working.target else None
        self.pending[symbol] = target
        self._cancel(working, CancelReason.RETARGET, now_ns)
        return True, superseded

    def on_breaker(self, adds: Callable[[str, Side], bool], now_ns: int) -> None:
        """The circuit breaker tripped: cancel (`risk`) every working order that `adds`
        to its symbol's position. Its target stays pending, so a replacement goes
        through the risk checks, which now refuse what adds to a position."""
        for working in list(self.working.values()):
            if adds(working.target.symbol, working.side):
                self.pending.setdefault(working.target.symbol, working.target)
                self._cancel(working, CancelReason.RISK, now_ns)

    def on_refused(self, symbol: str, order_id: str) -> None:
        """The venue refused the working order (post-only would have taken): quote it again."""
        working = self.working.get(symbol)
        if working is not None and working.order_id == order_id:
            self.pending.setdefault(symbol, working.target)

    def after_tick(
        self, tick: Tick, still_open: bool, now_ns: int
    ) -> tuple[Target, str | None] | None:
        """After the venue's news on a tick: a target to work now, and the order it replaces.

        `still_open`: whether the working order (if any) can still fill.
        """
        symbol = tick.symbol
        working = self.working.get(symbol)
        if working is not None and not still_open:
            del self.working[symbol]  # filled whole, cancelled, or refused
            working = None
        if working is None:
            target = self.pending.pop(symbol, None)
            return None if target is None else (target, self._replaced.pop(symbol, None))
        if working.cancel_sent:
            return None
        if symbol in self.pending:  # a cancel the rate limits held back: try it again
            self._cancel(working, working.cancel_wanted or CancelReason.RETARGET, now_ns)
            return None
        if tick.kind is not TickKind.QUOTE:
            return None
        why = self.requote_reason(working, tick)
        if why is not None and self._cancel(working, CancelReason.REQUOTE, now_ns):
            self.pending[symbol] = working.target
        return None

    def requote_reason(self, working: WorkingOrder, tick: Tick) -> str | None:
        rules = self.pairs.get(tick.symbol)
        if rules is None:
            return None
        return self.style.should_requote(
            working.side, working.limit_price, tick, rules.price_increment
        )

    def stop(self) -> list[WorkingOrder]:
        """The run ends: every working order, forgotten here."""
        stopped = list(self.working.values())
        self.working.clear()
        self.pending.clear()
        return stopped

    def _cancel(self, working: WorkingOrder, reason: CancelReason, now_ns: int) -> bool:
        if working.cancel_sent:
            return True
        if working.cancel_wanted is None:
            working.cancel_wanted = reason
        symbol = working.target.symbol
        age_s = max(now_ns - working.submitted_ns, 0) / 1e9
        if self.rate_limits is not None:
            # The cancel's penalty and the replacement's AddOrder must both fit now.
            cost = cancel_penalty(age_s) + ADD_ORDER_COST
            if self.rate_limits.order_counter(symbol).wait_ns(cost, now_ns):
                if not working.cancel_deferred:  # counted once per order, not per tick
                    working.cancel_deferred = True
                    self.cancels_deferred += 1
                return False
            self.rate_limits.charge_cancel(symbol, age_s, now_ns)
        working.cancel_sent = True
        self._replaced[symbol] = working.order_id
        self.venue.cancel(working.order_id, now_ns, reason)
        self.cancels_sent += 1
        return True
