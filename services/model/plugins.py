"""Plug-ins: the trader's own classes, named by import path (`mypkg.features:MyFeatures`).

A bundle names its feature source and policy as `PluginRef`s; the model
service imports them from an installed package or from folders given with
`--plugin-path`. Anything wrong (no such module, no such name, bad
parameters) is a `CheckpointError` with one line.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.model.errors import CheckpointError


@dataclass(frozen=True)
class PluginRef:
    """An import path (`package.module:Name`) and the keyword arguments to build it with."""

    path: str
    params: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Any:
        """The named object itself (a class or a function)."""
        return import_object(self.path)

    def build(self) -> Any:
        """The named class called with `params`."""
        factory = self.load()
        try:
            return factory(**self.params)
        except Exception as e:
            raise CheckpointError(
                f"{self.path}({', '.join(f'{k}={v!r}' for k, v in self.params.items())}) "
                f"failed: {type(e).__name__}: {str(e)[:200]}"
            ) from None


def import_object(path: str) -> Any:
    """Import `package.module:Name` (a dotted name after the colon reaches inside)."""
    module_name, colon, attribute = path.partition(":")
    if not colon or not module_name or not attribute:
        raise CheckpointError(f"{path!r}: expected an import path like mypkg.features:MyFeatures")
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise CheckpointError(
            f"{path}: cannot import {module_name} ({e}); install it or pass --plugin-path"
        ) from None
    except Exception as e:  # the trader's module itself failed while importing
        raise CheckpointError(
            f"{path}: importing {module_name} failed: {type(e).__name__}: {str(e)[:200]}"
        ) from None
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise CheckpointError(f"{path}: {module_name} has no {attribute}")
        found = getattr(found, part)
    return found


def add_plugin_paths(folders: Sequence[Path]) -> None:
    """Make packages in `folders` importable, after the project's own (they cannot shadow it)."""
    for folder in folders:
        if not folder.is_dir():
            raise CheckpointError(f"--plugin-path: {folder} is not a folder")
        text = str(folder.resolve())
        if text not in sys.path:
            sys.path.append(text)
