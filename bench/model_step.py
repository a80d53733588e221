"""Per-tick cost of the model step (features + predict + policy), numpy ridge and scikit-learn.

    python -m bench.model_step [--ticks 85175]

In-process, over the bundled recording's ticks held in memory:

- numpy: our ridge, one tick at a time (the service's default checkpoint);
- scikit-learn `Ridge` on the same features: one row per `predict` call
  (what a naive service pays per tick), and 64 queued ticks per call (what
  the service does under load: `DecisionStack.predict` on the batch);
- with the real model process: p50 tick -> prediction at 100 ticks/s (an idle
  queue) with batching on and off, so batching is shown to cost no latency.

Baseline, same run: `wire.decode` of the same ticks.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.recordings import BUNDLED
from common import wire
from common.messages import Tick
from common.tickfile import iter_ticks
from services.model import train
from services.model.checkpoint import LoadedModel, load_checkpoint
from services.model.decision import DecisionStack
from services.model.service_config import DEFAULT_POLICY

BATCH = 64


def per_tick_us(model: LoadedModel, ticks: list[Tick], batch: int) -> float:
    stack = DecisionStack(model, ttl_ms=5_000)
    started = time.perf_counter()
    for start in range(0, len(ticks), batch):
        observed = [stack.observe(tick) for tick in ticks[start : start + batch]]
        for seen, value in zip(observed, stack.predict(observed), strict=True):
            _prediction, target = stack.decide(seen, value, 0)
            if target is not None:
                stack.mark_sent(target)
    return (time.perf_counter() - started) / len(ticks) * 1e6


def sklearn_checkpoint(folder: Path) -> Path | None:
    """The bundled recording's model with scikit-learn's Ridge inside; None if not installed."""
    try:
        from sklearn.linear_model import Ridge
    except ImportError:
        return None
    out = folder / "sklearn.pkl"
    bundle = train.train(
        BUNDLED,
        horizon=50,
        test_fraction=0.3,
        max_position=0.01,
        estimator=Ridge(alpha=10.0),
        policy="linear",
    )
    train.save(bundle, out)
    return out


def measure(folder: Path, ticks: list[Tick], sizes: Any = None) -> dict[str, Any]:
    numpy_checkpoint = folder / "model.pkl"
    if not numpy_checkpoint.is_file():
        # The demo's linear policy: it trades, so deciding includes building targets.
        train.main(["--ticks", str(BUNDLED), "--out", str(numpy_checkpoint), "--policy", "linear"])
    model = load_checkpoint(numpy_checkpoint, None, DEFAULT_POLICY)
    payloads = [wire.encode(tick) for tick in ticks]
    started = time.perf_counter()
    for payload in payloads:
        wire.decode(payload)
    decode_us = (time.perf_counter() - started) / len(payloads) * 1e6
    result: dict[str, Any] = {
        "ticks": len(ticks),
        "decode_us": decode_us,
        "numpy_us": per_tick_us(model, ticks, 1),
        "numpy_batched_us": per_tick_us(model, ticks, BATCH),
    }
    checkpoint = sklearn_checkpoint(folder)
    if checkpoint is None:
        result["sklearn"] = None
        return result
    estimator = load_checkpoint(checkpoint, None, DEFAULT_POLICY)
    single_us = per_tick_us(estimator, ticks, 1)
    batched_us = per_tick_us(estimator, ticks, BATCH)
    result["sklearn"] = {
        "single_us": single_us,
        "batched_us": batched_us,
        "single_per_s": 1e6 / single_us,
        "batched_per_s": 1e6 / batched_us,
    }
    if sizes is not None:
        from bench import pipeline

        p50 = {}
        for label, batch_max in (("single_row", "1"), ("batched", str(BATCH))):
            measured = pipeline.measure_tick_latency(
                folder / f"sk{batch_max}",
                checkpoint,
                BUNDLED,
                100,
                max(sizes.latency_s, 2.0),  # past the features' warm-up even in smoke mode
                model_env={"PLR_MODEL_BATCH_MAX": batch_max},
            )
            p50[label] = measured["tick_to_prediction"]["p50_us"]
        result["sklearn"]["service_p50_us_at_100"] = p50
    return result


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.model_step")
    parser.add_argument("--ticks", type=int, default=85_175)
    args = parser.parse_args()
    ticks = list(iter_ticks(BUNDLED))[: args.ticks]
    with tempfile.TemporaryDirectory() as folder:
        result = measure(Path(folder), ticks)
    print(f"model step, numpy     {result['numpy_us']:8.2f} us/tick")
    print(f"  batched 64          {result['numpy_batched_us']:8.2f} us/tick")
    if result["sklearn"]:
        print(f"model step, sklearn   {result['sklearn']['single_us']:8.2f} us/tick")
        print(f"  batched 64          {result['sklearn']['batched_us']:8.2f} us/tick")
    print(f"decode baseline       {result['decode_us']:8.2f} us/tick")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
