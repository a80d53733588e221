"""Positions and PnL with average-cost accounting. Pure arithmetic.

Realized PnL is booked when a fill reduces the position (against the average
price); a fill through zero closes the old position and opens the rest at the
fill price. Equity since the run started = realized + unrealized - fees.
The quantity is summed exactly (`quantities`): a round trip ends at exactly 0;
fees and realized PnL are summed in decimal at 8 decimals of the quote.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.messages import Fill, Position, Side
from services.executor import quantities


@dataclass
class PositionState:
    symbol: str
    qty: float = 0.0
    avg_price: float = 0.0
    realized_pnl: float = 0.0
    fees: float = 0.0
    mark_price: float | None = None

    @property
    def unrealized_pnl(self) -> float:
        if self.mark_price is None or self.qty == 0:
            return 0.0
        return self.qty * (self.mark_price - self.avg_price)

    @property
    def equity(self) -> float:
        return self.realized_pnl + self.unrealized_pnl - self.fees

    def apply(self, fill: Fill) -> None:
        signed = fill.qty if fill.side is Side.BUY else -fill.qty
        self.fees = quantities.add(self.fees, fill.fee)  # fees are exact decimals: so is the sum
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            total = abs(self.qty) + fill.qty
            self.avg_price = (abs(self.qty) * self.avg_price + fill.qty * fill.price) / total
            self.qty = quantities.add(self.qty, signed)
            return
        closing = min(fill.qty, abs(self.qty))
        direction = 1.0 if self.qty > 0 else -1.0
        # At the fee's precision, summed in decimal: no binary residue in the totals.
        realized = quantities.quote_amount(closing * (fill.price - self.avg_price) * direction)
        self.realized_pnl = quantities.add(self.realized_pnl, realized)
        self.qty = quantities.add(self.qty, signed)
        if self.qty == 0:
            self.qty, self.avg_price = 0.0, 0.0
        elif (self.qty > 0) != (direction > 0):  # went through zero: the rest opens anew
            self.avg_price = fill.price

    def snapshot(self, ts_ns: int) -> Position:
        return Position(
            symbol=self.symbol,
            qty=self.qty,
            avg_price=self.avg_price,
            realized_pnl=self.realized_pnl,
            unrealized_pnl=self.unrealized_pnl,
            fees=self.fees,
            equity=self.equity,
            ts_ns=ts_ns,
        )
