"""``python -m orchestration.sweep SPEC``: every combination of a spec as its own run, on Dask.

Reads the spec (docs/SWEEPS.md), cuts slices, checks every run's flags as
the runner will, then sends each combination that is not already done to
the engine (`engine.py`) and follows them (`progress.py`). At the end it
writes `comparison.csv` and `comparison.html` in the sweep folder, prints the
top runs and one summary line: how many ran, failed, and were skipped.
Rerunning the same command skips finished runs and redoes the rest.

Exit codes: 0 every run done; 1 some failed (named in the table, their
reasons in the state files); 2 a bad spec or flag, a sweep folder another
sweep holds, Dask missing or its scheduler unreachable, before any run starts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from common.config import parse_settings
from common.errors import ConfigError, TickFileError
from orchestration.sweep import engine
from orchestration.sweep.combinations import Combination, combinations, flag_args
from orchestration.sweep.plot import comparison_page, write_page
from orchestration.sweep.progress import ProgressPrinter, progress_text
from orchestration.sweep.slices import tick_sources
from orchestration.sweep.spec import SweepSpec, load_spec
from orchestration.sweep.state import (
    RunState,
    claim_sweep,
    needs_run,
    read_json,
    read_state,
    write_state,
)
from orchestration.sweep.table import row, top_lines, write_csv
from orchestration.sweep.task import run_combination

PROG: Final = "python -m orchestration.sweep"
DEFAULT_SWEEPS: Final = Path("experiments/sweeps")
WAIT_S: Final = 1.0  # the progress line's refresh: the longest wait for a finished run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", type=Path, help="the sweep's TOML spec (docs/SWEEPS.md)")
    parser.add_argument(
        "--out",
        type=Path,
        help="sweep folder (default: the spec's [sweep] out, else experiments/sweeps/<name>)",
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        help="local cluster: runs at once "
        f"(default: one per two cores, here {engine.default_workers()})",
    )
    parser.add_argument(
        "--scheduler",
        help="a running Dask scheduler's address "
        "(tcp://host:8786): submit there instead of a local cluster",
    )
    parser.add_argument("--top", type=_positive, default=10, help="runs printed at the end")
    args = parser.parse_args(argv)
    if args.scheduler and args.workers:
        print(
            "sweep: --workers sizes a local cluster; a --scheduler's cluster is its own",
            file=sys.stderr,
        )
        return 2
    try:
        spec = load_spec(args.spec)
        folder = (args.out or spec.out or DEFAULT_SWEEPS / spec.name).resolve()
        lock = claim_sweep(folder)
    except ConfigError as e:
        print(f"sweep: {e}", file=sys.stderr)
        return 2
    try:
        try:
            found = _plan(spec, folder)
        except (ConfigError, TickFileError) as e:
            print(f"sweep: {e}", file=sys.stderr)
            return 2
        return _sweep(spec, folder, found, args)
    finally:
        lock.close()


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _plan(spec: SweepSpec, folder: Path) -> list[Combination]:
    """Every combination, its flags checked as the runner reads them (a bad one: nothing runs)."""
    from orchestration import paper_live  # deferred: about a second of imports

    found = combinations(spec, tick_sources(spec, folder / "slices"))
    for flags in dict.fromkeys(c.flags for c in found):
        try:
            parse_settings(paper_live.RunnerConfig, paper_live.PROG, flag_args(flags), {})
        except ConfigError as e:
            raise ConfigError(f"spec {spec.path.name}: {e}") from None
    (folder / "spec.toml").write_text(spec.text)  # the spec as last run, beside its results
    return found


def _sweep(
    spec: SweepSpec, folder: Path, found: list[Combination], args: argparse.Namespace
) -> int:
    runs = folder / "runs"
    todo = []
    for c in found:
        state = read_state(folder, c.key)
        if needs_run(state, read_json(runs / c.run_id / "result.json")):
            todo.append(c)
            previous = state or {}
            write_state(
                folder,
                c.key,
                {
                    "key": c.key,
                    "run_id": c.run_id,
                    "combination": c.describe(),
                    "state": RunState.PENDING,
                    "attempts": previous.get("attempts", 0),
                    "ticks_done": 0,
                },
            )
    skipped = len(found) - len(todo)
    print(
        f"sweep: {len(found)} runs in {folder} ({skipped} done before, {len(todo)} to run)",
        file=sys.stderr,
    )
    outcomes: dict[str, dict[str, Any]] = {}
    if todo:
        try:
            client, where = engine.start(args.scheduler, args.workers)
        except ConfigError as e:
            print(f"sweep: {e}", file=sys.stderr)
            return 2
        print(f"sweep: running on {where}", file=sys.stderr)
        try:
            outcomes = _follow(client, folder, todo)
        except KeyboardInterrupt:
            # A local cluster's workers stop with it, and their runners with them (task.py).
            print("sweep: interrupted; rerun the same command to finish", file=sys.stderr)
            return 1
        finally:
            engine.stop(client)
    rows = [
        row(c, read_state(folder, c.key), read_json(runs / c.run_id / "result.json")) for c in found
    ]
    write_csv(folder / "comparison.csv", rows)
    write_page(folder / "comparison.html", comparison_page(spec.text, rows, runs))
    for line in top_lines(rows, args.top):
        print(f"sweep: {line}")
    ran = sum(1 for o in outcomes.values() if o["state"] == RunState.DONE)
    failed = len(outcomes) - ran
    print(
        f"sweep: {len(found)} runs: {ran} ran, {failed} failed, {skipped} skipped (done before); "
        f"table {folder / 'comparison.csv'}, plots {folder / 'comparison.html'}"
    )
    return 0 if failed == 0 else 1


def _follow(client: Any, folder: Path, todo: list[Combination]) -> dict[str, dict[str, Any]]:
    """Submit every run, then wait for each, showing progress; the final record of each."""
    from dask.distributed import wait

    runs = folder / "runs"
    futures = {
        client.submit(
            run_combination,
            str(folder),
            c.key,
            c.run_id,
            c.runner_args(runs),
            c.describe(),
            key=f"sweep-{c.run_id}",
            pure=False,
        ): c
        for c in todo
    }
    outcomes: dict[str, dict[str, Any]] = {}
    printer = ProgressPrinter()
    pending = set(futures)
    while pending:
        try:
            finished, pending = wait(  # type: ignore[no-untyped-call]
                pending, timeout=WAIT_S, return_when="FIRST_COMPLETED"
            )
        except TimeoutError:  # none finished within the refresh: show progress, wait again
            finished = set()
        for future in finished:
            c = futures[future]
            outcomes[c.key] = _outcome(future, folder, c)
            if outcomes[c.key]["state"] != RunState.DONE:
                print(
                    f"sweep: {c.run_id} ({c.ticks.label}) failed: {outcomes[c.key].get('reason')}",
                    file=sys.stderr,
                )
        if printer.due(force=not pending):  # the state files are read only for a line shown
            states = [read_state(folder, c.key) for c in todo]
            printer.show(progress_text(states, printer.elapsed_s), force=True)
    return outcomes


def _outcome(future: Any, folder: Path, c: Combination) -> dict[str, Any]:
    """The run's final record; a task the engine lost (its worker died too often) is failed."""
    try:
        record: dict[str, Any] = future.result()
        return record
    except Exception as e:  # the engine's error for a lost task: KilledWorker, CommClosedError, ...
        record = read_state(folder, c.key) or {
            "key": c.key,
            "run_id": c.run_id,
            "combination": c.describe(),
        }
        record |= {
            "state": RunState.FAILED,
            "reason": f"lost by the engine: {type(e).__name__}: {e}",
        }
        write_state(folder, c.key, record)
        return record
