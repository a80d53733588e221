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

from common.errors import TickFileError
from common.messages import Prediction
from common.tickfile import TickFileReader
from services.model.checkpoint import LoadedModel, load_checkpoint
from services.model.decision import DecisionStack
from services.model.errors import CheckpointError
from services.model.service_config import DEFAULT_POLICY


def predictions(model: LoadedModel, path: Path) -> Iterator[Prediction]:
    stack = DecisionStack(model, ttl_ms=1, id_prefix="offline")
    with TickFileReader(path) as reader:
        for tick in reader:
            prediction, target = stack.on_tick(tick, now_ns=0)
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
