"""Checkpoints load only when pinned, and bad ones stop the service with exit 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest

from services.model.checkpoint import load_checkpoint, sha256_of, write_sidecar
from services.model.errors import CheckpointError
from services.model.ridge import RidgeModel
from services.model.service_config import DEFAULT_POLICY
from tests.conftest import PROJECT_ROOT


def _run_model(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.model", *args, "--ticks", "ipc:///nonexistent/t"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _assert_refused(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_trained_checkpoint_loads_with_its_sidecar(trained_checkpoint: Path) -> None:
    """The training command's output is accepted as is; the model id is the hash."""
    model = load_checkpoint(trained_checkpoint, None, DEFAULT_POLICY)
    assert model.model_id == sha256_of(trained_checkpoint)
    assert len(model.columns) == 7


def test_wrong_pin_is_refused_naming_both_hashes(trained_checkpoint: Path) -> None:
    """A mismatch shows the pin and the actual hash, in one line, exit 2."""
    wrong = "0" * 64
    result = _run_model("--ckpt", str(trained_checkpoint), "--ckpt-sha256", wrong)
    _assert_refused(result, wrong, sha256_of(trained_checkpoint))


def test_missing_pin_is_refused(trained_checkpoint: Path, tmp_path: Path) -> None:
    """Without a flag or sidecar, nothing is unpickled."""
    unpinned = tmp_path / "unpinned.pkl"
    shutil.copy(trained_checkpoint, unpinned)
    _assert_refused(_run_model("--ckpt", str(unpinned)), "no pin")


def test_tampered_checkpoint_is_refused_by_its_sidecar(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    """Changing one byte after pinning makes the sidecar disagree."""
    copy = tmp_path / "model.pkl"
    shutil.copy(trained_checkpoint, copy)
    write_sidecar(copy)
    data = bytearray(copy.read_bytes())
    data[-3] ^= 1
    copy.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match the pin"):
        load_checkpoint(copy, None, DEFAULT_POLICY)


def test_pinned_file_that_is_not_a_checkpoint_is_refused(tmp_path: Path) -> None:
    """Pinning garbage does not make it loadable."""
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"this is not a pickle at all")
    write_sidecar(garbage)
    _assert_refused(_run_model("--ckpt", str(garbage)), "not a joblib checkpoint")


def test_object_without_predict_is_refused(tmp_path: Path) -> None:
    """A pickled dict is not a model."""
    path = tmp_path / "dict.pkl"
    joblib.dump({"coef": [1, 2, 3]}, path)
    write_sidecar(path)
    _assert_refused(_run_model("--ckpt", str(path)), "has no predict")


def test_feature_count_mismatch_fails_at_start_up(tmp_path: Path) -> None:
    """A bare estimator trained on 3 features cannot take the service's 7."""
    rng = np.random.default_rng(0)
    estimator = RidgeModel().fit(rng.normal(size=(50, 3)), rng.normal(size=50))
    path = tmp_path / "three.pkl"
    joblib.dump(estimator, path)
    write_sidecar(path)
    _assert_refused(_run_model("--ckpt", str(path)), "predict failed", "7 features")


def test_missing_checkpoint_file_is_one_line(tmp_path: Path) -> None:
    """A wrong path is exit 2 with one line."""
    _assert_refused(_run_model("--ckpt", str(tmp_path / "absent.pkl")), "no such checkpoint")


def test_bare_estimator_gets_the_default_policy(tmp_path: Path) -> None:
    """A scikit-learn-style object with predict works without a bundle."""
    rng = np.random.default_rng(1)
    estimator = RidgeModel().fit(rng.normal(size=(50, 7)), rng.normal(size=50))
    path = tmp_path / "bare.pkl"
    joblib.dump(estimator, path)
    model = load_checkpoint(path, sha256_of(path), DEFAULT_POLICY)
    assert model.policy == DEFAULT_POLICY
