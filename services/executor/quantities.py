"""Exact quantities: base amounts as whole lots of the pair, sums done in decimal. Pure.

Floats stay the wire type (ARCHITECTURE.md, "Exact quantities"), but every
quantity the executor journals or publishes is the float nearest to an exact
decimal at the pair's precision, so its `repr` is that decimal and nothing
else. Arithmetic on such floats (`0.01771045 + 0.04811139 - 0.06582184`)
leaves binary residue that a later cut to the lot size turns into a whole
lot of dust (9.999999994736442e-09 BTC that no order can ever close), so
quantities are added and subtracted here, in `Decimal`, from their shortest
decimal text.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

import msgspec

from common.messages import Fill

# Fees are quote currency; Kraken keeps USD to 4 decimals and USDT/crypto to 8:
# 8 loses nothing Kraken charges and leaves no binary residue in the files.
FEE_DECIMALS: Final = 8
_FEE_QUANTUM: Final = Decimal(1).scaleb(-FEE_DECIMALS)


def exact(value: float) -> Decimal:
    """The decimal a float stands for: its shortest round-tripping text (`repr`)."""
    return Decimal(repr(value))


def add(*values: float) -> float:
    """The sum of quantities, computed in decimal: `add(0.1, 0.2) == 0.3`."""
    return float(sum((exact(v) for v in values), Decimal(0)))


def subtract(a: float, b: float) -> float:
    """`a - b` computed in decimal."""
    return float(exact(a) - exact(b))


def to_lots(qty: float, increment: Decimal) -> float:
    """`qty` on the pair's lot grid (nearest lot): removes residue a venue's sizes picked up."""
    lots = (exact(qty) / increment).to_integral_value(ROUND_HALF_EVEN)
    return float(lots * increment)


def quote_amount(amount: float) -> float:
    """A quote-currency amount (a fee, a realized PnL) rounded to `FEE_DECIMALS`."""
    return float(exact(amount).quantize(_FEE_QUANTUM, ROUND_HALF_EVEN))


def exact_fill(fill: Fill, increment: Decimal | None) -> Fill:
    """The fill with its qty on the lot grid and its fee at `FEE_DECIMALS`.

    `increment` None (a symbol without pair rules) keeps the qty as it came.
    """
    qty = fill.qty if increment is None else to_lots(fill.qty, increment)
    fee = quote_amount(fill.fee)
    if qty == fill.qty and fee == fill.fee:
        return fill
    return msgspec.structs.replace(fill, qty=qty, fee=fee)
