"""Features by hand on a known tick sequence; the policy's arithmetic."""

from __future__ import annotations

import math

import pytest

from common.messages import Side
from services.model.features import FEATURE_NAMES, FeatureState
from services.model.policy import Policy
from tests.factories import make_tick, make_trade


def _quote(seq: int, mid: float, bid_size: float = 1.0, ask_size: float = 3.0):
    return make_tick(seq=seq, bid=mid - 0.5, ask=mid + 0.5, bid_size=bid_size, ask_size=ask_size)


def test_no_row_before_fifty_one_quotes() -> None:
    """The 50-tick return needs 51 mids; until then the state only warms up."""
    state = FeatureState()
    rows = [state.update(_quote(seq, 100.0 + seq)) for seq in range(1, 52)]
    assert all(row is None for row in rows[:50])
    assert rows[50] is not None


def test_feature_values_match_hand_arithmetic() -> None:
    """Returns, spread and imbalance on mids 101, 102, ... 151."""
    state = FeatureState()
    for seq in range(1, 52):
        row = state.update(_quote(seq, 100.0 + seq))
    assert row is not None
    values = dict(zip(FEATURE_NAMES, row))
    assert values["ret_1_bps"] == pytest.approx((151 / 150 - 1) * 1e4)
    assert values["ret_10_bps"] == pytest.approx((151 / 141 - 1) * 1e4)
    assert values["ret_50_bps"] == pytest.approx((151 / 101 - 1) * 1e4)
    assert values["spread_bps"] == pytest.approx(1 / 151 * 1e4)
    assert values["imbalance"] == pytest.approx((1 - 3) / 4)
    assert values["trade_flow"] == 0.0
    assert values["volatility_bps"] > 0


def test_trade_flow_is_signed_and_decays() -> None:
    """A buy adds its size, a sell subtracts it, older flow fades by 0.95 a trade."""
    state = FeatureState()
    for seq in range(1, 52):
        state.update(_quote(seq, 100.0))
    state.update(make_trade(seq=52, side=Side.BUY, last_size=2.0))
    row = state.update(make_trade(seq=53, side=Side.SELL, last_size=0.5))
    assert row is not None
    assert dict(zip(FEATURE_NAMES, row))["trade_flow"] == pytest.approx(0.95 * 2.0 - 0.5)


def test_mid_ring_wraps_without_losing_the_fifty_tick_return() -> None:
    """Far past the ring's size the 50-tick return is still exact."""
    state = FeatureState()
    for seq in range(1, 1001):
        row = state.update(_quote(seq, 1000.0 + seq))
    assert row is not None
    assert row[2] == pytest.approx((2000 / 1950 - 1) * 1e4)


POLICY = Policy(position_per_bps=0.01, deadband_bps=0.5, max_position=0.05, min_step=0.005)


@pytest.mark.parametrize(
    ("prediction", "target"),
    [(0.0, 0.0), (0.5, 0.0), (-0.5, 0.0), (1.0, 0.01), (-2.0, -0.02), (10.0, 0.05), (-99, -0.05)],
)
def test_policy_deadband_scale_and_clip(prediction: float, target: float) -> None:
    """Inside the deadband: flat; outside: scaled; beyond the clip: the clip."""
    assert POLICY.target_for(prediction) == pytest.approx(target)


def test_policy_sends_only_moves_larger_than_the_step() -> None:
    """Small changes of the wanted position are not worth a new target."""
    assert POLICY.should_send(0.01, None)
    assert not POLICY.should_send(0.014, 0.01)
    assert POLICY.should_send(0.016, 0.01)


def test_policy_refuses_nonsense_parameters() -> None:
    """A policy that cannot size a position is an error at construction."""
    with pytest.raises(ValueError):
        Policy(position_per_bps=0.0, deadband_bps=0.0, max_position=1.0, min_step=0.0)
    assert math.isfinite(POLICY.target_for(1e300))
