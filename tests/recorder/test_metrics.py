"""The recorder's Prometheus metrics, read the way a scrape reads them."""

from __future__ import annotations

from pathlib import Path

from services.recorder.artifacts import RunRecord
from services.recorder.metrics import RecorderMetrics
from tests.factories import T0_NS


def _gauges(metrics: RecorderMetrics) -> dict[str, float]:
    gauges = [m for m in metrics.collect() if m.type == "gauge" and m.samples]
    return {m.name: m.samples[0].value for m in gauges}


def test_tick_lag_is_the_last_ticks_and_other_messages_leave_it(tmp_path: Path) -> None:
    """Lag: the last tick's arrival here less its feed receive time, never below zero."""
    metrics = RecorderMetrics(RunRecord(), tmp_path)
    assert "recorder_tick_lag_seconds" not in _gauges(metrics)
    metrics.on_message(T0_NS, T0_NS + 2_500_000_000)
    metrics.on_message(None, T0_NS + 9_000_000_000)  # not a tick: the lag stays
    assert _gauges(metrics)["recorder_tick_lag_seconds"] == 2.5
    metrics.on_message(T0_NS + 5, T0_NS)  # clocks apart: no negative lag
    assert _gauges(metrics)["recorder_tick_lag_seconds"] == 0.0
