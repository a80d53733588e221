"""The built-in feature source: streaming features of one symbol, O(1) per tick.

One implementation of `contract.FeatureSource`, no different from a trader's own.

The same `FeatureState.update` runs in `services.model.train`, in the offline
replay and in the live service, so the three cannot drift apart. Features
(all floats; returns and spreads in basis points):

    ret_1_bps, ret_10_bps, ret_50_bps   mid return over 1/10/50 quote ticks
    spread_bps                          (ask - bid) / mid
    imbalance                           (bid_size - ask_size) / (bid_size + ask_size)
    volatility_bps                      EWMA of squared 1-tick returns, square-rooted
    trade_flow                          EWMA of signed trade size (buy +, sell -)

No row comes out until 50 quotes have been seen (the longest return horizon).
"""

from __future__ import annotations

import math
from typing import ClassVar, Final

from common.messages import Side, Tick, TickKind

FEATURE_NAMES: Final = (
    "ret_1_bps",
    "ret_10_bps",
    "ret_50_bps",
    "spread_bps",
    "imbalance",
    "volatility_bps",
    "trade_flow",
)
Row = tuple[float, ...]  # one value per FEATURE_NAMES entry, in that order
HISTORY: Final = 64  # ring of recent mids, longer than the longest horizon
LONGEST: Final = 50
VOL_DECAY: Final = 0.97
FLOW_DECAY: Final = 0.95
# An enum member read through its class costs ~70 ns hot (the enum's
# metaclass) and several times that on a cold CPU: read once here.
_QUOTE: Final = TickKind.QUOTE
_BUY: Final = Side.BUY


class FeatureState:
    """Per-symbol running state; `update` returns the feature row or None.

    Plain Python floats in a list ring and a tuple row, not numpy arrays:
    reading or building one numpy element costs several times a list's, and
    `update` does both per tick (in the live service, on a cold CPU after
    waiting for the tick, numpy's call overhead is most of the model's
    latency). The arithmetic is the same IEEE double either way.
    """

    names: ClassVar[tuple[str, ...]] = FEATURE_NAMES  # the feature-source contract

    __slots__ = ("_mids", "quotes", "_mid", "_variance", "_flow", "_spread_bps", "_imbalance")

    def __init__(self) -> None:
        self._mids = [0.0] * HISTORY
        self.quotes = 0  # quotes seen so far
        self._mid = math.nan  # the latest mid
        self._variance = 0.0
        self._flow = 0.0
        self._spread_bps = 0.0
        self._imbalance = 0.0

    @property
    def mid(self) -> float:
        """The latest mid, or nan before the first quote."""
        return self._mid

    def update(self, tick: Tick) -> Row | None:
        # One function, no helper calls: on the live path it runs on a CPU cold
        # from waiting for the tick, where each call costs several times its hot time.
        bid, ask = tick.bid, tick.ask
        if tick.kind is _QUOTE and bid is not None and ask is not None:
            mid = (bid + ask) / 2.0
            quotes = self.quotes
            if quotes:
                step_bps = (mid / self._mid - 1.0) * 1e4
                self._variance = VOL_DECAY * self._variance + (1 - VOL_DECAY) * step_bps * step_bps
            self._mids[quotes % HISTORY] = mid
            self._mid = mid
            self.quotes = quotes + 1
            self._spread_bps = (ask - bid) / mid * 1e4
            bid_size, ask_size = tick.bid_size or 0.0, tick.ask_size or 0.0
            depth = bid_size + ask_size
            self._imbalance = (bid_size - ask_size) / depth if depth > 0 else 0.0
        elif tick.last_size is not None:
            signed = tick.last_size if tick.side is _BUY else -tick.last_size
            self._flow = FLOW_DECAY * self._flow + signed
        quotes = self.quotes
        if quotes <= LONGEST:
            return None
        mids, mid = self._mids, self._mid
        # The mid `k` quotes back (`k` = 1, 10, 50) sits at (quotes - 1 - k) % HISTORY.
        return (
            (mid / mids[(quotes - 2) % HISTORY] - 1.0) * 1e4,
            (mid / mids[(quotes - 11) % HISTORY] - 1.0) * 1e4,
            (mid / mids[(quotes - 51) % HISTORY] - 1.0) * 1e4,
            self._spread_bps,
            self._imbalance,
            math.sqrt(self._variance),
            self._flow,
        )
