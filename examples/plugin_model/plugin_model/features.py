"""Three features of one symbol, O(1) per tick (the runner's feature-source contract).

    microprice_gap_bps   size-weighted price minus mid, bps: where the book leans
    mid_trend_bps        mid minus a slow EWMA of mid, bps: the recent drift
    trade_sign_flow      EWMA of trade signs (+1 buy, -1 sell): who is aggressive

The class is the factory: the runner makes one instance per symbol and hands
it every tick of that symbol, in order, in training, offline and live alike.
"""

from __future__ import annotations

import math
from typing import ClassVar

from common.messages import Side, Tick, TickKind

WARM_UP_QUOTES = 20  # the EWMA needs a few quotes before it means anything
TREND_DECAY = 0.95
FLOW_DECAY = 0.9


class BookPressure:
    names: ClassVar[tuple[str, ...]] = ("microprice_gap_bps", "mid_trend_bps", "trade_sign_flow")

    def __init__(self) -> None:
        self.quotes = 0
        self.gap_bps = 0.0
        self.mid = math.nan
        self.slow_mid = math.nan
        self.flow = 0.0

    def update(self, tick: Tick) -> tuple[float, float, float] | None:
        if tick.kind is TickKind.QUOTE and tick.bid is not None and tick.ask is not None:
            self._quote(tick.bid, tick.ask, tick.bid_size or 0.0, tick.ask_size or 0.0)
        elif tick.side is not None:
            self.flow = FLOW_DECAY * self.flow + (1.0 if tick.side is Side.BUY else -1.0)
        if self.quotes < WARM_UP_QUOTES:
            return None
        return (self.gap_bps, (self.mid / self.slow_mid - 1.0) * 1e4, self.flow)

    def _quote(self, bid: float, ask: float, bid_size: float, ask_size: float) -> None:
        mid = (bid + ask) / 2.0
        depth = bid_size + ask_size
        micro = (bid * ask_size + ask * bid_size) / depth if depth > 0 else mid
        self.gap_bps = (micro / mid - 1.0) * 1e4
        if self.quotes == 0:
            self.slow_mid = mid
        else:
            self.slow_mid = TREND_DECAY * self.slow_mid + (1 - TREND_DECAY) * mid
        self.mid = mid
        self.quotes += 1
