"""The model's predict-time histogram (`services.model.metrics.PredictTimes`), in process."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector, CollectorRegistry

from common.messages import Tick, TickBatch
from common.tickfile import TickFileReader
from services.model.checkpoint import load_checkpoint
from services.model.decision import DecisionStack
from services.model.metrics import ModelMetrics, PredictTimes
from services.model.service_config import DEFAULT_POLICY
from services.model.stage import ModelStage
from tests.conftest import BUNDLED
from tests.model.test_stage import RecordedOutput


def test_predict_times_count_each_call_in_its_bucket_as_prometheus_reads_them() -> None:
    """Cumulative buckets by `le` (a bound is in its own bucket), +Inf, count and sum."""
    times = PredictTimes((1e-5, 1e-4))
    for seconds in (5e-6, 1e-5, 5e-5, 2e-3):
        times.observe(seconds)

    class Only(Collector):
        def collect(self):  # type: ignore[no-untyped-def]
            yield times.collect()

    registry = CollectorRegistry()
    registry.register(Only())
    [family] = text_string_to_metric_families(generate_latest(registry).decode())
    samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    assert family.name == "model_predict_seconds" and family.type == "histogram"
    assert samples[("model_predict_seconds_bucket", "1e-05")] == 2
    assert samples[("model_predict_seconds_bucket", "0.0001")] == 3
    assert samples[("model_predict_seconds_bucket", "+Inf")] == 4
    assert samples[("model_predict_seconds_count", None)] == 4
    assert abs(samples[("model_predict_seconds_sum", None)] - (5e-6 + 1e-5 + 5e-5 + 2e-3)) < 1e-12


def test_the_columnar_path_times_each_estimator_call_and_the_lag(trained_checkpoint: Path) -> None:
    """Queued single ticks and a TickBatch, decided as columns: one observation per chunk
    (`batch_max` ticks), as the per-tick path's one per `predict` call, and the lag set."""
    model = load_checkpoint(trained_checkpoint, None, DEFAULT_POLICY)
    with TickFileReader(BUNDLED) as reader:
        ticks = list(itertools.islice(reader, 300))
    metrics = ModelMetrics(DecisionStack(model, ttl_ms=5000), model_id="m", name="model")
    timed = metrics.timed()
    stage = ModelStage(
        timed,
        RecordedOutput(),
        time.time_ns,
        name="model",
        batch_max=16,
        lossless=False,
        predict_timer=timed.predicted,
    )
    assert stage._columnar is not None
    for tick in ticks[:100]:
        stage.on_tick(tick)  # 6 queues of 16 decided, 4 ticks left
    stage.flush()  # 4 more, in one call
    stage.on_batch(TickBatch(symbol=ticks[0].symbol, ticks=ticks[100:300]))  # 13 chunks

    assert sum(metrics.predict_seconds.counts) == 6 + 1 + 13
    assert metrics.predict_seconds.sum_s > 0
    assert timed.lag_s is not None and timed.lag_s > 0  # recorded ticks: long ago
    # The stack the metrics read is the one decided with (the timed one shares its state).
    assert metrics.stack.counters.ticks == 300
    assert metrics.stack.counters.targets > 0
    assert metrics.stack.last_sent and metrics.stack.books


def test_a_tick_decided_alone_is_timed_once_after_its_target_went_out(
    trained_checkpoint: Path,
) -> None:
    """Paced or live (the fused step, one tick at a time): one observation per prediction,
    each told after the tick's target was pushed, with the prediction's time, not the push's."""
    model = load_checkpoint(trained_checkpoint, None, DEFAULT_POLICY)
    with TickFileReader(BUNDLED) as reader:
        ticks = list(itertools.islice(reader, 400))
    output = RecordedOutput()
    told: list[tuple[float, int, int]] = []  # seconds, the tick's seq, targets pushed by then

    def timer(seconds: float, last: Tick) -> None:
        told.append((seconds, last.seq, len(output.targets())))

    stack = DecisionStack(model, ttl_ms=5000)
    stage = ModelStage(
        stack, output, time.time_ns, name="model", batch_max=16, lossless=False,
        predict_timer=timer,
    )  # fmt: skip
    for tick in ticks:
        stage.decide_alone(tick)

    assert len(told) == stack.counters.predictions + stack.counters.non_finite_predictions
    assert [seq for _, seq, _ in told] == [p.tick_seq for p in output.predictions()]
    pushed_at = {target.tick_seq: n for n, target in enumerate(output.targets(), start=1)}
    assert len(pushed_at) > 5
    for _, seq, pushed in told:
        if seq in pushed_at:
            assert pushed == pushed_at[seq]  # its target was out before it was timed
    assert all(0 < seconds < 1 for seconds, _, _ in told)
