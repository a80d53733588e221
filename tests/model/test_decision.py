"""The decision stack: non-finite predictions, and targets that were not taken."""

from __future__ import annotations

import numpy as np

from services.model.checkpoint import LoadedModel
from services.model.decision import DecisionStack
from services.model.features import FEATURE_NAMES
from services.model.policy import Policy
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
