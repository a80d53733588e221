"""The recorder's Prometheus metrics: what it recorded, how far behind it is, disk used.

Read from the run record and the run folder when scraped (`common/metrics.py`);
the one thing taken on the way is the lag: how long after the feed received a
tick it reached the recorder (`on_tick`, from the loop).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from common.messages import Message, Tick, TickBatch
from services.recorder.artifacts import RunRecord

ARTIFACT_FILES = ("ticks.gz", "events.jsonl", "run.log", "result.json")


class RecorderMetrics:
    def __init__(self, record: RunRecord, folder: Path) -> None:
        self.record, self.folder = record, folder
        self.last_message_ns: int | None = None
        # The last tick's feed receive time and arrival here: the lag is worked
        # out when scraped, not for every message (one per tick, unbatched).
        self._tick_recv_ns: int | None = None
        self._tick_arrival_ns = 0

    def on_message(self, message: Message, arrival_ns: int) -> None:
        """A message arrived; a tick (or a batch's last) moves the lag: the feed's receive time."""
        self.last_message_ns = arrival_ns
        if type(message) is Tick:
            self._tick_recv_ns, self._tick_arrival_ns = message.recv_ts_ns, arrival_ns
        elif type(message) is TickBatch:
            self._tick_recv_ns, self._tick_arrival_ns = message.ticks[-1].recv_ts_ns, arrival_ns

    @property
    def lag_s(self) -> float | None:
        """How long after the feed received the last tick it reached the recorder."""
        if self._tick_recv_ns is None:
            return None
        return max(0.0, (self._tick_arrival_ns - self._tick_recv_ns) / 1e9)

    def collect(self) -> Iterator[Metric]:
        record = self.record
        recorded = CounterMetricFamily(
            "recorder_recorded", "messages recorded, by kind", labels=["kind"]
        )
        for kind, count in (
            ("tick", record.ticks),
            ("prediction", record.predictions),
            ("order", record.orders),
            ("fill", record.fills),
            ("rejection", sum(record.rejections.values())),
            ("risk_event", len(record.risk_events)),
        ):
            recorded.add_metric([kind], count)
        yield recorded
        lag_s = self.lag_s
        if lag_s is not None:
            yield GaugeMetricFamily(
                "recorder_tick_lag_seconds",
                "the last tick's time from the feed's receive to the recorder",
                value=lag_s,
            )
        if self.last_message_ns is not None:
            yield GaugeMetricFamily(
                "recorder_last_message_age_seconds",
                "time since the last message reached the recorder",
                value=max(0.0, (time.time_ns() - self.last_message_ns) / 1e9),
            )
        disk = GaugeMetricFamily(
            "recorder_disk_bytes", "size of each artifact on disk, bytes", labels=["file"]
        )
        for name in ARTIFACT_FILES:
            try:
                disk.add_metric([name], (self.folder / name).stat().st_size)
            except OSError:
                continue  # not written yet
        yield disk
