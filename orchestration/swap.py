"""Swap a running run's executor: ``python -m orchestration.swap RUN_DIR --to live|paper``.

Stops the run's executor and starts the other kind with the run's own
settings; the feed, model and recorder keep running (docs/ARCHITECTURE.md,
"Swapping the executor"). Live needs `--no-paper-mode --live-executor` and
every variable of the live gate in this command's environment, exactly as at
a run's start, and a `--use-ws` run. Those are checked here first, then again
by the runner, which alone hands them (credentials included) to the new
executor process.

Prints one line. Exit codes: 0 swapped; 2 refused, nothing changed (a
missing opt-in, a replay run, already that kind, bad usage); 1 the run is not
running, or the new executor did not come up (the runner then runs a paper
executor, or stops the run if even that fails).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from orchestration.control import SWAP_VARIABLES, NotRunning, SwapRequest, ask, runner_address
from services.executor.gate import missing_live_opt_ins

PROG: Final = "python -m orchestration.swap"
# The runner stops the old executor (a live one lets its orders settle) and
# waits for the new one to reconcile and trade: both bounded there.
REPLY_TIMEOUT_S: Final = 180.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="the running run's folder (its artifacts)")
    parser.add_argument("--to", choices=("live", "paper"), required=True)
    parser.add_argument("--no-paper-mode", action="store_true", help="live: the first opt-in")
    parser.add_argument("--live-executor", action="store_true", help="live: the second opt-in")
    args = parser.parse_args(argv)
    request = SwapRequest(
        to=args.to,
        no_paper_mode=args.no_paper_mode,
        live_executor=args.live_executor,
        environ={k: os.environ[k] for k in SWAP_VARIABLES if k in os.environ}
        if args.to == "live"
        else {},
    )
    if args.to == "live":
        missing = missing_live_opt_ins(
            no_paper_mode=args.no_paper_mode, live_executor=args.live_executor, environ=os.environ
        )
        if not _live_data(args.run_dir):
            missing.append("a --use-ws run (live orders never run on a replay)")
        if missing:
            return _say(
                2, f"live execution refused; missing: {', '.join(missing)}; nothing changed"
            )
    try:
        address = runner_address(args.run_dir)
        reply = ask(address, request, REPLY_TIMEOUT_S)
    except NotRunning as e:
        return _say(1, str(e))
    except (TimeoutError, ValueError) as e:
        return _say(1, f"{e}; see the run's run.log")
    return _say(reply.code, reply.detail)


def _live_data(run_dir: Path) -> bool:
    """Whether the run reads live market data (its config.json, which holds no secret)."""
    try:
        return bool(json.loads((run_dir / "config.json").read_text()).get("PLR_USE_WS") == "1")
    except (OSError, ValueError):
        return True  # no config to read: the runner checks it (and says "not running")


def _say(code: int, line: str) -> int:
    print(f"swap: {line}", file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())
