"""Model tests use the session checkpoint from tests/conftest.py."""

from __future__ import annotations

from tests.conftest import BUNDLED

__all__ = ["BUNDLED"]
