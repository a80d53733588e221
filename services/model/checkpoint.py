"""Loading a checkpoint: only when its SHA-256 matches a pin.

A joblib file is a pickle, and unpickling runs code, so the bytes are hashed
and compared with the pin (`--ckpt-sha256`, or the `PATH.sha256` sidecar the
training command writes) *before* joblib sees them. The hash is the model id.
After loading, the model is dry-run on one feature row, so a wrong feature
count fails at start-up rather than at the first tick.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import joblib
import numpy as np

from services.model.bundle import ModelBundle
from services.model.errors import CheckpointError
from services.model.features import FEATURE_NAMES, Row
from services.model.policy import Policy

_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class LoadedModel:
    estimator: Any
    columns: tuple[int, ...]  # which of FEATURE_NAMES, in the estimator's order
    policy: Policy
    model_id: str  # the checkpoint's SHA-256, hex

    @property
    def short_id(self) -> str:
        return self.model_id[:12]

    def __post_init__(self) -> None:
        # Decided once: whether rows need re-ordering, and the estimator's
        # cheapest single-row call (our ridge has one; any other goes through
        # `predict` on a one-row matrix).
        every = self.columns == tuple(range(len(FEATURE_NAMES)))
        object.__setattr__(self, "_pick", None if every else list(self.columns))
        object.__setattr__(self, "_predict_row", getattr(self.estimator, "predict_row", None))

    def predict_one(self, row: Row) -> float:
        if self._pick is not None:
            row = tuple(row[i] for i in self._pick)
        if self._predict_row is not None:
            return float(self._predict_row(row))
        return float(np.asarray(self.estimator.predict(np.array([row]))).ravel()[0])

    def predict_many(self, rows: list[Row]) -> np.ndarray:
        """Rows of features (each of all features) -> their predictions, in one estimator call."""
        matrix = np.array(rows)
        if self._pick is not None:
            matrix = matrix[:, self._pick]
        return np.asarray(self.estimator.predict(matrix), dtype=float).ravel()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def write_sidecar(path: Path) -> str:
    """Write `PATH.sha256` in `sha256sum` format; return the hash."""
    digest = sha256_of(path)
    sidecar_path(path).write_text(f"{digest}  {path.name}\n")
    return digest


def resolve_pin(path: Path, pin: str | None) -> str:
    """Return the pinned hash: the explicit pin, else the sidecar's."""
    if pin is None:
        sidecar = sidecar_path(path)
        if not sidecar.is_file():
            raise CheckpointError(
                f"{path}: no pin; pass --ckpt-sha256 HEX or put the hash in {sidecar.name}"
            )
        pin = sidecar.read_text().split()[0] if sidecar.read_text().split() else ""
    pin = pin.strip().lower()
    if not _HEX64.match(pin):
        raise CheckpointError(f"{path}: pin {pin!r} is not a SHA-256 hex digest")
    return pin


def verify_pin(path: Path, pin: str | None) -> str:
    """Check that `path` is a file whose SHA-256 matches its pin, without loading it.

    Returns:
        The hash (the model id).

    Raises:
        CheckpointError: one line: no such file, no pin, or a mismatch (both hashes).
    """
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    expected = resolve_pin(path, pin)
    actual = sha256_of(path)
    if actual != expected:
        raise CheckpointError(f"{path}: SHA-256 {actual} does not match the pin {expected}")
    return actual


def load_checkpoint(path: Path, pin: str | None, default_policy: Policy) -> LoadedModel:
    """Verify the pin, load, and dry-run the model.

    Raises:
        CheckpointError: one line: no pin, mismatch (both hashes), not a
            checkpoint, no `predict`, or a feature-count mismatch.
    """
    actual = verify_pin(path, pin)
    try:
        loaded = joblib.load(path)
    except Exception as e:  # a pinned file can still be the wrong kind of file
        raise CheckpointError(f"{path}: not a joblib checkpoint ({type(e).__name__})") from None
    if isinstance(loaded, ModelBundle):
        estimator, names, policy = loaded.estimator, loaded.feature_names, loaded.policy
    else:
        estimator, names, policy = loaded, FEATURE_NAMES, default_policy
    if not callable(getattr(estimator, "predict", None)):
        raise CheckpointError(f"{path}: {type(estimator).__name__} has no predict(X)")
    unknown = [name for name in names if name not in FEATURE_NAMES]
    if unknown:
        raise CheckpointError(f"{path}: unknown features {unknown}; known: {list(FEATURE_NAMES)}")
    model = LoadedModel(
        estimator=estimator,
        columns=tuple(FEATURE_NAMES.index(name) for name in names),
        policy=policy,
        model_id=actual,
    )
    _dry_run(path, model)
    return model


def _dry_run(path: Path, model: LoadedModel) -> None:
    row = (0.0,) * len(FEATURE_NAMES)
    try:
        value = model.predict_one(row)
    except Exception as e:
        raise CheckpointError(
            f"{path}: predict failed on one row of {len(model.columns)} features "
            f"({type(e).__name__}: {str(e)[:200]})"
        ) from None
    if not math.isfinite(value):
        raise CheckpointError(f"{path}: predict returned {value} on a zero row")
