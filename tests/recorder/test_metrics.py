"""The recorder's Prometheus metrics, read the way a scrape reads them."""

from __future__ import annotations

from pathlib import Path

from common.messages import TickBatch
from services.recorder.artifacts import RunRecord
from services.recorder.metrics import RecorderMetrics
from tests.factories import T0_NS, make_fill, make_tick


def _gauges(metrics: RecorderMetrics) -> dict[str, float]:
    gauges = [m for m in metrics.collect() if m.type == "gauge" and m.samples]
    return {m.name: m.samples[0].value for m in gauges}


def test_tick_lag_is_the_last_ticks_and_other_messages_leave_it(tmp_path: Path) -> None:
    """Lag: the last tick's arrival here less its feed receive time, never below zero."""
    metrics = RecorderMetrics(RunRecord(), tmp_path)
    assert "recorder_tick_lag_seconds" not in _gauges(metrics)
    metrics.on_message(make_tick(recv_ts_ns=T0_NS), T0_NS + 2_500_000_000)
    metrics.on_message(make_fill(), T0_NS + 9_000_000_000)  # not a tick: the lag stays
    assert _gauges(metrics)["recorder_tick_lag_seconds"] == 2.5
    metrics.on_message(make_tick(recv_ts_ns=T0_NS + 5), T0_NS)  # clocks apart: no negative lag
    assert _gauges(metrics)["recorder_tick_lag_seconds"] == 0.0


def test_a_batch_s_tick_lag_is_its_last_tick_s(tmp_path: Path) -> None:
    """A batched replay's ticks come as `TickBatch`es: the lag follows them too."""
    metrics = RecorderMetrics(RunRecord(), tmp_path)
    ticks = [make_tick(seq=1, recv_ts_ns=T0_NS), make_tick(seq=2, recv_ts_ns=T0_NS + 10**9)]
    metrics.on_message(TickBatch(symbol="BTC/USD", ticks=ticks), T0_NS + 1_500_000_000)
    assert _gauges(metrics)["recorder_tick_lag_seconds"] == 0.5
