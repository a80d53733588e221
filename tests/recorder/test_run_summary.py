"""The end-of-run summary: every number a person looks for first, from result.json."""

from __future__ import annotations

from services.recorder.run_summary import summary_lines

RESULT = {
    "run_id": "r1",
    "exit_reason": "completed",
    "counts": {
        "ticks": 85_175,
        "predictions": 85_115,
        "orders": 363,
        "fills": 377,
        "rejections": {"circuit_breaker": 4_379, "min_order_size": 7, "rate_limit": 737},
    },
    "pnl": {"realized": -200.5, "unrealized": 0.0, "fees": 55.66, "total": -256.16},
    "max_drawdown": 260.0,
    "circuit_breaker": {
        "tripped": True,
        "activations": 1,
        "events": [{"kind": "circuit_breaker_tripped", "values": {"equity": -252.03}, "ts_ns": 0}],
    },
}


def test_the_summary_has_counts_pnl_fees_the_trip_with_its_time_and_each_reason() -> None:
    text = "\n".join(summary_lines(RESULT))
    for number in ("85,175", "363", "377", "-256.16", "55.66", "-252.03", "4,379", "737"):
        assert number in text, number
    assert "1970-01-01T00:00:00.000Z" in text  # the trip's time
    for reason in ("circuit_breaker", "rate_limit", "min_order_size"):
        assert reason in text
    assert text.index("circuit_breaker 4,379") < text.index("rate_limit") < text.index("min_order")


def test_a_quiet_run_says_so_instead_of_printing_empty_lists() -> None:
    quiet = {**RESULT, "counts": {**RESULT["counts"], "rejections": {}}, "circuit_breaker": {}}
    lines = summary_lines(quiet)
    assert len(lines) == 4
    assert "[]" not in "".join(lines) and "{}" not in "".join(lines)
