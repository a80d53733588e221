"""Positions in whole lots: Kraken's finest lot is 1e-8 of the base asset; finer is noise.

`round_lot` is `round(value, LOT)` bit for bit without its decimal
formatting: the policies round every target with it, on the live path
(where `round`'s formatting runs on a CPU cold from waiting for the tick)
and in the fused batch loop alike.
"""

from __future__ import annotations

from typing import Final

LOT: Final = 8  # decimal places of Kraken's finest lot, 1e-8
_LOT_SCALE: Final = 10.0**LOT  # exactly 1e8
# Added and taken away again, it rounds a double below 2**51 to an integer, ties to even:
# 1.5 * 2**52 puts the sum where doubles are the integers.
_TO_INTEGER: Final = 1.5 * 2.0**52
_ROUND_RANGE: Final = 2.0**50  # lots; beyond it `round_lot` always asks `round`


def round_lot_margin(limit: float) -> float:
    """`round_lot`'s `margin` for values within +-`limit` (a policy's `max_position`).

    How near a half the lots, scaled in floating point, may lie and still be
    trusted. Rounding is monotonic and every half below 2**51 is a double, so
    the scaled lots never cross a half that the exact decimal lies on the
    other side of: only an exact half (a tie, or a value rounded onto one) is
    in doubt. Belt and braces, a band of four times the scaling's largest
    error (`limit`'s lots times 2**-53) is kept clear too: a few more values
    go to `round`, none comes out different.
    """
    lots = limit * _LOT_SCALE
    return 0.5 - lots * 2.0**-51 if lots < _ROUND_RANGE else 0.0


def round_lot(value: float, margin: float) -> float:
    """`round(value, LOT)`, bit for bit, for |value| within the limit `margin` is for.

    `round` with digits formats the decimal and parses it back (~0.5 us).
    Here: the value in lots, rounded to an integer in floating point; unless
    that is zero (`round` keeps the sign of a zero) or the lots lie too near a
    half to be sure the exact decimal rounds the same way, the result is the
    integer over 1e8: one correctly rounded division, so the double nearest
    to that decimal, as `round` returns.
    """
    lots = value * _LOT_SCALE
    whole = lots + _TO_INTEGER - _TO_INTEGER
    if whole and -margin < lots - whole < margin:
        return whole / _LOT_SCALE
    return round(value, LOT)
