"""Checkpoints load only when pinned, and bad ones stop the service with exit 2."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import skops.io

from services.model.bundle import ModelBundle
from services.model.checkpoint import (
    load_checkpoint,
    sha256_of,
    sidecar_path,
    verify_pin,
    write_checkpoint,
    write_sidecar,
)
from services.model.errors import CheckpointError
from services.model.features import FEATURE_NAMES
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
    """A bare estimator trained on 3 features cannot take the built-in 7: refused by count."""
    rng = np.random.default_rng(0)
    estimator = RidgeModel().fit(rng.normal(size=(50, 3)), rng.normal(size=50))
    path = tmp_path / "three.pkl"
    joblib.dump(estimator, path)
    write_sidecar(path)
    _assert_refused(_run_model("--ckpt", str(path)), "expects 3 features", "fed 7")


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


# --- Checkpoints that cannot run code unseen (issue 13) ----------------------


class _PicklePayload:
    """Unpickling this makes a folder: harmless, local, and visible to the test."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


class _SkopsPayload:
    """Built by skops only if trusted: its __setstate__ makes a folder."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __setstate__(self, state: dict[str, Any]) -> None:
        Path(state["marker"]).mkdir()
        self.__dict__.update(state)


def _small_bundle() -> ModelBundle:
    rng = np.random.default_rng(2)
    estimator = RidgeModel().fit(rng.normal(size=(50, 7)), rng.normal(size=50))
    return ModelBundle(estimator, FEATURE_NAMES, DEFAULT_POLICY, 50, {"note": "test"})


def _malicious_pickle(folder: Path) -> tuple[Path, Path]:
    """A payload pickle with its own matching sidecar; returns (checkpoint, marker)."""
    marker = folder / "payload-ran"
    path = folder / "evil.pkl"
    joblib.dump(_PicklePayload(marker), path)
    write_sidecar(path)
    return path, marker


def test_trained_checkpoint_is_skops_and_holds_no_pickle(trained_checkpoint: Path) -> None:
    """`train` writes a skops file (a zip of JSON and arrays) by default; it loads with its pin."""
    assert trained_checkpoint.suffix == ".skops"
    assert zipfile.is_zipfile(trained_checkpoint)
    model = load_checkpoint(trained_checkpoint, None, DEFAULT_POLICY)
    assert isinstance(model.estimator, RidgeModel)
    assert verify_pin(trained_checkpoint, None) == model.model_id


def test_skops_and_pickle_of_one_bundle_predict_the_same(tmp_path: Path) -> None:
    """Both formats load the same bundle to the same predictions and policy."""
    bundle = _small_bundle()
    models = []
    for name in ("m.skops", "m.pkl"):
        digest = write_checkpoint(bundle, tmp_path / name)
        assert verify_pin(tmp_path / name, digest) == digest
        models.append(load_checkpoint(tmp_path / name, digest, DEFAULT_POLICY))
    skops_model, pickle_model = models
    assert zipfile.is_zipfile(tmp_path / "m.skops") and not zipfile.is_zipfile(tmp_path / "m.pkl")
    row = (0.5, -1.0, 2.0, 0.1, 0.3, 4.0, -0.2)
    assert skops_model.predict_one(row) == pickle_model.predict_one(row)
    assert skops_model.policy == pickle_model.policy == bundle.policy


def test_skops_checkpoint_with_an_untrusted_type_is_refused_and_never_built(
    tmp_path: Path,
) -> None:
    """A .skops holding a type that is not ours is refused before any of its code runs."""
    marker = tmp_path / "payload-ran"
    data = skops.io.dumps(_SkopsPayload(marker))
    # The payload is real: skops runs it when told to trust its type.
    skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
    assert marker.is_dir()
    marker.rmdir()
    path = tmp_path / "evil.skops"
    path.write_bytes(data)
    write_sidecar(path)
    with pytest.raises(CheckpointError, match="_SkopsPayload"):
        load_checkpoint(path, None, DEFAULT_POLICY)
    assert not marker.exists()


def test_pickle_saved_as_skops_is_refused_without_unpickling(tmp_path: Path) -> None:
    """A pickle renamed .skops is not a skops file, and it is never unpickled."""
    evil, marker = _malicious_pickle(tmp_path)
    path = tmp_path / "evil.skops"
    evil.rename(path)
    with pytest.raises(CheckpointError, match="not a skops checkpoint"):
        load_checkpoint(path, sha256_of(path), DEFAULT_POLICY)
    assert not marker.exists()


@pytest.mark.parametrize("bits", [stat.S_IWGRP, stat.S_IWOTH], ids=["group", "world"])
def test_malicious_pickle_with_a_shared_writable_sidecar_never_runs(
    tmp_path: Path, bits: int
) -> None:
    """A sidecar others can write proves nothing: refused before the pickle is opened."""
    path, marker = _malicious_pickle(tmp_path)
    sidecar = sidecar_path(path)
    sidecar.chmod(0o644 | bits)
    with pytest.raises(CheckpointError, match="writable"):
        load_checkpoint(path, None, DEFAULT_POLICY)
    with pytest.raises(CheckpointError, match="writable"):
        verify_pin(path, None)
    assert not marker.exists()


@pytest.mark.parametrize("bits", [stat.S_IWGRP, stat.S_IWOTH], ids=["group", "world"])
def test_shared_writable_pickle_pinned_by_its_sidecar_never_runs(tmp_path: Path, bits: int) -> None:
    """With the pin from the sidecar, a checkpoint others can write is refused too."""
    path, marker = _malicious_pickle(tmp_path)
    path.chmod(0o644 | bits)
    with pytest.raises(CheckpointError, match="writable"):
        load_checkpoint(path, None, DEFAULT_POLICY)
    assert not marker.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root")
@pytest.mark.parametrize("which", ["sidecar", "checkpoint"])
def test_pickle_or_sidecar_owned_by_another_user_never_runs(tmp_path: Path, which: str) -> None:
    """A sidecar pin counts only when this user owns the sidecar and the checkpoint."""
    path, marker = _malicious_pickle(tmp_path)
    os.chown(sidecar_path(path) if which == "sidecar" else path, 65534, -1)
    with pytest.raises(CheckpointError, match="owned by uid 65534"):
        load_checkpoint(path, None, DEFAULT_POLICY)
    assert not marker.exists()


def test_explicit_pin_accepts_a_shared_writable_checkpoint(tmp_path: Path) -> None:
    """An explicit pin binds the bytes themselves, so the file's mode does not matter."""
    path = tmp_path / "m.pkl"
    digest = write_checkpoint(_small_bundle(), path)
    path.chmod(0o666)
    sidecar_path(path).chmod(0o666)  # not read at all with an explicit pin
    assert load_checkpoint(path, digest, DEFAULT_POLICY).model_id == digest


