"""Checkpoint files: their two formats, their pins, and loading them.

Two formats, told apart by the file name:

- `.skops` (the default, and any name that does not say pickle): a zip of
  JSON and arrays read by `skops.io`. Loading builds only the types on
  `TRUSTED_TYPES` (ours) and the numpy/scikit-learn ones skops trusts by
  itself; a file naming any other type is refused before anything in it is
  built, so it cannot run code.
- `.pkl`, `.pickle`, `.joblib`: a joblib pickle. Unpickling runs code, so
  these are for checkpoints whose pin you trust.

Either way the file is read once; those bytes are hashed, compared with the
pin (`--ckpt-sha256`, else the `PATH.sha256` sidecar the training command
writes) and are the bytes that get loaded: replacing the file after the check
changes nothing. A sidecar pin counts only when the sidecar and the
checkpoint are owned by this process's user and writable by no one else:
it then guards against a changed or mixed-up file, not against this user.
The hash is the model id. After loading, the model is dry-run on one feature
row, so a wrong feature count fails at start-up rather than at the first tick.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import joblib
import numpy as np

from services.model.bundle import ModelBundle
from services.model.errors import CheckpointError
from services.model.features import FEATURE_NAMES, Row
from services.model.policy import Policy
from services.model.ridge import RidgeModel

_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
PICKLE_SUFFIXES: Final = frozenset({".pkl", ".pickle", ".joblib"})
# The only types a .skops checkpoint may hold besides the numpy and scikit-learn
# ones skops trusts by default: what `train` writes, and nothing else.
TRUSTED_TYPES: Final = tuple(
    f"{cls.__module__}.{cls.__qualname__}" for cls in (ModelBundle, Policy, RidgeModel)
)
_SHARED_WRITE: Final = stat.S_IWGRP | stat.S_IWOTH


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


def is_pickle(path: Path) -> bool:
    """Whether `path` names a joblib pickle (by its suffix); anything else is read as skops."""
    return path.suffix.lower() in PICKLE_SUFFIXES


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def write_sidecar(path: Path) -> str:
    """Write `PATH.sha256` in `sha256sum` format; return the hash."""
    digest = sha256_of(path)
    _write_private(sidecar_path(path), f"{digest}  {path.name}\n".encode())
    return digest


def write_checkpoint(checkpoint: Any, path: Path) -> str:
    """Write `checkpoint` (a `ModelBundle` or an estimator) and its sidecar; return the hash.

    The format follows the name (see `is_pickle`). Neither file is left
    writable by group or others, whatever the umask, so the sidecar is
    accepted as a pin when loading.
    """
    if is_pickle(path):
        buffer = io.BytesIO()
        joblib.dump(checkpoint, buffer)
        data = buffer.getvalue()
    else:
        import skops.io  # deferred: it imports scikit-learn (~1 s), which only skops files need

        data = skops.io.dumps(checkpoint)
    _write_private(path, data)
    return write_sidecar(path)


def _write_private(path: Path, data: bytes) -> None:
    """Write atomically (a partial file, then a rename), writable only by this user."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)  # O_CREAT keeps an existing file's mode
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    partial.replace(path)


def _read(path: Path, *, private: bool) -> bytes:
    """All of one file's bytes, from one open; with `private`, only if this user alone can write it.

    Mode and owner come from the open file itself (`fstat`), so they are the
    facts of the bytes read, not of whatever the path names a moment later.
    """
    try:
        with open(path, "rb") as f:
            facts = os.fstat(f.fileno())
            if private and facts.st_uid != os.geteuid():
                raise CheckpointError(
                    f"{path}: owned by uid {facts.st_uid}, not this process's "
                    f"{os.geteuid()}; refusing it as (or beside) a sidecar pin"
                )
            if private and facts.st_mode & _SHARED_WRITE:
                raise CheckpointError(
                    f"{path}: group- or world-writable (mode {stat.S_IMODE(facts.st_mode):o}); "
                    "refusing it as (or beside) a sidecar pin"
                )
            return f.read()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror})") from None


def _sidecar_pin(path: Path) -> str:
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        raise CheckpointError(
            f"{path}: no pin; pass --ckpt-sha256 HEX or put the hash in {sidecar.name}"
        )
    words = _read(sidecar, private=True).decode(errors="replace").split()
    return words[0] if words else ""


def read_pinned(path: Path, pin: str | None) -> tuple[bytes, str]:
    """Read `path` once and check those bytes against the pin.

    Args:
        path: the checkpoint.
        pin: the expected SHA-256 (hex); None: the sidecar's, which then
            counts only if the sidecar and the checkpoint are owned by this
            user and writable by no one else.

    Returns:
        (the bytes, their SHA-256): load these bytes, never the path again.

    Raises:
        CheckpointError: one line: no such file, no pin, a sidecar or
            checkpoint others could have written, or a mismatch (both hashes).
    """
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    from_sidecar = pin is None
    expected = (_sidecar_pin(path) if pin is None else pin).strip().lower()
    if not _HEX64.match(expected):
        raise CheckpointError(f"{path}: pin {expected!r} is not a SHA-256 hex digest")
    data = _read(path, private=from_sidecar)
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise CheckpointError(f"{path}: SHA-256 {actual} does not match the pin {expected}")
    return data, actual


def verify_pin(path: Path, pin: str | None) -> str:
    """Check that `path` is a file whose SHA-256 matches its pin, without loading it.

    Returns:
        The hash (the model id).

    Raises:
        CheckpointError: as `read_pinned`.
    """
    return read_pinned(path, pin)[1]


def load_checkpoint(path: Path, pin: str | None, default_policy: Policy) -> LoadedModel:
    """Verify the pin, load the very bytes that were checked, and dry-run the model.

    Raises:
        CheckpointError: one line: no pin, mismatch (both hashes), an
            untrusted type in a skops file, not a checkpoint, no `predict`,
            or a feature-count mismatch.
    """
    data, actual = read_pinned(path, pin)
    loaded = _decode(path, data)
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


def _decode(path: Path, data: bytes) -> Any:
    if is_pickle(path):
        try:
            return joblib.load(io.BytesIO(data))
        except Exception as e:  # a pinned file can still be the wrong kind of file
            raise CheckpointError(f"{path}: not a joblib checkpoint ({type(e).__name__})") from None
    import skops.io  # deferred: it imports scikit-learn (~1 s), which only skops files need

    try:
        found = skops.io.get_untrusted_types(data=data)  # reads the schema, builds nothing
    except Exception as e:
        raise CheckpointError(f"{path}: not a skops checkpoint ({type(e).__name__})") from None
    untrusted = sorted(set(found) - set(TRUSTED_TYPES))
    if untrusted:
        raise CheckpointError(
            f"{path}: holds types outside the trusted list, not loaded: {', '.join(untrusted)}"
        )
    try:
        return skops.io.loads(data, trusted=list(TRUSTED_TYPES))
    except Exception as e:
        raise CheckpointError(f"{path}: not a skops checkpoint ({type(e).__name__})") from None
