"""Pipeline figures: the real services, started as a user starts them, measured from outside.

- `measure_replay`: a lossless `--speed 0` replay through feed -> model ->
  executor -> recorder (the runner, `orchestration.paper_live`), one tick per
  message or batched (`--replay-batch`); ticks/s is the recorder's
  `throughput` (first tick in -> every stage's eos in), and the counts prove
  no stage lost a tick.
- `measure_memory`: the same replay, resident memory of each service when
  the N-th tick has gone by (a lossless subscriber of the ticks counts them).
- `measure_tick_latency`: built like the chain's latency figure: this process
  plays the feed (ticks stamped with the send time, paced), a sink process
  (`bench.latency_sink`) sits in the executor's seat, the real model process
  between them instead of the relay. Tick -> target and tick -> prediction.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil
import zmq

from bench.chain import paced_send
from common import sockets, wire
from common.messages import Eos, TickBatch
from common.tickfile import iter_ticks

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("feed", "model", "executor", "recorder")


def _runner(
    folder: Path, recording: Path, checkpoint: Path, batch: int = 1, extra: Sequence[str] = ()
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "orchestration.paper_live",
        "--replay",
        str(recording),
        "--speed",
        "0",
        "--replay-batch",
        str(batch),
        "--ckpt",
        str(checkpoint),
        "--address-dir",
        str(folder),
        "--artifacts-dir",
        str(folder / "artifacts"),
        *extra,
    ]


def _result(folder: Path) -> dict[str, Any]:
    [run] = (folder / "artifacts").iterdir()
    result: dict[str, Any] = json.loads((run / "result.json").read_text())
    return result


def measure_replay(
    folder: Path,
    recording: Path,
    checkpoint: Path,
    ticks: int,
    batch: int = 1,
    runner_args: Sequence[str] = (),
) -> dict[str, Any]:
    """`runner_args`: more options for the runner (`bench.curve`: the tcp transport)."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        _runner(folder, recording, checkpoint, batch, runner_args),
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        timeout=1800,
    )
    result = _result(folder)
    counts = result["counts"]
    seen = {"recorder": counts["ticks"], **counts.get("ticks_seen", {})}
    return {
        "ticks_in_file": ticks,
        "ticks_per_message": batch,
        "ticks_seen": seen,
        "lossless": all(n == ticks for n in seen.values())
        and sum(counts["malformed_messages"].values()) == 0,
        "predictions": counts["predictions"],
        "targets": counts["targets"],
        "orders": counts["orders"],
        "fills": counts["fills"],
        "ticks_per_s": result["throughput"]["ticks_per_s"],
        "wall_s": result["throughput"]["wall_s"],
    }


def measure_memory(
    folder: Path, recording: Path, checkpoint: Path, marks: tuple[int, ...], batch: int = 1
) -> dict[str, Any]:
    """Resident MiB of each service once `marks[i]` ticks have been published."""
    folder.mkdir(parents=True, exist_ok=True)
    with (
        zmq.Context() as ctx,
        sockets.subscriber(ctx, f"ipc://{folder}/ticks", [wire.TICK_PREFIX], lossless=True) as sub,
    ):
        runner = subprocess.Popen(
            _runner(folder, recording, checkpoint, batch),
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        samples: dict[str, dict[str, float]] = {}
        seen = 0
        pending = list(marks)
        try:
            while pending and runner.poll() is None:
                if not sub.poll(1000):
                    continue
                while pending:
                    try:
                        sub.recv(zmq.NOBLOCK)
                        tick = wire.decode(sub.recv())
                    except zmq.Again:
                        break
                    seen = tick.ticks[-1].seq if isinstance(tick, TickBatch) else tick.seq
                    if seen >= pending[0]:
                        samples[f"{pending.pop(0)}"] = _rss_mib(runner.pid)
            runner.wait(1800)
        finally:
            if runner.poll() is None:
                runner.kill()
    growth: dict[str, float] = {}
    late_growth: dict[str, float] = {}
    if len(samples) == len(marks) >= 2:
        first, last = samples[str(marks[0])], samples[str(marks[-1])]
        growth = {name: last[name] / first[name] - 1.0 for name in first if name in last}
        if len(marks) >= 3:  # from the middle mark: growth once warmed up
            middle = samples[str(marks[-2])]
            late_growth = {name: last[name] / middle[name] - 1.0 for name in middle if name in last}
    return {
        "rss_mib": samples,
        "growth": growth,
        "late_growth": late_growth,
        "ticks_counted": seen,
    }


def _rss_mib(runner_pid: int) -> dict[str, float]:
    found: dict[str, float] = {}
    for child in psutil.Process(runner_pid).children(recursive=True):
        try:
            command = child.cmdline()
            rss = child.memory_info().rss
        except psutil.Error:
            continue
        for name in SERVICES:
            if f"services.{name}" in command:
                found[name] = rss / 2**20
    return found


def measure_tick_latency(
    folder: Path,
    checkpoint: Path,
    recording: Path,
    rate_per_s: float,
    seconds: float,
    model_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Tick (stamped at send) -> Target / Prediction at a sink process, through the model.

    Built like the chain's latency figure: this process publishes the paced
    ticks (`chain.paced_send`), a separate sink process (`bench.latency_sink`,
    in the executor's seat) receives; the real model replaces the relay.
    """
    folder.mkdir(parents=True, exist_ok=True)
    addr = f"ipc://{folder}"
    ticks = list(iter_ticks(recording))  # real ticks: a repeated one would never move a target
    result_path = folder / "latency.json"
    with (
        zmq.Context() as ctx,
        sockets.publisher(ctx, f"{addr}/lat-ticks") as pub,
        sockets.ready_replier(ctx, f"{addr}/lat-ready") as ready,
    ):
        sink = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.latency_sink",
                f"{addr}/lat-targets",
                f"{addr}/lat-predictions",
                f"{addr}/lat-ready",
                str(result_path),
            ],
            cwd=PROJECT_ROOT,
        )
        model = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.model",
                "--ckpt",
                str(checkpoint),
                "--ticks",
                f"{addr}/lat-ticks",
                "--predictions",
                f"{addr}/lat-predictions",
                "--targets",
                f"{addr}/lat-targets",
                "--ready",
                f"{addr}/lat-ready",
                "--logs",
                f"{addr}/lat-logs",
            ],
            cwd=PROJECT_ROOT,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PLR_MAX_POSITION": "0.01", **(model_env or {})},
        )
        try:
            sockets.wait_for_subscribers(
                pub, ready, ["model", "sink"], source="bench", timeout_s=60
            )
            paced_send(pub, ticks, rate_per_s, seconds)
            sockets.publish(pub, Eos(source="bench", last_seq=0, ts_ns=time.time_ns()))
            model.wait(60)
            sink.wait(60)
        finally:
            for proc in (model, sink):
                if proc.poll() is None:
                    proc.kill()
    delays: dict[str, Any] = json.loads(result_path.read_text())
    return {"rate_per_s": rate_per_s, **delays}
