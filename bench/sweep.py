"""A sweep against the same runs one after another: ``python -m bench.sweep [--smoke]``.

The same combinations (slices of the bundled recording x two checkpoints x
two taker fees), on the same machine in the same run of this script: each
as `python -m orchestration.paper_live`, one after another (a shell loop:
the baseline), and as one `python -m orchestration.sweep` on a local Dask
cluster (`--workers`, default 2), in rounds of alternating order (ABBA: the
machine's load drifts). Each reports the mean wall time (the sweep's
includes its cluster start, flag checks and comparison page), runs per
minute and ticks per second over all runs, and the sweep's ratio to the
baseline. Slices are cut before timing (both replay the same files). Not
part of `python -m bench`: it takes minutes of whole runs.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.recordings import BUNDLED, PROJECT_ROOT
from orchestration.sweep.combinations import Combination, combinations
from orchestration.sweep.slices import tick_sources
from orchestration.sweep.spec import load_spec
from services.model import train

RESULTS = Path(__file__).resolve().parent / "results" / "sweep.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep")
    parser.add_argument("--smoke", action="store_true", help="2 tiny runs, 1 round: proves it runs")
    parser.add_argument("--slices", type=int, default=3)
    parser.add_argument("--slice-ticks", type=int, default=5_000)
    parser.add_argument("--checkpoints", type=int, choices=(1, 2), default=2)
    parser.add_argument("--workers", type=int, default=2, help="the sweep's local cluster")
    parser.add_argument("--rounds", type=int, default=2, help="sequential and sweep, ABBA order")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.slices, args.slice_ticks, args.checkpoints, args.rounds = 1, 500, 1, 1
    with tempfile.TemporaryDirectory(prefix="plr-bench-sweep-") as tmp:
        figures = measure(Path(tmp), args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    for line in table(figures):
        print(line)
    print(f"figures written to {args.out}")
    return 0


def measure(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Sequential and sweep rounds in ABBA order (the machine's load drifts); the mean of each."""
    checkpoints = []
    for horizon in ("20", "100")[: args.checkpoints]:
        out = folder / f"h{horizon}.skops"
        train.main(
            ["--ticks", str(BUNDLED), "--out", str(out), "--policy", "linear", "--horizon", horizon]
        )
        checkpoints.append(out.name)
    spec = folder / "spec.toml"
    spec.write_text(
        f'[data]\nticks = "{BUNDLED}"\nslice_ticks = {args.slice_ticks}\n'
        f"max_slices = {args.slices}\n[models]\ncheckpoints = {json.dumps(checkpoints)}\n"
        "[grid]\ntaker-fee-bps = [40, 10]\n"
    )
    loaded = load_spec(spec)
    slices = folder / "slices"  # cut before timing: every side replays the same files
    found = combinations(loaded, tick_sources(loaded, slices))
    rounds: dict[str, list[dict[str, Any]]] = {"sequential": [], "sweep": []}
    order = [("sequential", "sweep"), ("sweep", "sequential")]
    for index in range(args.rounds):
        for mode in order[index % 2]:
            step(f"round {index + 1}: {mode}, {len(found)} runs")
            place = folder / f"{mode}-{index}"
            place.mkdir()
            if mode == "sequential":
                rounds[mode].append(_sequential(found, place / "runs"))
            else:
                (place / "slices").symlink_to(slices)
                rounds[mode].append(_sweep(spec, place, args.workers))
    figures: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "runs": len(found),
        "ticks_per_run": args.slice_ticks,
        "workers": args.workers,
        "rounds": rounds,
    }
    for mode, measured in rounds.items():
        wall_s = statistics.mean(m["wall_s"] for m in measured)
        figures[mode] = _figures(len(found), wall_s, measured[0]["ticks"])
    figures["sweep"]["vs_sequential"] = round(
        figures["sequential"]["wall_s"] / figures["sweep"]["wall_s"], 2
    )
    return figures


def _sequential(found: list[Combination], runs: Path) -> dict[str, Any]:
    """What a shell loop over the runner does: each run, one after another."""
    started = time.monotonic()
    for c in found:
        subprocess.run(
            [sys.executable, "-m", "orchestration.paper_live", *c.runner_args(runs)],
            cwd=PROJECT_ROOT,
            capture_output=True,
            check=True,
        )
    wall_s = time.monotonic() - started
    ticks = sum(
        json.loads((run / "result.json").read_text())["counts"]["ticks"] for run in runs.iterdir()
    )
    return _figures(len(found), wall_s, ticks)


def _sweep(spec: Path, place: Path, workers: int) -> dict[str, Any]:
    """The one command, start to end (cluster start, flag checks, comparison page included)."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "orchestration.sweep", str(spec), "--out", str(place)]
        + ["--workers", str(workers)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    )
    wall_s = time.monotonic() - started
    with open(place / "comparison.csv") as f:
        ticks = sum(int(r["ticks_replayed"]) for r in csv.DictReader(f))
    return _figures(len(list((place / "runs").iterdir())), wall_s, ticks)


def _figures(runs: int, wall_s: float, ticks: int) -> dict[str, Any]:
    return {
        "wall_s": round(wall_s, 1),
        "runs_per_min": round(runs / wall_s * 60, 2),
        "ticks_per_s": round(ticks / wall_s),
        "ticks": ticks,
    }


def table(figures: dict[str, Any]) -> list[str]:
    lines = [
        f"{figures['runs']} runs of {figures['ticks_per_run']:,} ticks, sweep on "
        f"{figures['workers']} workers, mean of {len(figures['rounds']['sweep'])} rounds "
        f"({figures['date']})",
        f"{'':<12}{'wall s':>8}{'runs/min':>10}{'ticks/s':>10}{'x seq':>7}",
    ]
    for name in ("sequential", "sweep"):
        f = figures[name]
        ratio = f.get("vs_sequential", 1.0)
        lines.append(
            f"{name:<12}{f['wall_s']:>8}{f['runs_per_min']:>10}{f['ticks_per_s']:>10,}{ratio:>7}"
        )
    return lines


def step(name: str) -> None:
    print(f"bench.sweep: {name}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
