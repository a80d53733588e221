"""Kraken's two spot rate limits as one model, for live pacing and paper throttling alike.

Numbers from Kraken's documentation pages "Spot REST Rate Limits" and "Spot
Trading Limits" (docs.kraken.com), copied in docs/kraken-rest-live.md §7 and
"Limits, the dead-man switch and fees":

- REST call counter, per API key: every private call adds 1, ledger and
  trade-history calls add 2; AddOrder and CancelOrder go to the matching
  engine's counter instead. Over the maximum Kraken answers
  `EAPI:Rate limit exceeded`. Starter 15, decaying 0.33/s; Intermediate 20,
  0.5/s; Pro 20, 1/s.
- Matching-engine counter, per pair (REST, WebSocket and FIX share it):
  AddOrder +1; a cancel adds a penalty by the order's resting age (+8 under
  5 s, +6 under 10 s, +5 under 15 s, +4 under 45 s, +2 under 90 s, +1 under
  300 s). Over the threshold: `EOrder:Rate limit exceeded`. Starter 60,
  decaying 1/s; Intermediate 125, 2.34/s; Pro 180, 3.75/s.

A counter leaks linearly with time and never goes below zero; a call fits
when the counter plus its cost stays within the maximum. Arithmetic is exact
(integers of 1e-11 call on integer nanoseconds), so a replay throttles the
same orders every time. Time that runs backwards (a late target's older event time) is
treated as no time passing. Nothing here reads a clock: callers pass `now_ns`
(event time in paper, the wall clock in the live worker).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import Final

NS_PER_S: Final = 1_000_000_000
UNITS_PER_CALL: Final = 100 * NS_PER_S  # 1e-11 call: decays of 0.01/s leak whole units per ns


class RateLimitTier(StrEnum):
    STARTER = "starter"
    INTERMEDIATE = "intermediate"
    PRO = "pro"


@dataclass(frozen=True)
class TierLimits:
    rest_max: Fraction
    rest_decay_per_s: Fraction
    order_threshold: Fraction
    order_decay_per_s: Fraction


TIERS: Final = {
    RateLimitTier.STARTER: TierLimits(Fraction(15), Fraction("0.33"), Fraction(60), Fraction(1)),
    RateLimitTier.INTERMEDIATE: TierLimits(
        Fraction(20), Fraction("0.5"), Fraction(125), Fraction("2.34")
    ),
    RateLimitTier.PRO: TierLimits(Fraction(20), Fraction(1), Fraction(180), Fraction("3.75")),
}

# What each private REST method adds to the call counter (AddOrder and
# CancelOrder add nothing here: they count on the matching engine's).
REST_COST: Final = {
    "AddOrder": 0,
    "CancelOrder": 0,
    "Ledgers": 2,
    "QueryLedgers": 2,
    "TradesHistory": 2,
    "QueryTrades": 2,
}
DEFAULT_REST_COST: Final = 1  # every other private call: QueryOrders, OpenOrders, Balance, ...
# A cancel's extra cost on the matching engine's counter, by the order's age (s).
CANCEL_PENALTY_BY_AGE_S: Final = ((5, 8), (10, 6), (15, 5), (45, 4), (90, 2), (300, 1))
ADD_ORDER_COST: Final = 1
# Our market order is followed until done with QueryOrders: at least one call.
QUERIES_PER_ORDER: Final = 1


def rest_cost(method: str) -> int:
    return REST_COST.get(method, DEFAULT_REST_COST)


def cancel_penalty(age_s: float) -> int:
    """The matching engine's extra charge for cancelling an order this old."""
    for under_s, penalty in CANCEL_PENALTY_BY_AGE_S:
        if age_s < under_s:
            return penalty
    return 0


