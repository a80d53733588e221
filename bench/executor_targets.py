"""The executor's CPU for the model's targets, against the ticks alone, in one run.

    python -m bench.executor_targets [--rounds 5] [--ticks 85175]

In-process: the executor the service builds for the demo (paper, a spot
account, Kraken's starter-tier rate limits, the default risk limits) behind
its `Sequencer`, journaling to a temporary folder and publishing its events on
a real PUB socket, takes the bundled recording as a batched replay sends it
(64 ticks a `TickBatch`) and, after each batch, what the demo's model
pushes for it: its targets as one `TargetBatch`, or a `Watermark`
(`DecisionStack` decides them, the per-tick path the service's batch paths
equal). Both are decoded from their bytes, as the sockets give them.

Baseline, same run: the same stream with every target left out (a watermark
at each batch's end): what the ticks alone cost the executor. Rounds
alternate between the two; process CPU, the minimum of the rounds (this
machine's neighbours only ever add time). The difference per target is what
one target costs the executor: the order path (lot, funds, risk and rate
checks), splitting the batch's quiet run at its tick, and its events'
journal line and message. (Nothing subscribes to the events socket: the
messages are built and handed to ZeroMQ, which drops them, so a transfer's
cost is not in the figure; in the service it is the I/O thread's.)
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import zmq

from bench.recordings import BUNDLED
from common import sockets, wire
from common.messages import Message, Target, TargetBatch, Tick, TickBatch, Watermark
from common.tickfile import iter_ticks
from services.executor.__main__ import build_engine, prepare
from services.executor.executor_config import ExecutorConfig
from services.executor.outbox import Outbox
from services.executor.sequencer import Sequencer
from services.model import train
from services.model.checkpoint import load_checkpoint
from services.model.decision import DecisionStack
from services.model.service_config import DEFAULT_POLICY

BATCH = 64
MODEL = "model"
# What the runner tells the demo's executor (orchestration.paper_live) besides its sockets.
DEMO_ENVIRONMENT = {
    "PLR_VENUE": "binance",
    "PLR_SYMBOLS": "BTC/USDT",
    "PLR_LOSSLESS": "1",
    "PLR_MODE": "paper",
}


def model_stream(checkpoint: Path, ticks: list[Tick]) -> list[tuple[bytes, bytes]]:
    """Each batch's `TickBatch` bytes, then the bytes the model pushes for that batch."""
    stack = DecisionStack(load_checkpoint(checkpoint, None, DEFAULT_POLICY), ttl_ms=5_000)
    stream: list[tuple[bytes, bytes]] = []
    for start in range(0, len(ticks), BATCH):
        batch = ticks[start : start + BATCH]
        observed = [stack.observe(tick) for tick in batch]
        targets: list[Target] = []
        for seen, value in zip(observed, stack.predict(observed), strict=True):
            _prediction, target = stack.decide(seen, value, batch[-1].recv_ts_ns)
            if target is not None:
                stack.mark_sent(target)
                targets.append(target)
        through = batch[-1].seq
        pushed: Message = (
            TargetBatch(source=MODEL, targets=targets, through=through)
            if targets
            else Watermark(source=MODEL, tick_seq=through)
        )
        tick_batch = TickBatch(symbol=batch[0].symbol, ticks=batch)
        stream.append((wire.encode(tick_batch), wire.encode(pushed)))
    return stream


def without_targets(stream: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The same ticks, each batch's targets left out: a watermark at its end."""
    bare = []
    for ticks, pushed in stream:
        message = wire.decode(pushed)
        if isinstance(message, TargetBatch):
            pushed = wire.encode(Watermark(source=MODEL, tick_seq=message.through))
        bare.append((ticks, pushed))
    return bare


def executor_cpu_s(stream: list[tuple[bytes, bytes]], folder: Path) -> tuple[float, int]:
    """Process CPU of the executor over `stream`, and the orders and rejections it made."""
    config = ExecutorConfig.from_args(["--run-dir", str(folder)], DEMO_ENVIRONMENT)
    setup = prepare(config)
    ctx = zmq.Context.instance()
    engine = build_engine(ctx, config, setup)
    with sockets.publisher(ctx, f"ipc://{folder}/events", lossless=True) as events:
        outbox = Outbox(setup.journal, lambda sent: sockets.publish_events(events, sent))
        sequencer = Sequencer(
            engine, follow_model=True, drain_timeout_s=5.0, now_s=time.monotonic()
        )
        started = time.process_time()
        for ticks, pushed in stream:
            now_ns = time.time_ns()
            outbox.emit(sequencer.on_market(wire.decode(ticks), now_ns))
            outbox.emit(sequencer.on_model(wire.decode(pushed), now_ns, time.monotonic()))
        outbox.emit(sequencer.finish(time.time_ns()))
        cpu_s = time.process_time() - started
    setup.journal.close()
    return cpu_s, engine.orders


def measure(checkpoint: Path, ticks: list[Tick], rounds: int) -> dict[str, Any]:
    executor_log = logging.getLogger("services.executor")
    level = executor_log.level
    executor_log.setLevel(logging.ERROR)  # its first rejections of each reason, not the table's
    try:
        return _measure(checkpoint, ticks, rounds)
    finally:
        executor_log.setLevel(level)


def _measure(checkpoint: Path, ticks: list[Tick], rounds: int) -> dict[str, Any]:
    stream = model_stream(checkpoint, ticks)
    bare = without_targets(stream)
    pushed = [wire.decode(message) for _, message in stream]
    targets = sum(len(p.targets) for p in pushed if isinstance(p, TargetBatch))
    with_s: list[float] = []
    bare_s: list[float] = []
    orders = 0
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(rounds):
            cpu_s, orders = executor_cpu_s(stream, Path(folder) / f"with-{round_}")
            with_s.append(cpu_s)
            bare_s.append(executor_cpu_s(bare, Path(folder) / f"bare-{round_}")[0])
    best, baseline = min(with_s), min(bare_s)
    return {
        "ticks": len(ticks),
        "targets": targets,
        "orders_and_rejections": orders,
        "with_targets_us_per_tick": best / len(ticks) * 1e6,
        "ticks_alone_us_per_tick": baseline / len(ticks) * 1e6,
        "us_per_target": (best - baseline) / max(targets, 1) * 1e6,
        "ratio": best / baseline,
    }


def demo_checkpoint(folder: Path) -> Path:
    """The demo's model (`orchestration.paper_live`): its linear policy trades."""
    checkpoint = folder / "linear.pkl"
    train.main(["--ticks", str(BUNDLED), "--out", str(checkpoint), "--policy", "linear"])
    return checkpoint


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.executor_targets")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ticks", type=int, default=85_175)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        ticks = list(iter_ticks(BUNDLED))[: args.ticks]
        result = measure(demo_checkpoint(Path(folder)), ticks, args.rounds)
    print(
        f"{result['ticks']:,} ticks, {result['targets']:,} targets, "
        f"{result['orders_and_rejections']:,} orders and rejections"
    )
    print(f"executor, with the targets   {result['with_targets_us_per_tick']:6.2f} us CPU/tick")
    print(f"executor, the ticks alone    {result['ticks_alone_us_per_tick']:6.2f} us CPU/tick")
    print(f"one target                   {result['us_per_target']:6.1f} us CPU")
    print(f"ratio                        {result['ratio']:6.2f} x the ticks alone")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
