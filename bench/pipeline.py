"""Pipeline figures: the real services, started as a user starts them, measured from outside.

- `measure_replay`: a lossless `--speed 0` replay through feed -> model ->
  executor -> recorder (the runner, `orchestration.paper_live`), one tick per
  message or batched (`--replay-batch`); ticks/s is the recorder's
  `throughput` (first tick in -> every stage's eos in), and the counts prove
  no stage lost a tick.
- `measure_memory`: the same replay, resident memory of each service when
  the N-th tick has gone by (a lossless subscriber of the ticks counts them).
- `measure_tick_latency`: this process plays the feed (ticks stamped with
  the send time, paced) and the executor's end of the targets socket; the real
  model process sits between. Tick -> target and tick -> prediction delays.
"""

from __future__ import annotations

import gc
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import psutil
import zmq

from bench.chain import percentiles_us
from common import sockets, wire
from common.messages import Eos, Prediction, Target, Tick
from common.tickfile import iter_ticks

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("feed", "model", "executor", "recorder")


def _runner(folder: Path, recording: Path, checkpoint: Path, batch: int = 1) -> list[str]:
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
    ]


def _result(folder: Path) -> dict[str, Any]:
    [run] = (folder / "artifacts").iterdir()
    result: dict[str, Any] = json.loads((run / "result.json").read_text())
    return result


def measure_replay(
    folder: Path, recording: Path, checkpoint: Path, ticks: int, batch: int = 1
) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        _runner(folder, recording, checkpoint, batch),
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
        "orders": counts["orders"],
        "fills": counts["fills"],
        "ticks_per_s": result["throughput"]["ticks_per_s"],
        "wall_s": result["throughput"]["wall_s"],
    }


def measure_memory(
    folder: Path, recording: Path, checkpoint: Path, marks: tuple[int, ...]
) -> dict[str, Any]:
    """Resident MiB of each service once `marks[i]` ticks have been published."""
    folder.mkdir(parents=True, exist_ok=True)
    with (
        zmq.Context() as ctx,
        sockets.subscriber(ctx, f"ipc://{folder}/ticks", [wire.TICK_PREFIX], lossless=True) as sub,
    ):
        runner = subprocess.Popen(
            _runner(folder, recording, checkpoint),
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
                        sub.recv()
                    except zmq.Again:
                        break
                    seen += 1
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
    """Tick (stamped at send) -> Target / Prediction back here, through the model process."""
    folder.mkdir(parents=True, exist_ok=True)
    addr = f"ipc://{folder}"
    ticks = list(iter_ticks(recording))
    with (
        zmq.Context() as ctx,
        sockets.publisher(ctx, f"{addr}/lat-ticks") as pub,
        sockets.ready_replier(ctx, f"{addr}/lat-ready") as ready,
        sockets.target_puller(ctx, f"{addr}/lat-targets") as targets,
    ):
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
        predictions = sockets.subscriber(ctx, f"{addr}/lat-predictions", [b"pred."])
        try:
            sockets.wait_for_subscribers(pub, ready, ["model"], source="bench", timeout_s=60)
            delays = _paced_round_trips(pub, targets, predictions, ticks, rate_per_s, seconds)
            sockets.publish(pub, Eos(source="bench", last_seq=0, ts_ns=time.time_ns()))
            model.wait(60)
        finally:
            predictions.close()
            if model.poll() is None:
                model.kill()
    return {
        "rate_per_s": rate_per_s,
        "tick_to_target": percentiles_us(delays["target"]) if delays["target"] else None,
        "tick_to_prediction": percentiles_us(delays["prediction"])
        if delays["prediction"]
        else None,
    }


def _paced_round_trips(
    pub: zmq.Socket,
    targets: zmq.Socket,
    predictions: zmq.Socket,
    ticks: list[Tick],
    rate_per_s: float,
    seconds: float,
) -> dict[str, list[int]]:
    """Send on schedule; between sends, wait on the replies (one thread, one clock).

    The collector is frozen first: this process holds the whole recording, and a
    full collection walking it would be a pause of ours, not the pipeline's.
    """
    gc.collect()
    gc.freeze()
    delays: dict[str, list[int]] = {"target": [], "prediction": []}
    poller = zmq.Poller()
    poller.register(targets, zmq.POLLIN)
    poller.register(predictions, zmq.POLLIN)
    replace = msgspec.structs.replace
    total = int(rate_per_s * seconds)
    started = time.perf_counter()
    sent = 0
    drain_until = None
    while drain_until is None or time.perf_counter() < drain_until:
        due = started + sent / rate_per_s
        wait_ms = max(0.0, (due - time.perf_counter()) * 1000) if sent < total else 50.0
        # Whole milliseconds, rounded up: pyzmq truncates a fraction to 0, and a
        # busy loop here would take the CPU the model needs. A late send is
        # harmless (ticks are stamped when sent); replies still wake the poll.
        for sock, _ in poller.poll(math.ceil(wait_ms)):
            _take_replies(sock, delays)
        if sent < total and time.perf_counter() >= due:
            tick = ticks[sent % len(ticks)]
            sockets.publish(pub, replace(tick, seq=sent + 1, recv_ts_ns=time.time_ns()))
            sent += 1
            if sent == total:
                drain_until = time.perf_counter() + 1.0  # the last replies still count
    return delays


def _take_replies(sock: zmq.Socket, delays: dict[str, list[int]]) -> None:
    while True:
        try:
            payload = sock.recv(zmq.NOBLOCK)
            if sock.getsockopt(zmq.RCVMORE):
                payload = sock.recv()
        except zmq.Again:
            return
        now_ns = time.time_ns()
        message = wire.decode(payload)
        if isinstance(message, Target):
            delays["target"].append(now_ns - message.tick_ts_ns)
        elif isinstance(message, Prediction):
            delays["prediction"].append(now_ns - message.tick_ts_ns)
