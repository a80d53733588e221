"""A sweep against the same runs one after another: ``python -m bench.sweep [--smoke]``.

The same combinations (slices of the bundled recording x two checkpoints x
two taker fees), on the same machine in the same run of this script:
first each as `python -m orchestration.paper_live` in a shell-loop style
sequence (the baseline), then as one `python -m orchestration.sweep` on a
local Dask cluster of 1 worker (the default on 2 cores: one run per two
cores) and of 2 workers. Each reports wall time (the sweep's includes its
cluster start, flag checks and comparison page), runs per minute and ticks
per second over all runs, and its ratio to the baseline. Slices are cut
before timing (both sides replay the same files). Not part of `python -m
bench`: it takes minutes of whole runs.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.recordings import BUNDLED, PROJECT_ROOT
from orchestration.sweep.combinations import combinations
from orchestration.sweep.slices import tick_sources
from orchestration.sweep.spec import load_spec
from services.model import train

RESULTS = Path(__file__).resolve().parent / "results" / "sweep.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep")
    parser.add_argument("--smoke", action="store_true", help="2 tiny runs: proves it runs")
    parser.add_argument("--slices", type=int, default=3)
    parser.add_argument("--slice-ticks", type=int, default=5_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    slices, slice_ticks = (1, 500) if args.smoke else (args.slices, args.slice_ticks)
    with tempfile.TemporaryDirectory(prefix="plr-bench-sweep-") as tmp:
        figures = measure(Path(tmp), slices, slice_ticks, smoke=args.smoke)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    for line in table(figures):
        print(line)
    print(f"figures written to {args.out}")
    return 0


def measure(folder: Path, slices: int, slice_ticks: int, *, smoke: bool) -> dict[str, Any]:
    checkpoints = []
    for name, horizon in (("h20", "20"), ("h100", "100"))[: 1 if smoke else 2]:
        out = folder / f"{name}.skops"
        train.main(
            ["--ticks", str(BUNDLED), "--out", str(out), "--policy", "linear"]
            + ["--horizon", horizon]
        )
        checkpoints.append(out.name)
    spec = folder / "spec.toml"
    spec.write_text(
        f'[data]\nticks = "{BUNDLED}"\nslice_ticks = {slice_ticks}\nmax_slices = {slices}\n'
        f"[models]\ncheckpoints = {json.dumps(checkpoints)}\n"
        "[grid]\ntaker-fee-bps = [40, 10]\n"
    )
    loaded = load_spec(spec)
    sweep_folder = folder / "sweep-w1"
    found = combinations(loaded, tick_sources(loaded, sweep_folder / "slices"))
    for other in ("sweep-w2",):  # the same slice files for every side, cut before timing
        (folder / other).mkdir()
        (folder / other / "slices").symlink_to(sweep_folder / "slices")
    step(f"sequential: {len(found)} runs, one after another")
    started = time.monotonic()
    for c in found:
        subprocess.run(
            [sys.executable, "-m", "orchestration.paper_live", *c.runner_args(folder / "seq")],
            cwd=PROJECT_ROOT,
            capture_output=True,
            check=True,
        )
    sequential = _figures(len(found), time.monotonic() - started, _ticks_of(folder / "seq"))
    figures: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "runs": len(found),
        "ticks_per_run": slice_ticks,
        "sequential": sequential,
    }
    for workers in (2, 1):
        step(f"sweep on {workers} worker(s)")
        out = folder / f"sweep-w{workers}"
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "orchestration.sweep", str(spec), "--out", str(out)]
            + ["--workers", str(workers)],
            cwd=PROJECT_ROOT,
            capture_output=True,
            check=True,
        )
        wall_s = time.monotonic() - started
        with open(out / "comparison.csv") as f:
            ticks = sum(int(r["ticks_replayed"]) for r in csv.DictReader(f))
        measured = _figures(len(found), wall_s, ticks)
        measured["vs_sequential"] = round(sequential["wall_s"] / wall_s, 2)
        figures[f"sweep_{workers}_workers"] = measured
    return figures


def _figures(runs: int, wall_s: float, ticks: int) -> dict[str, Any]:
    return {
        "wall_s": round(wall_s, 1),
        "runs_per_min": round(runs / wall_s * 60, 2),
        "ticks_per_s": round(ticks / wall_s),
        "ticks": ticks,
    }


def _ticks_of(artifacts: Path) -> int:
    return sum(
        json.loads((run / "result.json").read_text())["counts"]["ticks"]
        for run in artifacts.iterdir()
    )


def table(figures: dict[str, Any]) -> list[str]:
    lines = [f"{figures['runs']} runs of {figures['ticks_per_run']:,} ticks ({figures['date']})"]
    lines.append(f"{'':<20}{'wall s':>8}{'runs/min':>10}{'ticks/s':>10}{'x seq':>7}")
    for name in ("sequential", "sweep_1_workers", "sweep_2_workers"):
        f = figures[name]
        ratio = f.get("vs_sequential", 1.0)
        lines.append(
            f"{name:<20}{f['wall_s']:>8}{f['runs_per_min']:>10}{f['ticks_per_s']:>10,}{ratio:>7}"
        )
    return lines


def step(name: str) -> None:
    print(f"bench.sweep: {name}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
