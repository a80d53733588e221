"""Executor fixtures: `rig`, a live executor process against the fake Kraken REST."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from tests.executor.live_rig import PROVIDERS, Rig, make_rig


@pytest.fixture(params=PROVIDERS)
def rig(request: pytest.FixtureRequest, tmp_path: Path, zmq_ctx: zmq.Context) -> Iterator[Rig]:
    """One per provider (ccxt, krakenex); the fake and every process end with the test."""
    yield from make_rig(zmq_ctx, tmp_path, request.param)
