"""Offline/live parity as a command: ``python -m orchestration.parity --ckpt PATH --ticks FILE``.

Replays the tick file through the live model service (a real `services.model`
process fed by a real `services.feed` replay over ZeroMQ, its targets taken
by this command as an executor would take them) and through the offline path
(`services.model.offline`, no sockets), and reports per symbol the number of
predictions on each side and the largest absolute difference of the
predictions and of the target positions, matched by tick. The two drive the
same `DecisionStack`, so anything but 0 is a defect: an estimator whose
output depends on how rows are batched, a feature source with hidden state,
a lost message.

Prints one line per symbol (or `--json`). Exit codes: 0 identical; 1 a
difference, or a service that failed (named); 2 bad usage or a checkpoint
that does not load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

import zmq

from common import sockets, wire
from common.addresses import Addresses
from common.errors import TickFileError
from common.messages import Eos, Hello, Prediction, PredictionBatch
from services.model.checkpoint import load_checkpoint
from services.model.errors import CheckpointError
from services.model.offline import predictions as offline_predictions
from services.model.plugins import add_plugin_paths
from services.model.service_config import DEFAULT_POLICY

PROJECT_ROOT: Final = Path(__file__).resolve().parents[1]
SILENCE_TIMEOUT_S: Final = 60.0  # no prediction for this long: a service is stuck or gone
NAME: Final = "parity"

Decision = tuple[float, float]  # (prediction, target position)


@dataclass
class SymbolParity:
    symbol: str
    offline: int  # predictions on the offline path
    live: int  # predictions from the live service
    unmatched: int  # ticks with a prediction on one side only
    max_abs_prediction_diff: float
    max_abs_target_diff: float

    @property
    def identical(self) -> bool:
        return (
            self.unmatched == 0
            and self.max_abs_prediction_diff == 0.0
            and self.max_abs_target_diff == 0.0
        )


def compare(
    offline: dict[tuple[str, int], Decision], live: dict[tuple[str, int], Decision]
) -> list[SymbolParity]:
    """Per symbol: counts, unmatched ticks and the largest differences (nan: NaN on one side)."""
    symbols = sorted({symbol for symbol, _ in offline} | {symbol for symbol, _ in live})
    report = []
    for symbol in symbols:
        ours = {k: v for k, v in offline.items() if k[0] == symbol}
        theirs = {k: v for k, v in live.items() if k[0] == symbol}
        both = ours.keys() & theirs.keys()
        value_diff = max((abs(ours[k][0] - theirs[k][0]) for k in both), default=0.0)
        target_diff = max((abs(ours[k][1] - theirs[k][1]) for k in both), default=0.0)
        report.append(
            SymbolParity(
                symbol,
                offline=len(ours),
                live=len(theirs),
                unmatched=len(ours.keys() ^ theirs.keys()),
                max_abs_prediction_diff=value_diff,
                max_abs_target_diff=target_diff,
            )
        )
    return report


class ServiceFailed(Exception):
    """A service of the live path exited or went silent; the message names it."""


def live_decisions(
    ckpt: Path, pin: str | None, ticks: Path, plugin_path: Sequence[Path], folder: Path
) -> dict[tuple[str, int], Decision]:
    """Replay `ticks` through real feed and model processes; every prediction, by tick."""
    addresses = Addresses.in_folder(folder)
    env = {**os.environ, **addresses.environ()}
    model_args = ["--ckpt", str(ckpt), "--lossless"]
    model_args += ["--ckpt-sha256", pin] if pin else []
    model_args += ["--plugin-path", ",".join(str(p) for p in plugin_path)] if plugin_path else []
    feed_args = ["--replay", str(ticks), "--speed", "0", "--expect", f"model,{NAME}"]
    decisions: dict[tuple[str, int], Decision] = {}
    with zmq.Context() as ctx, ServiceGroup(folder, env) as group:
        topics = [wire.PREDICTION_PREFIX, wire.EOS_TOPIC, wire.HELLO_TOPIC]
        with (
            sockets.subscriber(ctx, addresses.predictions, topics, lossless=True) as sub,
            # Taken as an executor takes them, so the model's position is the offline one's.
            sockets.target_puller(ctx, addresses.targets, lossless=True) as targets,
        ):
            group.start("model", "services.model", model_args)
            group.start("feed", "services.feed", feed_args)
            _collect(ctx, addresses, sub, targets, group, decisions)
            group.finish()
    return decisions


def _collect(
    ctx: zmq.Context[zmq.Socket[bytes]],
    addresses: Addresses,
    sub: zmq.Socket[bytes],
    targets: zmq.Socket[bytes],
    group: ServiceGroup,
    decisions: dict[tuple[str, int], Decision],
) -> None:
    poller = zmq.Poller()
    poller.register(sub, zmq.POLLIN)
    poller.register(targets, zmq.POLLIN)
    answered = False
    last_heard = time.monotonic()
    while True:
        ready = dict(poller.poll(500))
        if targets in ready:
            targets.recv()  # taken and dropped: only the model's side of it matters here
        if sub not in ready:
            group.check()
            if time.monotonic() - last_heard > SILENCE_TIMEOUT_S:
                raise ServiceFailed(f"no prediction for {SILENCE_TIMEOUT_S:g} s")
            continue
        last_heard = time.monotonic()
        _topic, payload = sub.recv_multipart()
        message = wire.decode(payload)
        if isinstance(message, Hello) and not answered:
            answered = sockets.answer_hello(ctx, addresses.ready, NAME, timeout_s=5)
        elif isinstance(message, Prediction):
            decisions[(message.symbol, message.tick_seq)] = (message.value, message.target_position)
        elif isinstance(message, PredictionBatch):
            for p in message.predictions:
                decisions[(p.symbol, p.tick_seq)] = (p.value, p.target_position)
        elif isinstance(message, Eos):
            return


class ServiceGroup:
    """The live path's processes; each one's output kept in `folder`, all stopped on exit."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> ServiceGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()

    def start(self, name: str, module: str, args: list[str]) -> None:
        with open(self.folder / f"{name}.stderr", "wb") as err:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                cwd=PROJECT_ROOT,
                stdout=err,
                stderr=subprocess.STDOUT,
                env=self.env,
            )

    def check(self) -> None:
        """Raise `ServiceFailed` naming a process that ended with an error."""
        for name, proc in self.procs.items():
            code = proc.poll()
            if code not in (None, 0):
                raise ServiceFailed(f"{name} failed (exit {code}): {self.last_line(name)}")

    def finish(self) -> None:
        for proc in self.procs.values():
            proc.wait(SILENCE_TIMEOUT_S)
        self.check()

    def last_line(self, name: str) -> str:
        lines = (self.folder / f"{name}.stderr").read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else "(no output)"


