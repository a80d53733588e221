"""The columnar batch features: bit for bit what `FeatureState.update` gives, tick by tick."""

from __future__ import annotations

import itertools

import numpy as np

from common.messages import Side, Tick
from common.tickfile import iter_ticks
from services.model.columnar import features_of
from services.model.features import FeatureState
from tests.conftest import BUNDLED
from tests.factories import make_tick, make_trade


def _one_by_one(ticks: list[Tick]) -> list[tuple[float, ...] | None]:
    state = FeatureState()
    return [state.update(tick) for tick in ticks]


def _in_batches(
    ticks: list[Tick], sizes: list[int]
) -> tuple[list[tuple[float, ...] | None], FeatureState]:
    state = FeatureState()
    rows: list[tuple[float, ...] | None] = []
    start = 0
    for size in itertools.cycle(sizes):
        if start >= len(ticks):
            break
        matrix, valid, _, _ = features_of(state, ticks[start : start + size])
        rows += [tuple(row) if ok else None for row, ok in zip(matrix.tolist(), valid, strict=True)]
        start += size
    return rows, state


def test_the_recording_in_uneven_batches_gives_the_per_tick_rows_and_state_exactly() -> None:
    """Over the whole bundled recording, batches of 1 to 256 ticks give every row bit for bit."""
    ticks = list(iter_ticks(BUNDLED))
    expected = _one_by_one(ticks)
    got, state = _in_batches(ticks, [1, 2, 7, 64, 256, 3, 50, 65])
    assert sum(row is not None for row in expected) > 80_000
    assert got == expected  # float equality: the same doubles, not close ones
    reference = FeatureState()
    for tick in ticks:
        reference.update(tick)
    for slot in FeatureState.__slots__:
        assert getattr(state, slot) == getattr(reference, slot)


def test_trades_before_and_between_quotes_move_only_the_flow() -> None:
    """Trades alone, then quotes past warm-up with trades between: the same rows as one by one."""
    ticks: list[Tick] = []
    for seq in range(1, 200):
        if seq < 5 or seq % 3 == 0:
            side = Side.BUY if seq % 2 else Side.SELL
            ticks.append(make_trade(seq=seq, last=100.0 + seq / 7, last_size=0.1 * seq, side=side))
        else:
            ticks.append(make_tick(seq=seq, bid=100.0 + seq / 10, ask=100.5 + seq / 9))
    expected = _one_by_one(ticks)
    got, _ = _in_batches(ticks, [3, 64, 1])
    assert any(row is not None for row in expected)
    assert got == expected
    assert np.isfinite(np.array([row for row in got if row is not None])).all()
