"""The recorder as a real process on a full disk: one line per lost file, no traceback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from common import sockets, wire
from common.messages import Eos, RunCounters
from tests.conftest import scaled, small_filesystem
from tests.factories import one_of_each, replace
from tests.processes import services


@pytest.fixture
def tiny_run_dir(tmp_path: Path) -> Iterator[Path]:
    """The recorder's run folder on a real 16 KiB filesystem (tmpfs)."""
    with small_filesystem(tmp_path / "run", "size=16k") as folder:
        yield folder


def test_a_full_disk_under_the_artifacts_is_named_in_one_line_each_without_a_traceback(
    tmp_path: Path, zmq_ctx: zmq.Context, tiny_run_dir: Path
) -> None:
    """ENOSPC: the recorder keeps going, says which file it lost and why, and exits 1."""
    data = f"ipc://{tmp_path}/data"  # ticks, predictions and events: one publisher is enough
    args = ["--ticks", data, "--predictions", data, "--events", data, "--run-dir"]
    args += [str(tiny_run_dir), "--expect-eos", "executor"]
    fill = next(m for m in one_of_each() if type(m).__name__ == "Fill")
    with (
        sockets.publisher(zmq_ctx, data, lossless=True) as pub,
        sockets.ready_replier(zmq_ctx, f"ipc://{tmp_path}/ready") as ready,
        services(tmp_path) as group,
    ):
        group.start("recorder", "services.recorder", args)
        sockets.wait_for_subscribers(pub, ready, ["recorder"], source="test", timeout_s=scaled(30))
        for n in range(2_000):  # about 400 KB of events.jsonl
            message = replace(fill, ts_ns=fill.ts_ns + n)
            pub.send_multipart([wire.topic(message), wire.encode(message)])
        counters = RunCounters(source="executor", counters={"ticks": 0})
        pub.send_multipart([wire.topic(counters), wire.encode(counters)])
        eos = Eos(source="executor", last_seq=0, ts_ns=time.time_ns())
        pub.send_multipart([wire.topic(eos), wire.encode(eos)])
        assert group.wait("recorder") == 1
    output = group.output("recorder")
    assert "Traceback" not in output
    lost = [line for line in output.splitlines() if "No space left on device" in line]
    assert any("events.jsonl" in line for line in lost)
    for name in ("events.jsonl", "ticks.gz", "run.log", "result.json"):
        assert sum(name in line for line in lost) <= 1  # one line per file
    if not (tiny_run_dir / "result.json").is_file():
        assert any("result.json" in line for line in lost)
