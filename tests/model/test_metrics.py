"""The model's predict-time histogram (`services.model.metrics.PredictTimes`), in process."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector, CollectorRegistry

from services.model.metrics import PredictTimes


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
