"""The model service's Prometheus metrics: predictions, targets, predict time, queue, model id.

Counts are read from the decision stack and the stage when scraped
(`common/metrics.py`); the one thing measured here is the time of each
estimator call (features are built per tick in `observe`, so that time is the
`predict` call's), through `TimedStack`, a stand-in for the stack that the
stage cannot tell apart from it. The fused path (`fused.py`) has no
estimator call to time apart: it reports each chunk's whole decision, and a
tick decided alone its features and value.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import asdict
from itertools import accumulate
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
)
from prometheus_client.metrics_core import Metric

from common.messages import Tick
from services.model.decision import DecisionStack, Observed
from services.model.stage import ModelStage

# From one fast call (a ridge on one row: ~20 us) to a slow one (a big batch).
PREDICT_BUCKETS_S = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)


class PredictTimes:
    """A histogram of estimator-call seconds, kept as plain counts.

    Observed on the model's hot path, before the tick's target is sent: a
    bisect and two additions, where prometheus_client's `Histogram.observe`
    takes a lock per bucket and per sum on a CPU still cold from waiting for
    the tick. The scrape thread reads a copy of the counts; a scrape between
    the two additions may see the sum one observation behind the counts.
    """

    def __init__(self, bounds_s: tuple[float, ...] = PREDICT_BUCKETS_S) -> None:
        self.bounds_s = bounds_s
        self.counts = [0] * (len(bounds_s) + 1)  # the last: above every bound
        self.sum_s = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds_s, seconds)] += 1
        self.sum_s += seconds

    def collect(self) -> HistogramMetricFamily:
        counts, total = list(self.counts), self.sum_s
        cumulative = list(accumulate(counts))
        family = HistogramMetricFamily(
            "model_predict_seconds",
            "time of one estimator call (a batch of queued ticks), seconds",
            buckets=[
                *((repr(b), n) for b, n in zip(self.bounds_s, cumulative, strict=False)),
                ("+Inf", cumulative[-1]),
            ],
            sum_value=total,
        )
        return family


class TimedStack:
    """The decision stack, with each `predict` call timed into a histogram.

    It also keeps the lag: how long after the feed received the batch's last
    tick its prediction was ready. Every other method is the stack's own,
    bound here once (no forwarding call per tick).
    """

    def __init__(self, stack: DecisionStack, seconds: PredictTimes) -> None:
        self._stack, self._seconds = stack, seconds
        self.lag_s: float | None = None
        self.observe = stack.observe
        self.decide = stack.decide
        self.mark_sent = stack.mark_sent
        self.new_target = stack.new_target
        # What the columnar path reads several times a batch (`columnar.py`): the
        # stack's own objects, never replaced, so no `__getattr__` call per read.
        self.model, self.counters, self.ttl_ms = stack.model, stack.counters, stack.ttl_ms
        self.states, self.books = stack.states, stack.books
        self.last_sent, self.id_prefix = stack.last_sent, stack.id_prefix

    def predict(self, batch: list[Observed]) -> list[float | None]:
        started = time.perf_counter()
        values = self._stack.predict(batch)
        if batch:
            self._timed(started, batch[-1])
        return values

    def predict_one(self, seen: Observed) -> float | None:
        started = time.perf_counter()
        value = self._stack.predict_one(seen)
        self._timed(started, seen)
        return value

    def _timed(self, started: float, last: Observed) -> None:
        self.predicted(time.perf_counter() - started, last.tick)

    def predicted(self, seconds: float, last: Tick) -> None:
        """A prediction that took `seconds` was made up to `last`.

        Also called by the columnar and fused paths, which predict without the
        stack; a tick decided alone is told after its target went out.
        """
        self._seconds.observe(seconds)
        self.lag_s = max(0.0, (time.time_ns() - last.recv_ts_ns) / 1e9)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stack, name)


class ModelMetrics:
    def __init__(self, stack: DecisionStack, *, model_id: str, name: str) -> None:
        self.stack, self.model_id, self.name = stack, model_id, name
        self.stage: ModelStage | None = None
        self._timed: TimedStack | None = None
        self.predict_seconds = PredictTimes()

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
        yield self.predict_seconds.collect()
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