def offline_decisions(ckpt: Path, pin: str | None, ticks: Path) -> dict[tuple[str, int], Decision]:
    model = load_checkpoint(ckpt, pin, DEFAULT_POLICY)
    return {
        (p.symbol, p.tick_seq): (p.value, p.target_position)
        for p in offline_predictions(model, ticks)
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.parity")
    parser.add_argument("--ckpt", type=Path, required=True)
    parser.add_argument("--ckpt-sha256")
    parser.add_argument("--ticks", type=Path, required=True, help="tick file to replay")
    parser.add_argument(
        "--plugin-path", type=Path, action="append", default=[], help="folder to import from"
    )
    parser.add_argument("--json", action="store_true", help="the report as one JSON object")
    args = parser.parse_args(argv)
    plugin_path = [p.resolve() for p in args.plugin_path]
    try:
        add_plugin_paths(plugin_path)
        offline = offline_decisions(args.ckpt, args.ckpt_sha256, args.ticks)
    except (CheckpointError, TickFileError) as e:
        print(f"parity: {e}", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory(prefix="plr-parity-") as folder:
            live = live_decisions(
                args.ckpt.resolve(),
                args.ckpt_sha256,
                args.ticks.resolve(),
                plugin_path,
                Path(folder),
            )
    except ServiceFailed as e:
        print(f"parity: live path: {e}", file=sys.stderr)
        return 1
    report = compare(offline, live)
    if args.json:
        print(json.dumps({"symbols": [asdict(r) for r in report]}))
    for r in report if not args.json else ():
        print(
            f"{r.symbol}: {r.offline} offline, {r.live} live predictions, {r.unmatched} unmatched; "
            f"max |prediction diff| {r.max_abs_prediction_diff:g}, "
            f"max |target diff| {r.max_abs_target_diff:g}"
        )
    return 0 if report and all(r.identical for r in report) else 1


if __name__ == "__main__":
    sys.exit(main())
