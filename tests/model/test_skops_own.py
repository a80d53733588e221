"""The skops reader for our own types builds what skops builds, and nothing it does not know."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io

from services.model.bundle import ModelBundle
from services.model.checkpoint import OWN_TYPES, TRUSTED_TYPES, load_checkpoint
from services.model.plugins import PluginRef
from services.model.policy import CostAwarePolicy, PositionFromSignal
from services.model.ridge import RidgeModel
from services.model.service_config import DEFAULT_POLICY
from services.model.skops_own import load_own
from tests.conftest import PROJECT_ROOT


def _same(a: Any, b: Any) -> bool:
    """Equal as built objects: same types all the way down, arrays equal in dtype and values."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if hasattr(a, "__dict__") and not isinstance(a, type):
        return _same(vars(a), vars(b))
    return bool(a == b)


def _bundles(trained: ModelBundle) -> dict[str, Any]:
    """What `train` writes with each built-in policy, old-style policy objects, a bare ridge."""
    return {
        "trained (linear policy)": trained,
        "cost-aware by path": dataclasses.replace(
            trained, policy=PluginRef("services.model.policy:CostAwarePolicy", {"k": 1.5})
        ),
        "cost-aware object": dataclasses.replace(trained, policy=CostAwarePolicy(1.0, 0.5, 2.0)),
        "position object": dataclasses.replace(trained, policy=PositionFromSignal(0.1, 1.0)),
        "default policy, plug-in features": dataclasses.replace(
            trained, policy=DEFAULT_POLICY, features=PluginRef("mypkg.features:Mine")
        ),
        "bare ridge": trained.estimator,
    }


def test_our_checkpoints_build_exactly_as_skops_builds_them(trained_checkpoint: Path) -> None:
    trained = skops.io.loads(trained_checkpoint.read_bytes(), trusted=list(TRUSTED_TYPES))
    assert isinstance(trained, ModelBundle) and isinstance(trained.estimator, RidgeModel)
    for name, bundle in _bundles(trained).items():
        data = skops.io.dumps(bundle)
        own = load_own(data, OWN_TYPES)
        assert own is not None, name
        assert _same(own, skops.io.loads(data, trusted=list(TRUSTED_TYPES))), name


def test_a_file_naming_any_other_type_is_left_to_skops_and_nothing_is_built() -> None:
    """An estimator that is not ours, or an unknown skops protocol: None (skops decides)."""
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(3)
    fitted = LinearRegression().fit(rng.normal(size=(20, 7)), rng.normal(size=20))
    assert load_own(skops.io.dumps(ModelBundle(fitted, (), DEFAULT_POLICY, 5)), OWN_TYPES) is None
    ours = skops.io.dumps(RidgeModel().fit(rng.normal(size=(20, 7)), rng.normal(size=20)))
    assert load_own(ours, {}) is None  # RidgeModel not on the list given: not built
    assert load_own(b"not a zip", OWN_TYPES) is None


def test_loading_a_trained_checkpoint_never_imports_scikit_learn(trained_checkpoint: Path) -> None:
    """The runner's pre-flight check and the model service skip skops' 2 s of imports."""
    check = (
        "import sys; from pathlib import Path; "
        "from services.model.checkpoint import load_checkpoint; "
        "from services.model.service_config import DEFAULT_POLICY; "
        f"load_checkpoint(Path({str(trained_checkpoint)!r}), None, DEFAULT_POLICY); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'skops')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_loaded_model_predicts_as_the_skops_loaded_one(trained_checkpoint: Path) -> None:
    model = load_checkpoint(trained_checkpoint, None, DEFAULT_POLICY)
    by_skops = skops.io.loads(trained_checkpoint.read_bytes(), trusted=list(TRUSTED_TYPES))
    rows = np.random.default_rng(4).normal(size=(16, 7))
    assert np.array_equal(
        model.predict_many([tuple(r) for r in rows]), by_skops.estimator.predict(rows)
    )


@pytest.mark.parametrize("protocol", [1, 3])
def test_an_unknown_skops_protocol_is_left_to_skops(protocol: int, tmp_path: Path) -> None:
    import io
    import json
    import zipfile

    data = skops.io.dumps(RidgeModel())
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.namelist():
            content = src.read(item)
            if item == "schema.json":
                content = json.dumps({**json.loads(content), "protocol": protocol}).encode()
            dst.writestr(item, content)
    assert load_own(data, OWN_TYPES) is not None
    assert load_own(out.getvalue(), OWN_TYPES) is None


def _walk(node: Any, change: Any) -> None:
    if isinstance(node, dict):
        change(node)
        for value in list(node.values()):
            _walk(value, change)
    elif isinstance(node, list):
        for value in node:
            _walk(value, change)


def _retyped(loader: str, **fields: str) -> Any:
    """A change to every node of `loader` in a schema (`*` changes the root)."""

    def change(schema: dict[str, Any]) -> None:
        if loader == "*":
            schema.update(fields)
        else:
            _walk(schema, lambda n: n.update(fields) if n.get("__loader__") == loader else None)

    return change


HOSTILE = {
    "an object of os.system": _retyped("*", __module__="os", __class__="system"),
    "a type named eval": _retyped("TypeNode", __class__="eval"),
    "a type from module os": _retyped("TypeNode", __module__="os", __class__="str"),
    # skops itself reads these two harmlessly (a JSON value; a dict type it trusts):
    # declined here all the same, since this reader builds only what it knows.
    "a json value named os.system": _retyped("JsonNode", __module__="os", __class__="system"),
    "a function node": _retyped("JsonNode", __loader__="FunctionNode"),
    "an array stored as json": _retyped("NdArrayNode", type="json"),
    "an OrderedDict": _retyped("DictNode", __module__="collections", __class__="OrderedDict"),
    "dict keys typed by an object": _retyped(
        "DictNode", key_types={"__loader__": "ObjectNode", "__module__": "os", "__class__": "x"}
    ),
}


SKOPS_READS = frozenset({"a json value named os.system", "an OrderedDict"})


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_schema_is_never_built_here_and_the_checkpoint_refused(
    case: str, trained_checkpoint: Path, tmp_path: Path
) -> None:
    """A real checkpoint with one kind of node made hostile: this reader declines (None)
    before building anything, and loading it fails with a CheckpointError (skops' refusal)
    unless skops can read it harmlessly."""
    import io
    import json
    import zipfile

    from services.model.checkpoint import sha256_of
    from services.model.errors import CheckpointError

    data = trained_checkpoint.read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.namelist():
            content = src.read(item)
            if item == "schema.json":
                schema = json.loads(content)
                HOSTILE[case](schema)
                content = json.dumps(schema).encode()
            dst.writestr(item, content)
    assert load_own(out.getvalue(), OWN_TYPES) is None
    hostile = tmp_path / "hostile.skops"
    hostile.write_bytes(out.getvalue())
    if case in SKOPS_READS:
        return
    with pytest.raises(CheckpointError):
        load_checkpoint(hostile, sha256_of(hostile), DEFAULT_POLICY)