@dataclass
class LeakyCounter:
    """A counter that rises by each call's cost and leaks `decay_per_s` toward zero.

    Held as an integer of 1e-11 calls, in which every documented decay rate
    (at most two decimals per second) leaks a whole number per nanosecond:
    exact, and about 25 times cheaper than `Fraction`.
    """

    maximum: Fraction
    decay_per_s: Fraction
    units: int = 0  # the counter, in UNITS_PER_CALL per call
    at_ns: int | None = None  # when `units` was last brought up to date

    def __post_init__(self) -> None:
        leak_per_ns = self.decay_per_s * UNITS_PER_CALL / NS_PER_S
        if leak_per_ns.denominator != 1 or leak_per_ns <= 0:
            raise ValueError(f"decay {self.decay_per_s}/s needs more than two decimals")
        self._leak_per_ns = int(leak_per_ns)
        self._max_units = int(self.maximum * UNITS_PER_CALL)  # whole calls: exact

    def _units_at(self, now_ns: int) -> int:
        if self.at_ns is not None and now_ns > self.at_ns:
            self.units = max(0, self.units - self._leak_per_ns * (now_ns - self.at_ns))
        if self.at_ns is None or now_ns > self.at_ns:
            self.at_ns = now_ns
        return self.units

    def level(self, now_ns: int) -> Fraction:
        """The counter at `now_ns` (brought up to date), in calls."""
        return Fraction(self._units_at(now_ns), UNITS_PER_CALL)

    def calls(self, now_ns: int) -> float:
        """`float(level(now_ns))` without the `Fraction` (a refusal's text: one per
        refused target): an int's true division is correctly rounded, as the
        Fraction's conversion is, so the two are the same float."""
        return self._units_at(now_ns) / UNITS_PER_CALL

    def wait_ns(self, cost: int, now_ns: int) -> int:
        """How long until a call of `cost` fits (0: now); whole nanoseconds, rounded up."""
        over = self._units_at(now_ns) + cost * UNITS_PER_CALL - self._max_units
        if over <= 0:
            return 0
        return int(-(-over // self._leak_per_ns))  # ceiling

    def charge(self, cost: int, now_ns: int) -> None:
        self.units = self._units_at(now_ns) + cost * UNITS_PER_CALL


@dataclass
class KrakenRateLimits:
    """One account's REST call counter and its per-pair matching-engine counters."""

    tier: RateLimitTier
    limits: TierLimits | None = None  # the tier's own numbers unless given (tests)
    rest: LeakyCounter = field(init=False)
    orders: dict[str, LeakyCounter] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.limits is None:
            self.limits = TIERS[self.tier]
        self.rest = LeakyCounter(self.limits.rest_max, self.limits.rest_decay_per_s)

    def order_counter(self, symbol: str) -> LeakyCounter:
        found = self.orders.get(symbol)
        if found is None:
            limits = self.limits or TIERS[self.tier]
            found = self.orders[symbol] = LeakyCounter(
                limits.order_threshold, limits.order_decay_per_s
            )
        return found

    # -- an order as a whole: its AddOrder and the QueryOrders that follow it ----------

    def order_refusal(self, symbol: str, now_ns: int) -> str | None:
        """Why a market order on `symbol` would not fit now (both counters), or None."""
        engine = self.order_counter(symbol)
        if engine.wait_ns(ADD_ORDER_COST, now_ns):
            return (
                f"Kraken {self.tier} matching-engine counter for {symbol} at "
                f"{engine.calls(now_ns):.2f} of {engine.maximum}"
            )
        if self.rest.wait_ns(QUERIES_PER_ORDER * rest_cost("QueryOrders"), now_ns):
            return (
                f"Kraken {self.tier} REST call counter at "
                f"{self.rest.calls(now_ns):.2f} of {self.rest.maximum}"
            )
        return None

    def charge_order(self, symbol: str, now_ns: int) -> None:
        self.order_counter(symbol).charge(ADD_ORDER_COST, now_ns)
        self.rest.charge(QUERIES_PER_ORDER * rest_cost("QueryOrders"), now_ns)

    # -- single calls, for the live worker's pacing ----------------------------------

    def rest_wait_ns(self, method: str, now_ns: int, reserve: int = 0) -> int:
        """How long until `method` fits with `reserve` calls still left free after it."""
        return self.rest.wait_ns(rest_cost(method) + reserve, now_ns)

    def charge_rest(self, method: str, now_ns: int) -> None:
        self.rest.charge(rest_cost(method), now_ns)

    def charge_cancel(self, symbol: str, age_s: float, now_ns: int) -> None:
        self.order_counter(symbol).charge(cancel_penalty(age_s), now_ns)
