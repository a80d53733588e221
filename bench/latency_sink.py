"""The executor's seat in the latency figure: receives the model's targets and predictions.

    python -m bench.latency_sink TARGETS PREDICTIONS READY RESULT.json

A process of its own, like the chain's sink, so the pipeline figure and the
chain's differ only in what sits between publisher and sink (the real model
instead of a bare relay). It binds the targets PULL (where the executor
binds), subscribes to the predictions, joins the readiness handshake once the
model forwards a `Hello`, and on the model's `eos` writes each kind's
percentiles of (arrival - tick send stamp).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import zmq

from bench.chain import percentiles_us
from common import sockets, wire
from common.messages import Eos, Hello, Prediction, PredictionBatch, Target, TargetBatch


def run(targets_addr: str, predictions_addr: str, ready_addr: str, result_path: str) -> int:
    delays: dict[str, list[int]] = {"tick_to_target": [], "tick_to_prediction": []}
    answered = False
    with (
        zmq.Context() as ctx,
        sockets.target_puller(ctx, targets_addr) as targets,
        sockets.subscriber(ctx, predictions_addr, [b""]) as predictions,
    ):
        poller = zmq.Poller()
        poller.register(targets, zmq.POLLIN)
        poller.register(predictions, zmq.POLLIN)
        while True:
            ready = dict(poller.poll())
            now_ns = time.time_ns()
            if targets in ready:
                message = wire.decode(targets.recv())
            else:
                frames = sockets.recv_message(predictions)
                if frames is None:
                    continue
                message = wire.decode(frames[1])
            if isinstance(message, Target):
                delays["tick_to_target"].append(now_ns - message.tick_ts_ns)
            elif isinstance(message, TargetBatch):  # queued ticks' targets: each its own delay
                delays["tick_to_target"] += [now_ns - t.tick_ts_ns for t in message.targets]
            elif isinstance(message, Prediction):
                delays["tick_to_prediction"].append(now_ns - message.tick_ts_ns)
            elif isinstance(message, PredictionBatch):  # ticks that queued: each its own delay
                delays["tick_to_prediction"] += [now_ns - p.tick_ts_ns for p in message.predictions]
            elif isinstance(message, Hello) and not answered:
                answered = sockets.answer_hello(ctx, ready_addr, "sink", timeout_s=5.0)
            elif isinstance(message, Eos):
                break
    result = {kind: percentiles_us(ns) if ns else None for kind, ns in delays.items()}
    Path(result_path).write_text(json.dumps(result))
    return 0


def main(argv: Sequence[str]) -> int:
    if len(argv) != 4:
        print(f"usage: {__doc__}", file=sys.stderr)
        return 2
    return run(*argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
