"""The decision stack: non-finite predictions, and targets that were not taken."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.tickfile import iter_ticks
from services.model.checkpoint import LoadedModel, load_checkpoint
from services.model.decision import DecisionStack
from services.model.features import FEATURE_NAMES
from services.model.policy import Policy
from tests.conftest import BUNDLED
from tests.factories import make_tick

POLICY = Policy(position_per_bps=0.01, deadband_bps=0.0, max_position=1.0, min_step=0.001)


class Scripted:
    """An estimator whose next predictions are given by the test."""

    def __init__(self, values: list[float]) -> None:
        self.values = values

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return np.array([self.values.pop(0) if self.values else 1.0] * len(rows))


def _stack(values: list[float]) -> DecisionStack:
    model = LoadedModel(Scripted(values), tuple(range(len(FEATURE_NAMES))), POLICY, "f" * 64)
    return DecisionStack(model, ttl_ms=1000, id_prefix="t")


def _warm(stack: DecisionStack) -> int:
    for seq in range(1, 51):
        assert stack.on_tick(make_tick(seq=seq), 0) == (None, None)
    return 51


def test_non_finite_prediction_is_counted_and_makes_no_target() -> None:
    """NaN and inf predictions never become a Prediction or a Target."""
    stack = _stack([float("nan"), float("inf"), 2.0])
    seq = _warm(stack)
    assert stack.on_tick(make_tick(seq=seq), 0) == (None, None)
    assert stack.on_tick(make_tick(seq=seq + 1), 0) == (None, None)
    prediction, target = stack.on_tick(make_tick(seq=seq + 2), 0)
    assert prediction is not None and target is not None
    assert target.target_position == 0.02
    assert stack.counters.non_finite_predictions == 2


def test_a_target_nobody_took_is_offered_again_on_the_next_tick() -> None:
    """Dropped while the executor was away, the wanted position is re-sent when it returns."""
    stack = _stack([2.0, 2.0, 2.0])
    seq = _warm(stack)
    _, first = stack.on_tick(make_tick(seq=seq), 0)
    assert first is not None  # not marked sent: the push was refused
    _, again = stack.on_tick(make_tick(seq=seq + 1), 0)
    assert again is not None and again.id != first.id
    stack.mark_sent(again)
    _, settled = stack.on_tick(make_tick(seq=seq + 2), 0)
    assert settled is None  # taken, and the wanted position did not move


def test_batched_predictions_and_decisions_equal_one_tick_at_a_time(
    trained_checkpoint: Path,
) -> None:
    """Queued ticks predicted in one call give the very same predictions and targets, on the
    whole recording (the ridge's single row is summed in plain Python, a batch by numpy)."""
    model = load_checkpoint(trained_checkpoint, None, POLICY)
    ticks = list(iter_ticks(BUNDLED))
    one = DecisionStack(model, ttl_ms=1000, id_prefix="x")
    expected = [one.on_tick(tick, 0) for tick in ticks]
    batched = DecisionStack(model, ttl_ms=1000, id_prefix="x")
    got = []
    for start in range(0, len(ticks), 64):
        observed = [batched.observe(tick) for tick in ticks[start : start + 64]]
        for seen, value in zip(observed, batched.predict(observed), strict=True):
            got.append(batched.decide(seen, value, 0))
    assert got == expected
    assert sum(target is not None for _, target in got) > 10  # decisions were really made
