"""`floor_lots`, `add` and `subtract` against the decimal rules they stand for, bit for bit."""

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


def _decimal_sum(*values: float) -> float:
    """What `add` computed before it counted lots (the definition)."""
    return float(sum((Decimal(repr(v)) for v in values), Decimal(0)))


def test_add_and_subtract_equal_the_decimal_rule_bit_for_bit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whole lots of 10**-8 are counted as integers, anything else in decimal: the same bits."""
    values = _quantities(random.Random(8))
    values += [-v for v in values[:2_000]] + [2.0**50 / 1e8, -(2.0**50) / 1e8, 1.0e7, 0.1 + 0.2]
    rng = random.Random(9)
    pairs = [(rng.choice(values), rng.choice(values)) for _ in range(20_000)]
    pairs += [(a, b) for a in (0.0, -0.0, 1e-8) for b in (0.0, -0.0, 1e-8)]
    for a, b in pairs:
        assert _same(quantities.subtract(a, b), float(Decimal(repr(a)) - Decimal(repr(b)))), (a, b)
        assert _same(quantities.add(a, b), _decimal_sum(a, b)), (a, b)
    many = [rng.choice(values) for _ in range(50)]
    assert _same(quantities.add(*many), _decimal_sum(*many))
    assert _same(quantities.add(*[4e6] * 40), _decimal_sum(*[4e6] * 40))  # past 2**53 lots
    assert _same(quantities.add(), 0.0)
    # Sizes as the executor meets them (whole lots of 10**-8 or coarser): no decimal at all.
    monkeypatch.setattr(quantities, "exact", None)
    coarser = [10 ** rng.choice([0, 3, 6, 8]) for _ in range(999)]  # lots of 1e-8 ... 1
    lots = [rng.randint(-(10**14), 10**14) // grid * grid / 1e8 for grid in coarser]
    for a, b in zip(lots, lots[1:]):
        assert _same(quantities.subtract(a, b), float(Decimal(repr(a)) - Decimal(repr(b))))
        assert _same(quantities.add(a, b, a), _decimal_sum(a, b, a))
