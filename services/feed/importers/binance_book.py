"""Binance spot depth rebuilt from a capture: the REST snapshot plus the `depth` diff stream.

Binance's documented procedure ("How to manage a local order book
correctly", spot): buffer diffs until the snapshot (`lastUpdateId` L); drop
every diff with final id `u` <= L; the first one applied has first id
`U` <= L + 1; each later one continues the last (`U` = previous `u` + 1).
A gap leaves the book unknown until another snapshot (a capture has one):
quotes then carry no levels rather than a wrong book. A quantity of 0
deletes a level.

The diff stream runs at 100 ms, `bookTicker` in real time, so a quote's
levels are its own bid/ask first, then the rebuilt book's levels strictly
behind them (lower bids, higher asks): the top is never older than the quote,
and the deeper levels are the newest the capture knew.
"""

from __future__ import annotations

import heapq
from typing import Any

from common.messages import Level


class BinanceBook:
    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.last_update_id: int | None = None  # None: no snapshot yet, or lost after a gap
        self._waiting: list[dict[str, Any]] = []  # diffs before the snapshot
        self.gaps = 0

    @property
    def synced(self) -> bool:
        return self.last_update_id is not None

    def on_snapshot(self, snapshot: dict[str, Any]) -> None:
        """The REST `depth` answer: the whole book at `lastUpdateId`; buffered diffs follow."""
        self.bids = _side(snapshot["bids"])
        self.asks = _side(snapshot["asks"])
        self.last_update_id = int(snapshot["lastUpdateId"])
        waiting, self._waiting = self._waiting, []
        for diff in waiting:
            self.on_diff(diff)

    def on_diff(self, diff: dict[str, Any]) -> None:
        """One `depthUpdate` event (its `data`)."""
        if self.last_update_id is None:
            if self.gaps == 0:  # before the first snapshot: keep for it
                self._waiting.append(diff)
            return
        first, final = int(diff["U"]), int(diff["u"])
        if final <= self.last_update_id:
            return  # already in the snapshot
        if first > self.last_update_id + 1:
            self.gaps += 1
            self.bids, self.asks, self.last_update_id = {}, {}, None
            return
        for side, levels in ((self.bids, diff["b"]), (self.asks, diff["a"])):
            for price_text, qty_text in levels:
                price, qty = float(price_text), float(qty_text)
                if qty == 0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        self.last_update_id = final

    def levels(
        self, top: tuple[float, float, float, float], depth: int
    ) -> tuple[list[Level], list[Level]]:
        """A quote's levels: its (bid, bid_size, ask, ask_size) first, then the book behind them."""
        bid, bid_size, ask, ask_size = top
        if not self.synced or bid_size <= 0 or ask_size <= 0:
            return [], []
        behind_bid = heapq.nlargest(depth - 1, (p for p in self.bids if p < bid))
        behind_ask = heapq.nsmallest(depth - 1, (p for p in self.asks if p > ask))
        bids = [(bid, bid_size), *((p, self.bids[p]) for p in behind_bid)]
        asks = [(ask, ask_size), *((p, self.asks[p]) for p in behind_ask)]
        return bids, asks


def _side(levels: list[list[str]]) -> dict[float, float]:
    return {float(price): float(qty) for price, qty in levels if float(qty) > 0}
