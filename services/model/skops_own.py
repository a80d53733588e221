"""Reading a `.skops` checkpoint of only this project's own types, without importing skops.

Importing `skops.io` costs a process 2-2.5 s of CPU: it imports scikit-learn and
walks every estimator to build its default trusted list. A run pays it twice (the
runner's pre-flight check and the model service), and so does every test run. The
checkpoints `train` writes with the built-in estimator need none of it: they hold a
`ModelBundle` of a `RidgeModel`, `PluginRef`s or built-in policies, builtin
containers, JSON scalars and plain numpy arrays.

`load_own` builds exactly those, the way skops 0.16's loaders do (instances through
`__new__`, then `__setstate__` or their `__dict__`; arrays through
`np.load(allow_pickle=False)`; one object per `__id__`). It checks the whole schema
first and returns None for a file that names anything else, or that it cannot read
(a protocol it does not know, a missing part): `checkpoint._decode` then hands the
file to skops, with its trusted list and its refusals. Nothing outside `OWN_TYPES`
and the builtins below is ever built here, so this is no wider than skops' own check.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any, Final

import numpy as np

SKOPS_PROTOCOL: Final = 2  # skops.io._protocol.PROTOCOL when this reader was written
_TYPE_NAMES: Final = {"str": str, "int": int, "float": float, "bool": bool}
_CONTAINERS: Final = {"DictNode": "dict", "ListNode": "list", "TupleNode": "tuple"}


def load_own(data: bytes, own_types: dict[str, type]) -> Any | None:
    """The object in a skops file, if it holds only `own_types` ("module.Class": class)
    and builtins; None if it holds anything else or is not one this reader knows."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
            if schema.get("protocol") != SKOPS_PROTOCOL or not _all_known(schema, own_types):
                return None
            return _Builder(archive, own_types).build(schema)
    except Exception:  # anything odd is skops' to judge (and to word the error)
        return None


def _all_known(node: Any, own_types: dict[str, type]) -> bool:
    """Every node of the schema is one this reader builds: checked before anything is built."""
    if not isinstance(node, dict):
        return False
    loader, name = node.get("__loader__"), f"{node.get('__module__')}.{node.get('__class__')}"
    if loader == "ObjectNode":
        content = node.get("content")
        return name in own_types and (content is None or _all_known(content, own_types))
    if loader in _CONTAINERS:
        if name != f"builtins.{_CONTAINERS[loader]}":
            return False
        children = list(node["content"].values() if loader == "DictNode" else node["content"])
        if loader == "DictNode":  # its keys' types: a list of builtin scalar types, nothing else
            key_types = node["key_types"]
            if not isinstance(key_types, dict) or key_types.get("__loader__") != "ListNode":
                return False
            if any(not _is_type_node(t) for t in key_types["content"]):
                return False
            children.append(key_types)
        return all(_all_known(child, own_types) for child in children)
    if loader == "JsonNode":
        return name.startswith("builtins.") and isinstance(node.get("content"), str)
    if loader == "TypeNode":
        return node.get("__module__") == "builtins" and node.get("__class__") in _TYPE_NAMES
    if loader == "NdArrayNode":
        return name == "numpy.ndarray" and node.get("type") == "numpy"
    return False


def _is_type_node(node: Any) -> bool:
    return isinstance(node, dict) and node.get("__loader__") == "TypeNode"


class _Builder:
    """Builds a checked schema; each `__id__` once, as skops' memo does."""

    def __init__(self, archive: zipfile.ZipFile, own_types: dict[str, type]) -> None:
        self.archive, self.own_types = archive, own_types
        self.built: dict[int, Any] = {}

    def build(self, node: dict[str, Any]) -> Any:
        node_id = node.get("__id__")
        if node_id and node_id in self.built:
            return self.built[node_id]
        value = self._construct(node)
        if node_id:
            self.built[node_id] = value
        return value

    def _construct(self, node: dict[str, Any]) -> Any:
        loader = node["__loader__"]
        if loader == "ObjectNode":
            cls: Any = self.own_types[f"{node['__module__']}.{node['__class__']}"]
            instance = cls.__new__(cls)
            attrs = None if node.get("content") is None else self.build(node["content"])
            if attrs is not None:
                if hasattr(instance, "__setstate__"):
                    instance.__setstate__(attrs)
                else:
                    instance.__dict__.update(attrs)
            return instance
        if loader == "DictNode":
            key_types = self.build(node["key_types"])
            return {
                key_type(key): self.build(value)
                for key_type, (key, value) in zip(key_types, node["content"].items())
            }
        if loader == "ListNode":
            return [self.build(item) for item in node["content"]]
        if loader == "TupleNode":
            return tuple(self.build(item) for item in node["content"])
        if loader == "JsonNode":
            return json.loads(node["content"])
        if loader == "TypeNode":
            return _TYPE_NAMES[node["__class__"]]
        # NdArrayNode, a plain array: numpy's own format, never pickled objects
        return np.load(io.BytesIO(self.archive.read(node["file"])), allow_pickle=False)
