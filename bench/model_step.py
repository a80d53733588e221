"""Per-tick cost of the model step (features + predict + policy), in one run.

    python -m bench.model_step [--ticks 85175]

Trains a checkpoint on the bundled recording, then times `DecisionStack.on_tick`
over its ticks held in memory. Baseline, same run: `wire.decode` of the same
ticks (the work every consumer of the feed does anyway), so the figure reads
"the model step costs N decodes".
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import wire
from common.tickfile import TickFileReader
from services.model.checkpoint import load_checkpoint
from services.model.decision import DecisionStack
from services.model.service_config import DEFAULT_POLICY
from services.model.train import main as train_main

BUNDLED = (
    Path(__file__).resolve().parents[1] / "data" / "binance_btcusdt_spot_2024-08-08_10min.ticks.gz"
)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.model_step")
    parser.add_argument("--ticks", type=int, default=85_175)
    args = parser.parse_args()
    with TickFileReader(BUNDLED) as reader:
        ticks = [tick for _, tick in zip(range(args.ticks), reader)]
    payloads = [wire.encode(tick) for tick in ticks]
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "model.pkl"
        train_main(["--ticks", str(BUNDLED), "--out", str(checkpoint)])
        model = load_checkpoint(checkpoint, None, DEFAULT_POLICY)
    stack = DecisionStack(model, ttl_ms=5_000)
    start = time.perf_counter()
    for tick in ticks:
        _prediction, target = stack.on_tick(tick, 0)
        if target is not None:
            stack.mark_sent(target)
    model_us = (time.perf_counter() - start) / len(ticks) * 1e6
    start = time.perf_counter()
    for payload in payloads:
        wire.decode(payload)
    decode_us = (time.perf_counter() - start) / len(payloads) * 1e6
    print(f"model step      {model_us:8.2f} us/tick ({stack.counters.predictions} predictions)")
    print(f"decode baseline {decode_us:8.2f} us/tick")
    print(f"ratio           {model_us / decode_us:8.2f} x decode")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
