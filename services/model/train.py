"""Train a checkpoint: ``python -m services.model.train --ticks FILE --out model.skops``.

Fits an estimator to predict the forward mid return over `--horizon` quote
ticks, in basis points, from the very features the live service computes.
The parts are the trader's to choose, by import path (`contract.py`):

- `--features mypkg.features:MyFeatures`: the feature source (default: the
  built-in seven);
- `--estimator sklearn.ensemble:HistGradientBoostingRegressor` with
  `--estimator-param max_iter=50` (repeatable; values read as Python
  literals, else kept as text): a class or a function returning an estimator
  (default: the built-in closed-form ridge). A classifier (scikit-learn's
  `is_classifier`) learns the sign of the move, and its signal is the
  expected move: each class stands for the mean move of its training rows;
- `--policy cost-aware` (default), `linear` (the demo's; trades on any
  edge, ignoring costs) or an import path, with `--policy-param k=v`;
- `--plugin-path DIR`: where the trader's package is, if not installed.

The split is by time: the first part trains, the last `--test-fraction`
tests. Writes the checkpoint (skops, which loads without running code; a
joblib pickle only if `--out` ends in `.pkl`/`.pickle`/`.joblib`), its
`.sha256` sidecar (the pin) and a JSON card with the features, horizon, data
span, in/out-of-sample R² and hit rate, the costs and the policy's threshold.

Exit codes: 0 done; 2 bad usage, unreadable file, a plug-in that does not
import, or too little data.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from common.errors import PipelineError, TickFileError
from common.messages import TickKind
from common.tickfile import TickFileReader
from services.model.bundle import BUILTIN_FEATURES, ENTRY_TAKER_FEE_BPS, ModelBundle
from services.model.checkpoint import signal_of, write_checkpoint
from services.model.contract import Costs
from services.model.errors import TrainingError
from services.model.plugins import PluginRef, add_plugin_paths, import_object
from services.model.ridge import RidgeModel

MIN_ROWS: Final = 500
POLICIES: Final = {
    "cost-aware": "services.model.policy:CostAwarePolicy",
    "linear": "services.model.policy:Policy",
    "position": "services.model.policy:PositionFromSignal",
}


class TrainingSet:
    """Feature rows, their forward returns (bps) and what the file held."""

    def __init__(self, features: np.ndarray, target: np.ndarray, span: dict[str, Any]) -> None:
        self.features, self.target, self.span = features, target, span
        self.names: tuple[str, ...] = ()
        self.half_spread_bps = 0.0  # the median over the rows' quotes


def training_set(path: Path, horizon: int, features: str = BUILTIN_FEATURES) -> TrainingSet:
    """Every row the feature source gives, labelled with the mid return `horizon` quotes on."""
    source = import_object(features)
    rows: list[Sequence[float]] = []
    row_quote_index: list[tuple[str, int]] = []
    mids: dict[str, list[float]] = {}
    half_spreads: list[float] = []
    states: dict[str, Any] = {}
    with TickFileReader(path) as reader:
        first_ns = last_ns = None
        for tick in reader:
            state = states.get(tick.symbol)
            if state is None:
                state = states[tick.symbol] = source()
            row = state.update(tick)
            series = mids.setdefault(tick.symbol, [])
            if tick.kind is TickKind.QUOTE and tick.bid is not None and tick.ask is not None:
                series.append((tick.bid + tick.ask) / 2.0)  # as the decision stack's Book.mid
                half_spreads.append((tick.ask - tick.bid) / (tick.bid + tick.ask) * 1e4)
            first_ns = tick.exch_ts_ns if first_ns is None else first_ns
            last_ns = tick.exch_ts_ns
            if row is not None and series:  # the live stack decides only once a quote is known
                rows.append(row)
                row_quote_index.append((tick.symbol, len(series) - 1))
    kept: list[Sequence[float]] = []
    target: list[float] = []
    for row, (symbol, index) in zip(rows, row_quote_index, strict=True):
        series = mids[symbol]
        if index + horizon < len(series):
            kept.append(row)
            target.append((series[index + horizon] / series[index] - 1.0) * 1e4)
    span = {"ticks": reader.count, "first_ts_ns": first_ns, "last_ts_ns": last_ns}
    if len(kept) < MIN_ROWS:
        raise TrainingError(
            f"{path}: {len(kept)} usable rows, need at least {MIN_ROWS} "
            f"(file has {reader.count} ticks; horizon {horizon})"
        )
    data = TrainingSet(np.array(kept, dtype=float), np.asarray(target), span)
    data.names = tuple(source.names)
    data.half_spread_bps = float(np.median(half_spreads)) if half_spreads else 0.0
    return data


def scores(
    estimator: Any, features: np.ndarray, target: np.ndarray, class_values: np.ndarray | None = None
) -> dict[str, float]:
    predicted = signal_of(estimator, features, class_values)
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


def _is_classifier(estimator: Any) -> bool:
    if not hasattr(estimator, "predict_proba"):
        return False
    from sklearn.base import is_classifier  # deferred: scikit-learn takes ~1 s to import

    try:
        return bool(is_classifier(estimator))
    except Exception:  # not a scikit-learn estimator (no tags): a regressor unless it says so
        return getattr(estimator, "_estimator_type", None) == "classifier"


def _policy_for(
    policy: str, params: dict[str, Any], *, max_position: float, spread: float
) -> PluginRef:
    """The named policy with its parameters; the built-ins get sizes from `max_position`."""
    path = POLICIES.get(policy, policy)
    if path == POLICIES["linear"]:
        # Full size at two standard deviations of conviction; flat inside half of one.
        defaults = {
            "position_per_bps": max_position / (2 * spread),
            "deadband_bps": 0.5 * spread,
            "max_position": max_position,
            "min_step": max_position / 10,
        }
    elif path == POLICIES["cost-aware"]:
        defaults = {"max_position": max_position, "margin_bps": 0.0, "min_step": max_position / 10}
    elif path == POLICIES["position"]:
        defaults = {"max_position": max_position, "min_step": max_position / 10}
    else:
        defaults = {}
    return PluginRef(path, {**defaults, **params})


def train(
    path: Path,
    *,
    horizon: int,
    test_fraction: float,
    max_position: float,
    estimator: Any | None = None,
    features: str = BUILTIN_FEATURES,
    policy: str = "cost-aware",
    policy_params: dict[str, Any] | None = None,
    taker_fee_bps: float = ENTRY_TAKER_FEE_BPS,
) -> ModelBundle:
    data = training_set(path, horizon, features)
    features_x, target = data.features, data.target
    split = int(len(target) * (1 - test_fraction))
    estimator = estimator if estimator is not None else RidgeModel(alpha=10.0)
    class_values = None
    classifier = _is_classifier(estimator)
    try:
        if classifier:
            labels = np.sign(target)
            estimator.fit(features_x[:split], labels[:split])
            # Each class stands for the mean move of its training rows: the signal is in bps.
            class_values = np.array(
                [float(target[:split][labels[:split] == c].mean()) for c in estimator.classes_]
            )
        else:
            estimator.fit(features_x[:split], target[:split])
    except Exception as e:  # the trader's estimator: say which and why, in one line
        raise TrainingError(
            f"{type(estimator).__name__}.fit failed: {type(e).__name__}: {str(e)[:200]}"
        ) from None
    in_sample = scores(estimator, features_x[:split], target[:split], class_values)
    out_of_sample = scores(estimator, features_x[split:], target[split:], class_values)
    spread = max(in_sample["prediction_std_bps"], 1e-9)
    policy_ref = _policy_for(policy, policy_params or {}, max_position=max_position, spread=spread)
    built = policy_ref.build()
    costs = Costs(taker_fee_bps, data.half_spread_bps)
    card: dict[str, Any] = {
        "estimator": type(estimator).__name__,
        "feature_source": features,
        "features": list(data.names),
        "signal": "predict" if class_values is None else "predict_proba, expected class value",
        "label": f"forward mid return over {horizon} quote ticks, bps",
        "horizon_ticks": horizon,
        "data": {"file": path.name, **data.span},
        "split": {"train_rows": split, "test_rows": len(target) - split, "by": "time"},
        "in_sample": in_sample,
        "out_of_sample": out_of_sample,
        "policy": {"path": policy_ref.path, **policy_ref.params},
        "costs": {
            "taker_fee_bps": taker_fee_bps,
            "median_half_spread_bps": data.half_spread_bps,
            "round_trip_bps_at_median_spread": costs.round_trip_bps,
        },
    }
    if hasattr(built, "threshold_bps"):
        card["policy"]["threshold_bps_at_median_spread"] = built.threshold_bps(costs)
    if policy_ref.path == POLICIES["linear"] and spread < costs.round_trip_bps:
        card["warning"] = (
            f"the linear policy ignores costs: predicted moves (std {spread:.2f} bps) are far "
            f"below a round trip ({costs.round_trip_bps:.1f} bps), so its PnL is the cost "
            "of trading noise, not a strategy"
        )
    return ModelBundle(
        estimator,
        data.names,
        policy_ref,
        horizon,
        card,
        features=PluginRef(features),
        class_values=None if class_values is None else tuple(class_values.tolist()),
        taker_fee_bps=taker_fee_bps,
    )


def save(bundle: ModelBundle, out: Path) -> str:
    """Write checkpoint, sidecar and card; return the checkpoint's SHA-256."""
    out.parent.mkdir(parents=True, exist_ok=True)
    digest = write_checkpoint(bundle, out)
    card = {"model_id": digest, **bundle.card}
    out.with_name(out.name + ".card.json").write_text(json.dumps(card, indent=2) + "\n")
    return digest


