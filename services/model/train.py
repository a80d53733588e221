"""Train a checkpoint: ``python -m services.model.train --ticks FILE --out model.skops``.

Fits a closed-form ridge regression (or any scikit-learn estimator handed to
`train`) to predict the forward mid return over `--horizon` quote ticks, in
basis points, from the very features the live service computes. The split is
by time: the first part trains, the last `--test-fraction` tests. Writes the
checkpoint (skops, which loads without running code; a joblib pickle only if
`--out` ends in `.pkl`/`.pickle`/`.joblib`), its `.sha256` sidecar (the pin)
and a JSON card with the features, horizon, data span and in/out-of-sample R²
and hit rate.

Exit codes: 0 done; 2 bad usage, unreadable file or too little data.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from common.errors import PipelineError, TickFileError
from common.tickfile import TickFileReader
from services.model.bundle import ModelBundle
from services.model.checkpoint import write_checkpoint
from services.model.errors import TrainingError
from services.model.features import FEATURE_NAMES, FeatureState, Row
from services.model.policy import Policy
from services.model.ridge import RidgeModel

MIN_ROWS: Final = 500


def feature_rows(path: Path, horizon: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Return (X, y, span) from a tick file; y is the forward return in bps."""
    rows: list[Row] = []
    row_quote_index: list[tuple[str, int]] = []
    mids: dict[str, list[float]] = {}
    states: dict[str, FeatureState] = {}
    with TickFileReader(path) as reader:
        first_ns = last_ns = None
        for tick in reader:
            state = states.setdefault(tick.symbol, FeatureState())
            row = state.update(tick)
            if tick.bid is not None and tick.ask is not None:
                mids.setdefault(tick.symbol, []).append(state.mid)
            first_ns = tick.exch_ts_ns if first_ns is None else first_ns
            last_ns = tick.exch_ts_ns
            if row is not None:
                rows.append(row)
                row_quote_index.append((tick.symbol, state.quotes - 1))
    features: list[Row] = []
    target: list[float] = []
    for row, (symbol, index) in zip(rows, row_quote_index):
        series = mids[symbol]
        if index + horizon < len(series):
            features.append(row)
            target.append((series[index + horizon] / series[index] - 1.0) * 1e4)
    span = {"ticks": reader.count, "first_ts_ns": first_ns, "last_ts_ns": last_ns}
    if len(features) < MIN_ROWS:
        raise TrainingError(
            f"{path}: {len(features)} usable rows, need at least {MIN_ROWS} "
            f"(file has {reader.count} ticks; horizon {horizon})"
        )
    return np.array(features), np.asarray(target), span


def scores(estimator: Any, features: np.ndarray, target: np.ndarray) -> dict[str, float]:
    predicted = np.asarray(estimator.predict(features)).ravel()
    residual = float(((target - predicted) ** 2).sum())
    total = float(((target - target.mean()) ** 2).sum())
    moved = target != 0
    hits = np.sign(predicted[moved]) == np.sign(target[moved])
    return {
        "r2": 1.0 - residual / total if total > 0 else 0.0,
        "hit_rate": float(hits.mean()) if moved.any() else 0.0,
        "rows": int(len(target)),
        "prediction_std_bps": float(predicted.std()),
    }


def train(
    path: Path,
    *,
    horizon: int,
    test_fraction: float,
    max_position: float,
    estimator: Any | None = None,
) -> ModelBundle:
    features, target, span = feature_rows(path, horizon)
    split = int(len(target) * (1 - test_fraction))
    estimator = estimator if estimator is not None else RidgeModel(alpha=10.0)
    estimator.fit(features[:split], target[:split])
    in_sample = scores(estimator, features[:split], target[:split])
    out_of_sample = scores(estimator, features[split:], target[split:])
    spread = max(in_sample["prediction_std_bps"], 1e-9)
    # Full size at two standard deviations of conviction; flat inside half of one.
    policy = Policy(
        position_per_bps=max_position / (2 * spread),
        deadband_bps=0.5 * spread,
        max_position=max_position,
        min_step=max_position / 10,
    )
    card = {
        "estimator": type(estimator).__name__,
        "features": list(FEATURE_NAMES),
        "label": f"forward mid return over {horizon} quote ticks, bps",
        "horizon_ticks": horizon,
        "data": {"file": path.name, **span},
        "split": {"train_rows": split, "test_rows": len(target) - split, "by": "time"},
        "in_sample": in_sample,
        "out_of_sample": out_of_sample,
        "policy": vars(policy),
    }
    return ModelBundle(estimator, FEATURE_NAMES, policy, horizon, card)


def save(bundle: ModelBundle, out: Path) -> str:
    """Write checkpoint, sidecar and card; return the checkpoint's SHA-256."""
    out.parent.mkdir(parents=True, exist_ok=True)
    digest = write_checkpoint(bundle, out)
    card = {"model_id": digest, **bundle.card}
    out.with_name(out.name + ".card.json").write_text(json.dumps(card, indent=2) + "\n")
    return digest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.model.train")
    parser.add_argument("--ticks", type=Path, required=True, help="tick file to learn from")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="checkpoint to write: .skops (.pkl, .joblib: a pickle)",
    )
    parser.add_argument("--horizon", type=int, default=50, help="quote ticks ahead")
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--max-position", type=float, default=0.01, help="base units")
    args = parser.parse_args(argv)
    if args.horizon <= 0 or not 0 < args.test_fraction < 1 or args.max_position <= 0:
        print("train: --horizon, --max-position > 0 and 0 < --test-fraction < 1", file=sys.stderr)
        return 2
    try:
        bundle = train(
            args.ticks,
            horizon=args.horizon,
            test_fraction=args.test_fraction,
            max_position=args.max_position,
        )
        digest = save(bundle, args.out)
    except (TickFileError, PipelineError) as e:
        print(f"train: {e}", file=sys.stderr)
        return 2
    oos = bundle.card["out_of_sample"]
    print(
        f"wrote {args.out} (sha256 {digest[:12]}); out-of-sample R² {oos['r2']:.4f}, "
        f"hit rate {oos['hit_rate']:.3f} on {oos['rows']} rows"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
