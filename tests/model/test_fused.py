"""The fused path's own parts, bit for bit against what they stand in for.

(Its decisions against the per-tick path's: tests/model/test_stage.py, with `DECIDERS`.)
"""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path

from common.tickfile import iter_ticks
from services.model.checkpoint import load_checkpoint
from services.model.decision import DecisionStack
from services.model.features import FeatureState
from services.model.fused import FusedDecider, supports
from services.model.lots import LOT, round_lot, round_lot_margin
from services.model.service_config import DEFAULT_POLICY
from services.model.stage import ModelStage
from tests.conftest import BUNDLED
from tests.model.test_stage import RecordedOutput, assert_no_tick_passed_before_its_target


def _same(a: float, b: float) -> bool:
    """The same double, down to a zero's sign."""
    return a.hex() == b.hex()


def test_round_lot_is_round_to_lot_bit_for_bit() -> None:
    """Random values within each limit, values a hair either side of half a lot (where the
    scaling could tip them), lots at their largest, tiny and zero values of either sign."""
    rng = random.Random(19)
    for limit in (0.01, 1.0, 250.0, 1e6, 1e9):  # the last two: beyond its range, `round` answers
        margin = round_lot_margin(limit)
        values = [rng.uniform(-limit, limit) for _ in range(5_000)]
        for _ in range(2_000):
            half = (rng.randrange(int(min(limit, 1e6) * 1e8)) + 0.5) / 1e8
            near = [math.nextafter(half, 0.0), half, math.nextafter(half, math.inf)]
            values += near + [-value for value in near]
        values += [limit, -limit, 0.0, -0.0, 4e-9, -4e-9, 5e-9, -5e-9, 6e-9, -6e-9, 1e-300]
        for value in values:
            if abs(value) <= limit:
                assert _same(round_lot(value, margin), round(value, LOT)), (value, limit)
    assert round_lot_margin(1e9) == 0.0  # nothing is sure: every value goes to `round`


def test_the_whole_recording_fused_in_uneven_batches_decides_as_tick_by_tick(
    trained_checkpoint: Path,
) -> None:
    """The bundled recording through the fused path in batches of 1 to 256 (chunks of 64):
    every prediction, target and watermark of the per-tick path, and the same state after."""
    model = load_checkpoint(trained_checkpoint, None, DEFAULT_POLICY)
    ticks = list(iter_ticks(BUNDLED))
    outputs, stages = [], []
    rows: list[tuple[object, ...]] = []
    for fused in (False, True):
        output = RecordedOutput()
        stack = DecisionStack(model, ttl_ms=5000, id_prefix="t")
        stage = ModelStage(
            stack, output, lambda: 7, name="m", batch_max=64, lossless=True, columnar=fused
        )
        if fused:
            assert supports(stack) and type(stage._columnar) is FusedDecider
            start = 0
            for size in itertools.cycle([1, 2, 7, 64, 256, 3, 50, 65]):
                if start >= len(ticks):
                    break
                assert stage._columnar is not None
                rows += stage._columnar.decide(
                    ticks[start : start + size], 64, lambda: 7, stage._act_on, stage._passed
                )
                start += size
        else:
            for tick in ticks:
                stage.on_tick(tick)  # one estimator call per 64 queued ticks
            stage.flush()
        outputs.append(output)
        stages.append(stage)
    per_tick, fused_ = outputs
    assert len(fused_.targets()) > 5_000
    # Each prediction's tick, value and target, as the same doubles.
    assert [(row[3], float(row[6]).hex(), float(row[7]).hex()) for row in rows] == [  # type: ignore[arg-type]
        (p.tick_seq, p.value.hex(), p.target_position.hex()) for p in per_tick.predictions()
    ]
    assert fused_.targets() == per_tick.targets()  # per tick: as 64 ticks' TargetBatches
    assert_no_tick_passed_before_its_target(per_tick.pushed)
    assert stages[1].stack.counters == stages[0].stack.counters
    [state], [reference] = (stage.stack.states.values() for stage in stages)
    assert isinstance(state, FeatureState)
    for slot in FeatureState.__slots__:
        assert getattr(state, slot) == getattr(reference, slot)
