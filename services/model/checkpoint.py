"""Checkpoint files: their two formats, their pins, and loading them.

Two formats, told apart by the file name:

- `.skops` (the default, and any name that does not say pickle): a zip of
  JSON and arrays read by `skops.io`. Loading builds only the types on
  `TRUSTED_TYPES` (ours) and the numpy/scikit-learn ones skops trusts by
  itself; a file naming any other type is refused before anything in it is
  built, so it cannot run code. A file of only our own types, builtins and
  plain arrays is built by `skops_own` without importing skops (and
  scikit-learn): the same objects, 2 s less CPU per process that loads it.
- `.pkl`, `.pickle`, `.joblib`: a joblib pickle. Unpickling runs code, so
  these are for checkpoints whose pin you trust.

Either way the file is read once; those bytes are hashed, compared with the
pin (`--ckpt-sha256`, else the `PATH.sha256` sidecar the training command
writes) and are the bytes that get loaded: replacing the file after the check
changes nothing. A sidecar pin counts only when the sidecar and the
checkpoint are owned by this process's user and writable by no one else:
it then guards against a changed or mixed-up file, not against this user.
The hash is the model id. After loading, the model contract is checked
(`contract.py`): the bundle's feature source and policy import, the estimator
takes the feature row (by name, else by count), and estimator and policy are
dry-run on one row, so a mismatch fails at start-up rather than at the first tick.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import joblib
import numpy as np

from services.model.bundle import BUILTIN_FEATURES, ENTRY_TAKER_FEE_BPS, ModelBundle
from services.model.contract import Book, Costs, FeatureSource
from services.model.errors import CheckpointError
from services.model.features import FEATURE_NAMES, FeatureState, Row
from services.model.plugins import PluginRef
from services.model.policy import CostAwarePolicy, Policy, PositionFromSignal
from services.model.ridge import RidgeModel
from services.model.skops_own import load_own

_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
PICKLE_SUFFIXES: Final = frozenset({".pkl", ".pickle", ".joblib"})
# The only types a .skops checkpoint may hold besides the numpy and scikit-learn
# ones skops trusts by default: what `train` writes, and nothing else. A trader's
# own classes are never in a skops file: the bundle names them by import path.
OWN_TYPES: Final = {
    f"{cls.__module__}.{cls.__qualname__}": cls
    for cls in (ModelBundle, PluginRef, Policy, CostAwarePolicy, PositionFromSignal, RidgeModel)
}
TRUSTED_TYPES: Final = (
    *OWN_TYPES,
    # scikit-learn's fitted trees: arrays of nodes that skops rebuilds with its own
    # loaders (no code runs), left off its default list only for caution. Trusting
    # them lets a trader's tree models and boosted pipelines be skops, not pickles.
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
_SHARED_WRITE: Final = stat.S_IWGRP | stat.S_IWOTH


@dataclass(frozen=True)
class LoadedModel:
    """A checkpoint checked against the model contract (`contract.py`), ready to decide."""

    estimator: Any
    columns: tuple[int, ...]  # which of the feature source's names, in the estimator's order
    policy: Any  # a contract.TargetPolicy
    model_id: str  # the checkpoint's SHA-256, hex
    features: Callable[[], FeatureSource] = FeatureState  # one per symbol
    class_values: tuple[float, ...] | None = None  # a classifier's signal per class
    taker_fee_bps: float = ENTRY_TAKER_FEE_BPS
    max_position: float | None = None  # the service's clip on every target (--max-position)
    card: dict[str, Any] = field(default_factory=dict, compare=False)  # the bundle's model card

    @property
    def short_id(self) -> str:
        return self.model_id[:12]

    @property
    def feature_count(self) -> int:
        return len(self.features.names)  # type: ignore[attr-defined]

    def __post_init__(self) -> None:
        # Decided once: whether rows need re-ordering, the estimator's cheapest
        # single-row call (our ridge has one; any other goes through `predict` on
        # a one-row matrix), and the policy's optional `should_send`.
        every = self.columns == tuple(range(self.feature_count))
        object.__setattr__(self, "_pick", None if every else list(self.columns))
        row_call = None if self.class_values else getattr(self.estimator, "predict_row", None)
        object.__setattr__(self, "_predict_row", row_call)
        values = None if self.class_values is None else np.array(self.class_values, dtype=float)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_should_send", getattr(self.policy, "should_send", None))

    def predict_one(self, row: Row) -> float:
        if self._pick is not None:
            row = tuple(row[i] for i in self._pick)
        if self._predict_row is not None:
            return float(self._predict_row(row))
        return float(self._signal(np.array([row], dtype=float))[0])

    def predict_many(self, rows: list[Row]) -> np.ndarray:
        """Rows of features (each of all features) -> their predictions, in one estimator call."""
        matrix = np.array(rows, dtype=float)
        if self._pick is not None:
            matrix = matrix[:, self._pick]
        return self._signal(matrix)

    def _signal(self, matrix: np.ndarray) -> np.ndarray:
        return signal_of(self.estimator, matrix, self._values)

    def target_for(self, signal: float, position: float, book: Book, costs: Costs) -> float:
        """The policy's target, within the service's clip."""
        target = float(self.policy.target_for(signal, position, book, costs))
        if self.max_position is not None and abs(target) > self.max_position:
            target = math.copysign(self.max_position, target)
        return target

    def should_send(self, target: float, last_sent: float | None) -> bool:
        if self._should_send is None:  # optional in the contract: any change is worth sending
            return last_sent is None or target != last_sent
        return bool(self._should_send(target, last_sent))


def signal_of(estimator: Any, matrix: np.ndarray, class_values: np.ndarray | None) -> np.ndarray:
    """The estimator's signal per row: its prediction, or a classifier's expected class value.

    Training scores a checkpoint with this too, so it is judged on what the service computes.
    """
    if class_values is None:
        return np.asarray(estimator.predict(matrix), dtype=float).ravel()
    # Multiply-and-sum per row, not `@`: one row and a batch round alike.
    return (np.asarray(estimator.predict_proba(matrix)) * class_values).sum(axis=1)


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
    """Verify the pin, load the very bytes that were checked, and check the model contract.

    The feature source and policy a bundle names are imported (from an
    installed package, or a folder `plugins.add_plugin_paths` added), the
    estimator is checked against the feature row (by count, and by name where
    it has `feature_names_in_`), and the whole stack is dry-run on one row.

    Raises:
        CheckpointError: one line: no pin, mismatch (both hashes), an
            untrusted type in a skops file, not a checkpoint, no `predict`,
            a plug-in that does not import, or a feature/estimator mismatch.
    """
    data, actual = read_pinned(path, pin)
    loaded = _decode(path, data)
    try:
        model = _contract(loaded, actual, default_policy)
        _dry_run(model)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    return model


def _contract(loaded: Any, model_id: str, default_policy: Policy) -> LoadedModel:
    """The loaded object as a `LoadedModel`, every part checked against the contract."""
    if not isinstance(loaded, ModelBundle):  # a bare estimator: built-in features, default policy
        loaded = ModelBundle(loaded, FEATURE_NAMES, default_policy, 0)
    estimator, wanted = loaded.estimator, tuple(loaded.feature_names)
    source_ref = loaded.features or PluginRef(BUILTIN_FEATURES)
    source = source_ref.load()
    names = getattr(source, "names", None)
    if not (isinstance(names, tuple) and names and all(isinstance(n, str) for n in names)):
        raise CheckpointError(f"feature source {source_ref.path} has no `names` tuple of strings")
    if not callable(getattr(source(), "update", None)):
        raise CheckpointError(f"feature source {source_ref.path} has no update(tick)")
    policy = loaded.policy.build() if isinstance(loaded.policy, PluginRef) else loaded.policy
    if not callable(getattr(policy, "target_for", None)):
        raise CheckpointError(f"policy {type(policy).__name__} has no target_for(...)")
    method = "predict" if loaded.class_values is None else "predict_proba"
    if not callable(getattr(estimator, method, None)):
        raise CheckpointError(f"{type(estimator).__name__} has no {method}(X)")
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise CheckpointError(f"unknown features {unknown}: {source_ref.path} gives {list(names)}")
    _check_estimator_takes(estimator, wanted, source_ref.path)
    if loaded.class_values is not None:
        classes = getattr(estimator, "classes_", ())
        if len(classes) != len(loaded.class_values):
            raise CheckpointError(
                f"{len(loaded.class_values)} class values for "
                f"{len(classes)} classes {list(classes)}"
            )
    return LoadedModel(
        estimator=estimator,
        columns=tuple(names.index(name) for name in wanted),
        policy=policy,
        model_id=model_id,
        features=source,
        class_values=None if loaded.class_values is None else tuple(loaded.class_values),
        taker_fee_bps=float(loaded.taker_fee_bps),
        card=dict(loaded.card),
    )


def _check_estimator_takes(estimator: Any, wanted: tuple[str, ...], source: str) -> None:
    """The estimator was fitted on these columns: by name where it knows them, else by count."""
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if fitted_names is not None and tuple(str(n) for n in fitted_names) != wanted:
        raise CheckpointError(
            f"{type(estimator).__name__} was fitted on features {list(fitted_names)}, "
            f"but is fed {list(wanted)} from {source}"
        )
    count = getattr(estimator, "n_features_in_", None)
    if isinstance(count, int) and count != len(wanted):
        raise CheckpointError(
            f"{type(estimator).__name__} expects {count} features, but is fed "
            f"{len(wanted)} ({', '.join(wanted)}) from {source}"
        )


def _dry_run(model: LoadedModel) -> None:
    """One zero row through estimator and policy: what would fail at the first tick fails now."""
    row = (0.0,) * model.feature_count
    try:
        value = model.predict_one(row)
    except Exception as e:
        raise CheckpointError(
            f"predict failed on one row of {len(model.columns)} features "
            f"({type(e).__name__}: {str(e)[:200]})"
        ) from None
    if not math.isfinite(value):
        raise CheckpointError(f"predict returned {value} on a zero row")
    book = Book(bid=1.0, ask=1.0)
    try:
        target = model.target_for(value, 0.0, book, Costs(model.taker_fee_bps, 0.0))
    except Exception as e:
        raise CheckpointError(
            f"policy {type(model.policy).__name__} failed on a zero row's signal "
            f"({type(e).__name__}: {str(e)[:200]})"
        ) from None
    if not math.isfinite(target):
        raise CheckpointError(f"policy {type(model.policy).__name__} returned target {target}")


def _decode(path: Path, data: bytes) -> Any:
    if is_pickle(path):
        try:
            return joblib.load(io.BytesIO(data))
        except Exception as e:  # a pinned file can still be the wrong kind of file
            raise CheckpointError(f"{path}: not a joblib checkpoint ({type(e).__name__})") from None
    own = load_own(data, OWN_TYPES)  # ours only: no need to import skops (2-2.5 s of CPU)
    if own is not None:
        return own
    import skops.io  # deferred: it imports scikit-learn, which only other skops files need

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