def key_value(text: str) -> tuple[str, Any]:
    """`k=v`, v read as a Python literal (`50`, `0.1`, `None`, `'x'`), else kept as text."""
    key, equals, value = text.partition("=")
    if not equals or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def build_estimator(path: str | None, params: dict[str, Any]) -> Any:
    if path is None:
        return RidgeModel(**{"alpha": 10.0, **params})
    return PluginRef(path, params).build()


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
    parser.add_argument("--features", default=BUILTIN_FEATURES, help="feature source, module:Class")
    parser.add_argument("--estimator", help="module:Class or module:function (default: ridge)")
    parser.add_argument(
        "--estimator-param", type=key_value, action="append", default=[], metavar="K=V"
    )
    parser.add_argument(
        "--policy", default="cost-aware", help=f"{', '.join(POLICIES)}, or module:Class"
    )
    parser.add_argument(
        "--policy-param", type=key_value, action="append", default=[], metavar="K=V"
    )
    parser.add_argument(
        "--taker-fee-bps",
        type=float,
        default=ENTRY_TAKER_FEE_BPS,
        help="the fee in the policy's costs (default: Kraken's entry tier)",
    )
    parser.add_argument(
        "--plugin-path", type=Path, action="append", default=[], help="folder to import from"
    )
    args = parser.parse_args(argv)
    if args.horizon <= 0 or not 0 < args.test_fraction < 1 or args.max_position <= 0:
        print("train: --horizon, --max-position > 0 and 0 < --test-fraction < 1", file=sys.stderr)
        return 2
    if args.taker_fee_bps < 0:
        print("train: --taker-fee-bps must be >= 0", file=sys.stderr)
        return 2
    try:
        add_plugin_paths(args.plugin_path)
        bundle = train(
            args.ticks,
            horizon=args.horizon,
            test_fraction=args.test_fraction,
            max_position=args.max_position,
            estimator=build_estimator(args.estimator, dict(args.estimator_param)),
            features=args.features,
            policy=args.policy,
            policy_params=dict(args.policy_param),
            taker_fee_bps=args.taker_fee_bps,
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
    if "warning" in bundle.card:
        print(f"note: {bundle.card['warning']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