def test_file_swapped_while_loading_is_not_what_gets_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replacing a pinned pickle after it was hashed cannot get the new file loaded."""
    path = tmp_path / "m.pkl"
    digest = write_checkpoint(_small_bundle(), path)
    marker = tmp_path / "payload-ran"
    swapped = tmp_path / "swap.pkl"
    joblib.dump(_PicklePayload(marker), swapped)
    real_load = joblib.load

    def load_after_swap(source: Any, *args: Any, **kwargs: Any) -> Any:
        swapped.replace(path)  # the attacker wins the race: the path now names the payload
        return real_load(source, *args, **kwargs)

    monkeypatch.setattr(joblib, "load", load_after_swap)
    model = load_checkpoint(path, digest, DEFAULT_POLICY)
    assert not marker.exists()
    assert model.model_id == digest and isinstance(model.estimator, RidgeModel)


def test_checkpoint_trained_under_a_group_umask_loads_with_its_sidecar(tmp_path: Path) -> None:
    """`train` never leaves its checkpoint or sidecar group-writable, whatever the umask."""
    previous = os.umask(0o002)
    try:
        write_checkpoint(_small_bundle(), tmp_path / "m.skops")
    finally:
        os.umask(previous)
    for path in (tmp_path / "m.skops", sidecar_path(tmp_path / "m.skops")):
        assert stat.S_IMODE(path.stat().st_mode) & 0o022 == 0
    load_checkpoint(tmp_path / "m.skops", None, DEFAULT_POLICY)
