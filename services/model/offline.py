"""Run the model over a tick file without sockets: the parity reference.

    python -m services.model.offline --ckpt model.pkl --ticks FILE --out preds.jsonl

Each line: ``{"symbol", "tick_seq", "value", "target_position"}`` for every
prediction, in tick order. The live service drives the same `DecisionStack`,
so on the same ticks its predictions are identical.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from common.errors import TickFileError
from common.messages import Prediction, Tick
from common.tickfile import TickFileReader
from services.model.checkpoint import LoadedModel, load_checkpoint
from services.model.decision import DecisionStack
from services.model.errors import CheckpointError
from services.model.service_config import DEFAULT_POLICY

OFFLINE_BATCH: Final = 256  # ticks per estimator call


def predictions(model: LoadedModel, path: Path, batch: int = OFFLINE_BATCH) -> Iterator[Prediction]:
    """Every prediction over the file, in tick order; every target counts as taken.

    Ticks are predicted `batch` at a time (one estimator call), then decided
    one by one, as the live stage does: features never depend on predictions,
    so this is what one tick at a time gives, for any estimator whose rows do
    not depend on each other, and a sklearn pipeline's per-call cost is paid
    once per batch, not per tick.
    """
    stack = DecisionStack(model, ttl_ms=1, id_prefix="offline")
    with TickFileReader(path) as reader:
        chunk: list[Tick] = []
        for tick in reader:
            chunk.append(tick)
            if len(chunk) == batch:
                yield from _decide(stack, chunk)
                chunk = []
        yield from _decide(stack, chunk)


def _decide(stack: DecisionStack, ticks: list[Tick]) -> Iterator[Prediction]:
    observed = [stack.observe(tick) for tick in ticks]
    for seen, value in zip(observed, stack.predict(observed), strict=True):
        prediction, target = stack.decide(seen, value, now_ns=0)
        if target is not None:
            stack.mark_sent(target)
        if prediction is not None:
            yield prediction


def as_record(prediction: Prediction) -> dict[str, object]:
    return {
        "symbol": prediction.symbol,
        "tick_seq": prediction.tick_seq,
        "value": prediction.value,
        "target_position": prediction.target_position,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.model.offline")
    parser.add_argument("--ckpt", type=Path, required=True)
    parser.add_argument("--ckpt-sha256")
    parser.add_argument("--ticks", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        model = load_checkpoint(args.ckpt, args.ckpt_sha256, DEFAULT_POLICY)
        count = 0
        with open(args.out, "w") as out:
            for prediction in predictions(model, args.ticks):
                out.write(json.dumps(as_record(prediction)) + "\n")
                count += 1
    except (CheckpointError, TickFileError) as e:
        print(f"offline: {e}", file=sys.stderr)
        return 2
    print(f"wrote {count} predictions to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
