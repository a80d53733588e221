"""CPU per tick of each service in a lossless replay (psutil), start-up CPU subtracted.

    python -m bench.cpu_per_tick RECORDING CHECKPOINT [--batch N (256)] [--rounds K]

Runs `orchestration.paper_live --replay RECORDING --speed 0` and samples each
service's CPU (its process, ZeroMQ's I/O thread included) until it exits; the
runner's own CPU is taken while the services run (its settlement afterwards is
not the pipeline's). A 200-tick run first measures each one's start-up CPU,
which is subtracted. CPU is steadier than ticks/s on a shared machine: compare
two commits by running this in each, back to back.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from common.messages import BATCH_MAX

SERVICES = ("feed", "model", "executor", "recorder")


def measure(recording: Path, checkpoint: Path, batch: int, max_ticks: int | None = None) -> dict:
    """One run: CPU seconds by service (and `runner`), ticks seen, ticks/s."""
    folder = Path(tempfile.mkdtemp(prefix="plr-cpu-"))
    command = [
        sys.executable, "-m", "orchestration.paper_live", "--replay", str(recording),
        "--speed", "0", "--replay-batch", str(batch), "--ckpt", str(checkpoint),
        "--address-dir", str(folder), "--artifacts-dir", str(folder / "artifacts"),
    ]  # fmt: skip
    if max_ticks is not None:
        command += ["--max-ticks", str(max_ticks)]
    runner = psutil.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu: dict[str, float] = {}
    try:
        while runner.poll() is None:
            _sample(runner, cpu)
            time.sleep(0.05)
        [result_path] = (folder / "artifacts").glob("*/result.json")
        result = json.loads(result_path.read_text())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "cpu_s": cpu,
        "ticks": max(result["counts"]["ticks_seen"].values()),
        "ticks_per_s": result["throughput"]["ticks_per_s"],
    }


def _sample(runner: psutil.Popen, cpu: dict[str, float]) -> None:
    try:
        children = runner.children(recursive=True)
        for child in children:
            try:
                line = " ".join(child.cmdline())
                times = child.cpu_times()
            except psutil.Error:
                continue
            for name in SERVICES:
                if f"services.{name}" in line:
                    cpu[name] = times.user + times.system
        if children and "feed" in cpu:  # the services run: the runner's share of the pipeline
            times = runner.cpu_times()
            cpu["runner"] = times.user + times.system
    except psutil.Error:
        pass


def per_tick_us(run: dict, start_up: dict) -> dict[str, float]:
    return {
        name: (seconds - start_up["cpu_s"].get(name, 0.0)) / run["ticks"] * 1e6
        for name, seconds in run["cpu_s"].items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_per_tick")
    parser.add_argument("recording", type=Path)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--batch", type=int, default=BATCH_MAX)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    start_up = measure(args.recording, args.checkpoint, args.batch, max_ticks=200)
    for _ in range(args.rounds):
        run = measure(args.recording, args.checkpoint, args.batch)
        us = per_tick_us(run, start_up)
        cells = "  ".join(f"{name} {us.get(name, 0.0):.1f}" for name in (*SERVICES, "runner"))
        total = sum(us.values())
        print(f"{run['ticks_per_s']:>9,.0f} ticks/s  us CPU/tick: {cells}  total {total:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
