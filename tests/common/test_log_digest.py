"""`FirstThenCounts`: the first few of each kind in full, the rest summed per interval."""

from __future__ import annotations

from common.logs import FirstThenCounts


def test_the_first_few_of_each_reason_pass_and_the_rest_are_only_counted() -> None:
    """Each reason has its own allowance; past it nothing passes, however many come."""
    digest = FirstThenCounts(first=3, interval_s=10.0)
    passed = [digest.admit("circuit_breaker", 0.0) for _ in range(4_379)]
    assert sum(passed) == 3 and passed[:3] == [True, True, True]
    assert digest.admit("rate_limit", 0.0)  # another reason starts its own allowance


def test_held_back_counts_are_reported_once_per_interval_and_then_start_again() -> None:
    """Nothing is due before the interval ends; then each reason's count once, then zero."""
    digest = FirstThenCounts(first=1, interval_s=10.0)
    digest.admit("circuit_breaker", 100.0)  # shown in full
    for step in range(100):
        digest.admit("circuit_breaker", 100.0 + step * 0.05)
    digest.admit("rate_limit", 101.0)
    digest.admit("rate_limit", 102.0)
    assert digest.due(109.9) == []
    due = digest.due(110.0)
    assert {reason: count for reason, count, _ in due} == {"circuit_breaker": 100, "rate_limit": 1}
    assert all(span_s == 10.0 for _, _, span_s in due)
    assert digest.due(200.0) == []  # nothing new held back
    digest.admit("circuit_breaker", 300.0)
    assert digest.due(305.0) == []  # a new interval starts with the first one held back
    assert [count for _, count, _ in digest.due(310.0)] == [1]


def test_what_is_still_held_back_at_the_end_is_reported_by_drain() -> None:
    """The last interval is never lost: drain reports it whatever the time, then nothing."""
    digest = FirstThenCounts(first=0, interval_s=10.0)
    for _ in range(7):
        digest.admit("min_order_size", 50.0)
    assert digest.due(51.0) == []
    assert digest.drain(52.5) == [("min_order_size", 7, 2.5)]
    assert digest.drain(53.0) == []
    assert digest.total == {"min_order_size": 7}
