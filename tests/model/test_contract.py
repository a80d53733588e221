"""The model contract: a trader's features, estimator and policy, checked at load and run alike."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor

from orchestration.parity import compare
from services.model import train
from services.model.bundle import ModelBundle
from services.model.checkpoint import load_checkpoint, sha256_of, write_checkpoint
from services.model.contract import Book, Costs
from services.model.decision import DecisionStack
from services.model.errors import CheckpointError
from services.model.features import FEATURE_NAMES
from services.model.offline import predictions
from services.model.plugins import PluginRef, add_plugin_paths
from services.model.policy import CostAwarePolicy
from services.model.service_config import DEFAULT_POLICY
from tests.conftest import EXAMPLE_PLUGINS, PROJECT_ROOT, scaled
from tests.factories import make_tick

BOOK = Book(bid=100.0, ask=100.02)  # a 1 bps spread: half-spread 1 bps
COSTS = Costs(taker_fee_bps=40.0, half_spread_bps=BOOK.half_spread_bps)  # round trip ~82 bps
COST_AWARE = CostAwarePolicy(max_position=0.01, margin_bps=5.0)


@pytest.mark.parametrize("signal", [0.33, -0.33, 50.0, -86.99])
def test_cost_aware_policy_does_not_trade_an_edge_below_the_round_trip(signal: float) -> None:
    """Below two fees, the spread and the margin, the target stays where the position is."""
    assert COST_AWARE.threshold_bps(COSTS) == pytest.approx(87.0, abs=0.01)
    assert COST_AWARE.target_for(signal, 0.0, BOOK, COSTS) == 0.0
    assert COST_AWARE.target_for(signal, 0.01, BOOK, COSTS) == 0.01  # not worth closing either
    assert not COST_AWARE.should_send(0.0, None)


@pytest.mark.parametrize(("signal", "target"), [(87.1, 0.01), (-120.0, -0.01)])
def test_cost_aware_policy_trades_an_edge_above_the_round_trip(
    signal: float, target: float
) -> None:
    """Above the cost: full size in the signal's direction, from flat or from the other side."""
    assert COST_AWARE.target_for(signal, 0.0, BOOK, COSTS) == target
    assert COST_AWARE.target_for(signal, -target, BOOK, COSTS) == target
    assert COST_AWARE.should_send(target, None)


def test_cost_aware_policy_counts_the_spread_of_the_tick() -> None:
    """A wider spread raises the bar: the same signal trades on a tight book, not a wide one."""
    wide = Book(bid=100.0, ask=100.2)  # 10 bps half-spread
    wide_costs = Costs(40.0, wide.half_spread_bps)
    assert COST_AWARE.target_for(95.0, 0.0, BOOK, COSTS) == 0.01
    assert COST_AWARE.target_for(95.0, 0.0, wide, wide_costs) == 0.0


def test_trained_model_defaults_to_cost_aware_and_the_bundled_edge_never_trades(
    short_ticks: Path, tmp_path: Path
) -> None:
    """A trader's training gets the cost-aware policy, its threshold in the card; on the
    bundled data (edge ~0.3 bps against an 80 bps round trip) it sends no target at all."""
    out = tmp_path / "m.skops"
    assert train.main(["--ticks", str(short_ticks), "--out", str(out), "--horizon", "20"]) == 0
    bundle_card = load_checkpoint(out, None, DEFAULT_POLICY).card
    assert bundle_card["policy"]["path"] == "services.model.policy:CostAwarePolicy"
    assert bundle_card["policy"]["threshold_bps_at_median_spread"] >= 80.0
    assert bundle_card["costs"]["taker_fee_bps"] == 40.0
    model = load_checkpoint(out, None, DEFAULT_POLICY)
    decided = list(predictions(model, short_ticks))
    assert decided and all(p.target_position == 0.0 for p in decided)


def test_a_classifier_runs_through_the_same_contract(short_ticks: Path, tmp_path: Path) -> None:
    """A classifier learns the move's sign; its signal is the expected move in bps, offline
    and live alike."""
    out = tmp_path / "classifier.skops"
    args = ["--ticks", str(short_ticks), "--out", str(out), "--horizon", "20"]
    args += ["--estimator", "sklearn.tree:DecisionTreeClassifier"]
    args += ["--estimator-param", "max_depth=4", "--policy", "linear"]
    assert train.main(args) == 0
    model = load_checkpoint(out, None, DEFAULT_POLICY)
    assert model.class_values is not None and len(model.class_values) == 3
    values = [p.value for p in predictions(model, short_ticks)]
    assert min(model.class_values) <= min(values) < max(values) <= max(model.class_values)
    assert len(values) == 6_000 - 60
    live = _parity(out, short_ticks)  # and the live service computes the very same
    assert live.returncode == 0 and " 0 unmatched" in live.stdout, live.stdout + live.stderr


