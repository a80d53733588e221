"""The one-command paper-live run: ``python -m orchestration.paper_live``.

Starts the four services the `Procfile` names (recorder, model, executor,
feed), with one run id and one environment, waits for them (the feed starts
only once the others proved they receive), shows progress, stops them
cleanly on `--max-ticks`, the end of the replay or Ctrl-C, and prints where
the artifacts are. With no arguments: a paper run over the bundled
recording, with a model trained on it on first use.

Live orders (`--no-paper-mode --live-executor`) need every opt-in of the
live gate and live market data (`--use-ws`): a replay never drives real
orders. Exit codes: 0 a complete run; 1 a service failed (named) or the run
was interrupted; 2 bad usage, or a live request without every opt-in (before
any process, socket or network call).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from honcho.environ import parse_procfile

from common.errors import ConfigError, TickFileError
from common.runs import DEFAULT_ARTIFACTS_DIR, check_run_id, new_run_id, run_dir
from common.tickfile import TickFileReader
from orchestration.progress import Progress
from services.executor.gate import missing_live_opt_ins
from services.feed.feed_config import check_replay_batch

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_TICKS = PROJECT_ROOT / "data" / "binance_btcusdt_spot_2024-08-08_10min.ticks.gz"
DEFAULT_MODEL = PROJECT_ROOT / "experiments" / "models" / "bundled.pkl"
SHUTDOWN_TIMEOUT_S = 60.0
# A fast replay batches ticks (TickBatch) unless told otherwise: every decision,
# fill and artifact is the same as unbatched (tested), at 1.5-2x the rate (bench/README.md).
FAST_REPLAY_BATCH = 64


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m orchestration.paper_live")
    parser.add_argument(
        "--ckpt", type=Path, help="model checkpoint (default: trained on first use)"
    )
    parser.add_argument("--ckpt-sha256", help="pin, if the checkpoint has no .sha256 sidecar")
    parser.add_argument("--use-ws", action="store_true", help="live Kraken WS v2 market data")
    parser.add_argument("--replay", type=Path, help="tick file (default: the bundled recording)")
    parser.add_argument("--max-ticks", type=int)
    parser.add_argument("--no-paper-mode", action="store_true")
    parser.add_argument("--live-executor", action="store_true")
    parser.add_argument("--max-order-notional", type=float)
    parser.add_argument("--max-position", type=float)
    parser.add_argument("--max-loss", type=float)
    parser.add_argument("--symbols", default=None, help="live symbols, e.g. BTC/USD,ETH/USD")
    parser.add_argument("--speed", type=float, default=0.0, help="replay pace (0 = fastest)")
    parser.add_argument(
        "--replay-batch",
        type=int,
        help=f"ticks per message at speed 0 (default {FAST_REPLAY_BATCH}: same results, "
        "faster; 1 = one tick per message)",
    )
    parser.add_argument("--run-id")
    parser.add_argument("--artifacts-dir", type=Path, default=DEFAULT_ARTIFACTS_DIR)
    parser.add_argument("--ws-url")
    parser.add_argument(
        "--address-dir",
        type=Path,
        help="use ipc:// sockets in this folder instead of the loopback ports",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.no_paper_mode or args.live_executor:
        missing = missing_live_opt_ins(
            no_paper_mode=args.no_paper_mode, live_executor=args.live_executor, environ=os.environ
        )
        if not args.use_ws:
            missing.append("--use-ws (live orders never run on a replay)")
        if missing:
            print(
                f"paper_live: live execution refused; missing: {', '.join(missing)}; "
                "nothing was started",
                file=sys.stderr,
            )
            return 2
        print(
            f"paper_live: LIVE execution via {os.environ['LIVE_EXECUTOR_PROVIDER']}: "
            "real orders will be sent",
            file=sys.stderr,
        )
    try:
        plan = _plan(args)
    except (ConfigError, TickFileError, ValueError) as e:
        print(f"paper_live: {e}", file=sys.stderr)
        return 2
    return _run(plan)


def _plan(args: argparse.Namespace) -> dict[str, Any]:
    if args.max_ticks is not None and args.max_ticks <= 0:
        raise ConfigError("--max-ticks must be positive")
    fast_replay = not args.use_ws and args.speed == 0
    if args.replay_batch is None:
        args.replay_batch = FAST_REPLAY_BATCH if fast_replay else 1
    check_replay_batch(args.replay_batch, fast_replay=fast_replay)
    run_id = check_run_id(args.run_id) if args.run_id else new_run_id()
    folder = run_dir(args.artifacts_dir, run_id).resolve()
    ckpt = args.ckpt or _default_model()
    env: dict[str, str] = {
        "PLR_RUN_DIR": str(folder),
        "PLR_CKPT": str(ckpt),
        "PLR_EXPECT": "model,executor,recorder",
        "PLR_CONFIG_JSON": str(folder / "config.json"),
        "PLR_MODE": "paper",
        "PLR_EXECUTOR_CLASS": "PaperOrderExecutor",
        "PLR_STAY_AFTER_EOS": "0",  # this runner stops the services itself
    }
    if args.no_paper_mode and args.live_executor:  # main() checked every other opt-in
        env |= {
            "PLR_NO_PAPER_MODE": "1",
            "PLR_LIVE_EXECUTOR": "1",
            "PLR_MODE": "live",
            "PLR_EXECUTOR_CLASS": "LiveOrderExecutor",
        }
    total = None
    if args.use_ws:
        symbols = args.symbols or "BTC/USD"
        env |= {"PLR_USE_WS": "1", "PLR_SYMBOLS": symbols, "PLR_VENUE": "kraken"}
        if args.ws_url:
            env["KRAKEN_WS_URL"] = args.ws_url
    else:
        replay = (args.replay or BUNDLED_TICKS).resolve()
        with TickFileReader(replay) as reader:
            header = reader.header
        env |= {
            "PLR_REPLAY": str(replay),
            "PLR_SPEED": repr(args.speed),
            "PLR_REPLAY_BATCH": str(args.replay_batch),
            "PLR_LOSSLESS": "1",
            "PLR_VENUE": header.venue,
            "PLR_SYMBOLS": ",".join(header.symbols),
        }
        total = args.max_ticks or _count_ticks(replay)
    optional = {
        "PLR_MAX_TICKS": args.max_ticks,
        "PLR_MAX_ORDER_NOTIONAL": args.max_order_notional,
        "PLR_MAX_POSITION": args.max_position,
        "PLR_MAX_LOSS": args.max_loss,
        "PLR_CKPT_SHA256": args.ckpt_sha256,
    }
    env |= {key: str(value) for key, value in optional.items() if value is not None}
    if args.address_dir is not None:
        base = args.address_dir.resolve()
        env |= {
            f"PLR_{name}_ADDR": f"ipc://{base}/{name.lower()}"
            for name in ("TICKS", "PREDICTIONS", "TARGETS", "EVENTS", "READY", "LOGS", "PROGRESS")
        }
    public = {k: v for k, v in sorted(env.items()) if "SECRET" not in k and "KEY" not in k}
    (folder / "config.json").write_text(json.dumps(public, indent=2) + "\n")
    return {
        "env": env,
        "folder": folder,
        "total": total,
        "ticks_addr": env.get("PLR_TICKS_ADDR", "tcp://127.0.0.1:5555"),
    }


def _default_model() -> Path:
    if not DEFAULT_MODEL.is_file():
        print(
            "paper_live: training the default model on the bundled recording (first run)",
            file=sys.stderr,
        )
        from services.model import train  # deferred: only the first run needs it

        if train.main(["--ticks", str(BUNDLED_TICKS), "--out", str(DEFAULT_MODEL)]) != 0:
            raise ConfigError("could not train the default model")
    return DEFAULT_MODEL


def _count_ticks(path: Path) -> int:
    with TickFileReader(path) as reader:
        return reader.count_records()


def _run(plan: dict[str, Any]) -> int:
    folder: Path = plan["folder"]
    env = {**os.environ, **plan["env"]}
    commands = parse_procfile((PROJECT_ROOT / "Procfile").read_text()).processes
    procs: dict[str, subprocess.Popen[bytes]] = {}
    interrupted = False

    def on_interrupt(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True

    signal.signal(signal.SIGINT, on_interrupt)
    signal.signal(signal.SIGTERM, on_interrupt)
    for name, command in commands.items():  # the Procfile's order: recorder first, feed last
        argv = [sys.executable if part == "python" else part for part in shlex.split(command)]
        log_file = open(folder / f"{name}.stderr", "wb")
        procs[name] = subprocess.Popen(
            argv,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()
    print(f"paper_live: run {folder.name} started ({', '.join(procs)})", file=sys.stderr)
    progress = Progress(plan["ticks_addr"], plan["total"])
    failed: list[str] = []
    stop_sent = False
    try:
        while any(p.poll() is None for p in procs.values()):
            progress.update()
            failed = [n for n, p in procs.items() if p.poll() not in (None, 0)]
            if (failed or interrupted) and not stop_sent:
                _stop(procs, first="feed")
                stop_sent = True
            time.sleep(0.2)  # the monitor's refresh interval, not a synchronisation
    finally:
        progress.close()
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT_S
        for proc in procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
    failed = [n for n, p in procs.items() if p.returncode != 0]
    return _report(folder, procs, failed, interrupted)


def _stop(procs: dict[str, subprocess.Popen[bytes]], first: str) -> None:
    # The feed goes first: its eos lets the others drain and the recorder finish.
    for name in [first, *[n for n in procs if n != first]]:
        if procs[name].poll() is None:
            procs[name].send_signal(signal.SIGTERM)
            if name == first:
                try:
                    procs[name].wait(10)
                except subprocess.TimeoutExpired:
                    pass


def _report(
    folder: Path, procs: dict[str, subprocess.Popen[bytes]], failed: list[str], interrupted: bool
) -> int:
    result_path = folder / "result.json"
    if result_path.is_file() and (failed or interrupted):
        from services.recorder.artifacts import write_json_atomically

        result = json.loads(result_path.read_text())
        result["exit_reason"] = (
            "interrupted" if interrupted else "service_failed: " + ", ".join(failed)
        )
        write_json_atomically(result_path, result)
    for name in failed:
        tail = (folder / f"{name}.stderr").read_text(errors="replace").strip().splitlines()[-1:]
        print(
            f"paper_live: {name} failed (exit {procs[name].returncode}): "
            f"{tail[0] if tail else 'no output'}",
            file=sys.stderr,
        )
    if result_path.is_file():
        result = json.loads(result_path.read_text())
        counts, pnl = result["counts"], result["pnl"]
        print(
            f"paper_live: {result['exit_reason']}: {counts['ticks']} ticks, "
            f"{counts['predictions']} predictions, {counts['orders']} orders, "
            f"{counts['fills']} fills, PnL {pnl['total']:+.2f} (fees {pnl['fees']:.2f})"
        )
    print(f"paper_live: artifacts in {folder}: run.log, result.json, events.jsonl, ticks.gz")
    return 1 if failed or interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
