"""The model service's Prometheus metrics: predictions, targets, predict time, queue, model id.

Counts are read from the decision stack and the stage when scraped
(`common/metrics.py`); the one thing measured here is the time of each
estimator call (features are built per tick in `observe`, so that time is the
`predict` call's), through `TimedStack`, a stand-in for the stack that the
stage cannot tell apart from it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import CollectorRegistry

from services.model.decision import DecisionStack, Observed
from services.model.stage import ModelStage

# From one fast call (a ridge on one row: ~20 us) to a slow one (a big batch).
PREDICT_BUCKETS_S = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)


class TimedStack:
    """The decision stack, with each `predict` call timed into a histogram.

    It also keeps the lag: how long after the feed received the batch's last
    tick its prediction was ready.
    """

    def __init__(self, stack: DecisionStack, seconds: Histogram) -> None:
        self._stack, self._seconds = stack, seconds
        self.lag_s: float | None = None

    def predict(self, batch: list[Observed]) -> list[float | None]:
        started = time.perf_counter()
        try:
            return self._stack.predict(batch)
        finally:
            self._seconds.observe(time.perf_counter() - started)
            if batch:
                self.lag_s = max(0.0, (time.time_ns() - batch[-1].tick.recv_ts_ns) / 1e9)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stack, name)


class ModelMetrics:
    def __init__(self, stack: DecisionStack, *, model_id: str, name: str) -> None:
        self.stack, self.model_id, self.name = stack, model_id, name
        self.stage: ModelStage | None = None
        self._timed: TimedStack | None = None
        # Its own registry: the histogram's values, collected along with the rest.
        self.predict_seconds = Histogram(
            "model_predict_seconds",
            "time of one estimator call (a batch of queued ticks), seconds",
            buckets=PREDICT_BUCKETS_S,
            registry=CollectorRegistry(),
        )

    def timed(self) -> Any:
        """The stack the stage should use: the same one, its predict calls timed."""
        self._timed = TimedStack(self.stack, self.predict_seconds)
        return self._timed

    def collect(self) -> Iterator[Metric]:
        counters = asdict(self.stack.counters)
        for key, text in (
            ("ticks", "ticks decided"),
            ("predictions", "predictions made"),
            ("targets", "targets decided"),
            ("warming_up", "ticks seen while the features warm up"),
            ("non_finite_predictions", "predictions that were not finite numbers"),
        ):
            yield CounterMetricFamily(f"model_{key}", text, value=counters.get(key, 0))
        stage = self.stage
        if stage is not None:
            yield CounterMetricFamily(
                "model_dropped_targets", "targets no executor took", value=stage.dropped_targets
            )
            yield GaugeMetricFamily(
                "model_queue_depth",
                "ticks taken off the socket, waiting for the next estimator call",
                value=len(stage._queued),  # the stage's batch queue, read only
            )
            yield GaugeMetricFamily(
                "model_last_tick_seq", "sequence number of the last tick decided", stage.last_seq
            )
        yield from self.predict_seconds.collect()
        lag_s = None if self._timed is None else self._timed.lag_s
        # Always there (NaN until the first prediction: still warming up), so a
        # scrape early in a run finds the same families as a later one.
        yield GaugeMetricFamily(
            "model_tick_lag_seconds",
            "from the feed's receive of the last tick predicted to its prediction "
            "(NaN before the first)",
            value=math.nan if lag_s is None else lag_s,
        )
        info = InfoMetricFamily("model", "the model this process serves")
        info.add_metric([], {"model_id": self.model_id, "name": self.name})
        yield info
