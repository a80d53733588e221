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

import math
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Final

import msgspec

from common.messages import Fill

# Fees are quote currency; Kraken keeps USD to 4 decimals and USDT/crypto to 8:
# 8 loses nothing Kraken charges and leaves no binary residue in the files.
FEE_DECIMALS: Final = 8
_FEE_QUANTUM: Final = Decimal(1).scaleb(-FEE_DECIMALS)
# `floor_lots` in floats below this many lots: a float's rounding interval there
# is far narrower than a lot (ulp <= 2**-12 lot), see `floor_lots`.
_FLOAT_LOTS_MAX: Final = float(2**40)
_NEAR: Final = 1e-3  # of a lot: within this of a whole lot, decide by the exact test
_DECIMAL_SCALES: dict[Decimal, float | None] = {}  # increment -> 10**k if it is 10**-k
# `add` and `subtract` count in whole lots of 10**-8 below 2**50 lots (about
# 11 million units): there a float's ulp is under a fifth of a lot (`_grid_lots`).
_GRID: Final = 1e8
_GRID_MAX: Final = 2.0**50 / _GRID
_FLOAT_INT_MAX: Final = 2**53


def exact(value: float) -> Decimal:
    """The decimal a float stands for: its shortest round-tripping text (`repr`)."""
    return Decimal(repr(value))


def add(*values: float) -> float:
    """The sum of quantities, computed in decimal: `add(0.1, 0.2) == 0.3`."""
    lots = [_grid_lots(value) for value in values]
    if None not in lots:  # every one on the grid: counted in whole lots
        total = sum(lots)  # type: ignore[arg-type]  # no None: checked above
        if -_FLOAT_INT_MAX < total < _FLOAT_INT_MAX:  # a float holds it exactly
            return total / _GRID
    return float(sum((exact(v) for v in values), Decimal(0)))


def subtract(a: float, b: float) -> float:
    """`a - b` computed in decimal."""
    lots_a, lots_b = _grid_lots(a), _grid_lots(b)
    if lots_a is not None and lots_b is not None:
        if lots_a == lots_b == 0:
            return a - b  # zeros: a float's sign rule is decimal's (-0.0 - 0.0 is -0.0)
        return (lots_a - lots_b) / _GRID
    return float(exact(a) - exact(b))


def _grid_lots(value: float) -> int | None:
    """`exact(value)` in whole lots of `1 / _GRID` if it is such a multiple, else None.

    Every base quantity the executor sums is whole lots of 10**-8 or of a
    coarser power of ten (every Kraken pair's), and so is their sum: counted
    in whole lots (exact integers) the sum is the decimal one, and dividing
    it by `_GRID` rounds once, correctly, as `float(Decimal)` does. `value`
    is such a multiple when the float nearest lots / `_GRID` is `value`;
    then that decimal is `exact(value)`: below 2**50 lots (`_GRID_MAX`) a
    float's rounding interval is narrower than a lot, so no other decimal of
    8 places lies in it, and any decimal with a digit past the 8th is longer
    than it (`floor_lots` rests on the same fact). A nan, an infinity or a
    larger value is None (the decimal path).
    """
    if not -_GRID_MAX < value < _GRID_MAX:
        return None
    lots = round(value * _GRID)
    return lots if lots / _GRID == value else None


def to_lots(qty: float, increment: Decimal) -> float:
    """`qty` on the pair's lot grid (nearest lot): removes residue a venue's sizes picked up."""
    lots = (exact(qty) / increment).to_integral_value(ROUND_HALF_EVEN)
    return float(lots * increment)


def floor_lots(qty: float, increment: Decimal) -> float:
    """`qty` cut down to whole lots: `float(floor(exact(qty) / increment) * increment)`.

    Every order is sized through this, so a lot of 10**-k (every Kraken pair)
    takes a float path equal to that decimal one, bit for bit: with
    x = qty * 10**k below 2**40 lots, exact(qty) * 10**k is within 2 ulp(x)
    (< 0.0005 lot) of x, so floor(x) is its floor unless x is within `_NEAR`
    of a whole lot m; then exact(qty) is m lots exactly if m / 10**k is qty
    (no other decimal of k places lies in qty's rounding interval, so it is
    the shortest repr), else the decimal path decides. m / 10**k is correctly
    rounded, as float(Decimal) is. Anything else (another increment, a
    negative, -0.0, nan, huge) takes the decimal path.
    """
    scale = _DECIMAL_SCALES.get(increment, 0.0)
    if scale == 0.0:
        scale = _DECIMAL_SCALES[increment] = _power_of_ten(increment)
    if scale is not None and (qty > 0.0 or (qty == 0.0 and math.copysign(1.0, qty) > 0.0)):
        x = qty * scale
        if x < _FLOAT_LOTS_MAX:
            lots = math.floor(x)
            if _NEAR < x - lots < 1.0 - _NEAR:
                return lots / scale
            whole = round(x)
            if whole / scale == qty:
                return qty  # exactly `whole` lots: qty is that decimal's float
    lots_exact = (exact(qty) / increment).to_integral_value(ROUND_DOWN)
    return float(lots_exact * increment)


def _power_of_ten(increment: Decimal) -> float | None:
    """10**k as a float if `increment` is 10**-k (0 <= k <= 15), else None."""
    sign, digits, exponent = increment.as_tuple()
    if sign or digits != (1,) or not isinstance(exponent, int) or not -15 <= exponent <= 0:
        return None
    return float(10**-exponent)


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
