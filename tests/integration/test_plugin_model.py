"""A trader's own model, from a package outside the project, through the whole paper-live run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor

from services.model.checkpoint import sha256_of, write_sidecar
from tests.conftest import EXAMPLE_PLUGINS, PROJECT_ROOT, scaled


def _runner(tmp_path: Path, checkpoint: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.paper_live", "--ckpt", str(checkpoint)]
        + ["--address-dir", str(tmp_path), "--artifacts-dir", str(tmp_path / "artifacts")]
        + list(extra),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=scaled(240),
    )


def test_the_example_plugin_runs_through_the_paper_live_pipeline(
    tmp_path: Path, example_checkpoint: Path, short_ticks: Path
) -> None:
    """Its own features and pipeline, on --plugin-path: every tick decided, targets traded."""
    done = _runner(
        tmp_path,
        example_checkpoint,
        "--replay",
        str(short_ticks),
        "--plugin-path",
        str(EXAMPLE_PLUGINS),
    )
    assert done.returncode == 0, done.stderr
    [folder] = (tmp_path / "artifacts").iterdir()
    result = json.loads((folder / "result.json").read_text())
    assert result["complete"] and result["model_id"] == sha256_of(example_checkpoint)
    assert result["counts"]["ticks_seen"] == {"executor": 6_000, "model": 6_000}
    assert result["counts"]["targets_sent_by_model"] > 0 and result["counts"]["fills"] > 0
    assert "note:" not in done.stdout  # a cost-aware model's card carries no warning


def test_a_feature_estimator_mismatch_is_refused_before_any_service_starts(
    tmp_path: Path,
) -> None:
    """A pipeline fitted on 3 features, given the built-in 7: exit 2, one line, nothing run."""
    rng = np.random.default_rng(0)
    estimator = make_pipeline(StandardScaler(), DecisionTreeRegressor(max_depth=2))
    estimator.fit(rng.normal(size=(50, 3)), rng.normal(size=50))
    checkpoint = tmp_path / "three.pkl"
    joblib.dump(estimator, checkpoint)
    write_sidecar(checkpoint)
    done = _runner(tmp_path, checkpoint)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "--ckpt" in done.stderr and "expects 3 features, but is fed 7" in done.stderr
    assert not (tmp_path / "artifacts").exists()


def test_the_demo_summary_says_its_result_is_the_cost_of_trading_noise(
    tmp_path: Path, trained_checkpoint: Path, short_ticks: Path
) -> None:
    """The demo's linear policy trades an edge far below the fees; the summary says so."""
    done = _runner(tmp_path, trained_checkpoint, "--replay", str(short_ticks))
    assert done.returncode == 0, done.stderr
    [note] = [line for line in done.stdout.splitlines() if "note:" in line]
    assert "cost of trading noise, not a strategy" in note
