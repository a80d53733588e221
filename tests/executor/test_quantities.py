"""`floor_lots`' float path against the decimal rule it stands for, bit for bit."""

from __future__ import annotations

import math
import random
import struct
from decimal import ROUND_DOWN, Decimal

import pytest

from services.executor import quantities
from services.executor.quantities import floor_lots


def _decimal_rule(qty: float, increment: Decimal) -> float:
    """What `conform_to_pair_rules` computed before `floor_lots` (the definition)."""
    return float((Decimal(repr(qty)) / increment).to_integral_value(ROUND_DOWN) * increment)


def _same(a: float, b: float) -> bool:
    """Equal as bits: -0.0 is not 0.0, nan is nan."""
    return struct.pack("<d", a) == struct.pack("<d", b)


def _quantities(rng: random.Random) -> list[float]:
    """Sizes as orders meet them: whole lots, lots plus float residue, sums, neighbours."""
    values: list[float] = [0.0, -0.0, 5e-324, 1e-12, 1e-8, 0.1 + 0.2, 0.3 - 0.1, 2.0**40 / 1e8]
    values += [math.nan, math.inf, -1e-8, -0.00264506, 1e300, 123456.78, 2.0**53]
    for _ in range(2_500):
        lots = rng.randint(0, 10 ** rng.randint(1, 12))
        decimals = rng.choice([0, 1, 2, 4, 5, 6, 8, 10])
        exact_lots = lots / 10**decimals
        values.append(exact_lots)
        values.append(math.nextafter(exact_lots, math.inf))
        values.append(math.nextafter(exact_lots, -math.inf))
        values.append(exact_lots * (1 + rng.uniform(-1e-9, 1e-9)))
        values.append(rng.uniform(0, 10) * 0.0026450612345)
        values.append(rng.random() / 3.0 + rng.random() / 7.0)
    return values


@pytest.mark.parametrize(
    "increment",
    [Decimal("1E-8"), Decimal("0.00001"), Decimal("1"), Decimal("0.0005")],
)
def test_floor_lots_equals_the_decimal_rule_bit_for_bit(
    increment: Decimal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Powers of ten take the float path, other increments the decimal one: the same bits."""
    decided_in_decimal = 0
    exact = quantities.exact

    def counted(value: float) -> Decimal:
        nonlocal decided_in_decimal
        decided_in_decimal += 1
        return exact(value)

    monkeypatch.setattr(quantities, "exact", counted)
    values = _quantities(random.Random(str(increment)))
    for qty in values:
        assert _same(floor_lots(qty, increment), _decimal_rule(qty, increment)), (qty, increment)
    if increment == Decimal("0.0005"):  # not a power of ten: always the decimal rule
        assert decided_in_decimal == len(values)
        return
    # Sizes as orders have them (whole lots, or a model's size before the cut): the float path.
    rng, decided_in_decimal = random.Random(1), 0
    scale = float(Decimal(1) / increment)
    lots = [rng.randint(0, 10**9) / scale for _ in range(999)]
    sizes = [rng.uniform(0, 1) * 0.0026450612345 for _ in range(999)]
    for qty in lots + sizes:
        assert _same(floor_lots(qty, increment), _decimal_rule(qty, increment)), (qty, increment)
    if increment < 1:  # (a size below one lot of 1 is 0 lots, decided in decimal)
        # Only sizes within 0.001 lot of a whole lot they are not exactly: about 0.2%.
        assert decided_in_decimal <= len(sizes) // 100