def test_a_model_that_outputs_the_target_position_runs_through_the_same_contract(
    tmp_path: Path,
) -> None:
    """The estimator's output is the position itself: the policy only clips it."""
    rows = np.zeros((10, len(FEATURE_NAMES)))
    estimator = DummyRegressor(strategy="constant", constant=0.004).fit(rows, np.zeros(10))
    policy = PluginRef("services.model.policy:PositionFromSignal", {"max_position": 0.003})
    bundle = ModelBundle(
        estimator,
        FEATURE_NAMES,
        policy,
        0,
        features=PluginRef("services.model.features:FeatureState"),
    )
    path = tmp_path / "position.skops"
    write_checkpoint(bundle, path)
    stack = DecisionStack(load_checkpoint(path, None, DEFAULT_POLICY), ttl_ms=1, id_prefix="t")
    decisions = [stack.on_tick(make_tick(seq=seq), 0) for seq in range(1, 53)]
    prediction, target = decisions[-2]
    assert prediction is not None and prediction.value == pytest.approx(0.004)
    assert target is not None and target.target_position == 0.003  # clipped by the policy


def _pickled(tmp_path: Path, checkpoint: object) -> Path:
    path = tmp_path / "model.pkl"
    joblib.dump(checkpoint, path)
    return path


def test_a_pipeline_on_three_features_fed_the_built_in_seven_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    """The issue's case: the trader's 3-feature pipeline as a bare estimator."""
    rng = np.random.default_rng(0)
    estimator = make_pipeline(StandardScaler(), DecisionTreeRegressor(max_depth=2))
    estimator.fit(rng.normal(size=(50, 3)), rng.normal(size=50))
    path = _pickled(tmp_path, estimator)
    with pytest.raises(CheckpointError, match="expects 3 features, but is fed 7") as refused:
        load_checkpoint(path, sha256_of(path), DEFAULT_POLICY)
    assert "\n" not in str(refused.value)


class NamedColumns:
    """Fitted on named columns (as on a DataFrame): `feature_names_in_` says which."""

    feature_names_in_ = np.array(["mid_trend_bps", "microprice_gap_bps", "trade_sign_flow"])
    n_features_in_ = 3

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return np.zeros(len(rows))


def test_an_estimator_fitted_on_other_column_names_is_refused_by_name(tmp_path: Path) -> None:
    """Right count, wrong order: the names tell, and the message shows both lists."""
    add_plugin_paths([EXAMPLE_PLUGINS])
    features = PluginRef("plugin_model.features:BookPressure")
    names = ("microprice_gap_bps", "mid_trend_bps", "trade_sign_flow")
    path = _pickled(
        tmp_path, ModelBundle(NamedColumns(), names, DEFAULT_POLICY, 0, features=features)
    )
    with pytest.raises(CheckpointError, match="was fitted on features"):
        load_checkpoint(path, sha256_of(path), DEFAULT_POLICY)


@pytest.mark.parametrize(
    ("features", "names", "refusal"),
    [
        ("no_such_package.features:Mine", FEATURE_NAMES, "cannot import no_such_package"),
        ("services.model.features:Missing", FEATURE_NAMES, "has no Missing"),
        ("services.model.features:FeatureState", ("ret_1_bps", "my_own"), "unknown features"),
    ],
)
def test_a_bundle_naming_what_is_not_there_is_refused_in_one_line(
    tmp_path: Path, features: str, names: tuple[str, ...], refusal: str
) -> None:
    """A feature source that does not import, or names it does not give: one line."""
    estimator = DummyRegressor().fit(np.zeros((4, len(names))), np.zeros(4))
    bundle = ModelBundle(estimator, names, DEFAULT_POLICY, 0, features=PluginRef(features))
    path = _pickled(tmp_path, bundle)
    with pytest.raises(CheckpointError, match=refusal) as refused:
        load_checkpoint(path, sha256_of(path), DEFAULT_POLICY)
    assert "\n" not in str(refused.value)


def _parity(checkpoint: Path, ticks: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.parity", "--ckpt", str(checkpoint)]
        + ["--ticks", str(ticks), *extra],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=scaled(180),
    )


@pytest.mark.parametrize("which", ["built-in", "example plug-in"])
def test_parity_command_reports_zero_difference(
    which: str, trained_checkpoint: Path, example_checkpoint: Path, short_ticks: Path
) -> None:
    """The live service and the offline path agree exactly, tick by tick, prediction and target."""
    if which == "built-in":
        done = _parity(trained_checkpoint, short_ticks)
    else:
        done = _parity(example_checkpoint, short_ticks, "--plugin-path", str(EXAMPLE_PLUGINS))
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    assert line.startswith("BTC/USDT: ") and " 0 unmatched" in line
    assert "max |prediction diff| 0," in line and line.endswith("max |target diff| 0")


def test_parity_report_shows_a_difference_and_an_unmatched_tick() -> None:
    """What the parity command would say of a live path that drifted or lost a prediction."""
    offline = {("X", 1): (0.5, 0.01), ("X", 2): (0.25, 0.0), ("Y", 1): (1.0, 0.0)}
    live = {("X", 1): (0.5, 0.02), ("X", 2): (0.125, 0.0)}
    x, y = compare(offline, live)
    assert (x.max_abs_prediction_diff, x.max_abs_target_diff, x.unmatched) == (0.125, 0.01, 0)
    assert not x.identical and (y.offline, y.live, y.unmatched) == (1, 0, 1) and not y.identical
