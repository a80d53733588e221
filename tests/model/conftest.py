"""A checkpoint trained once per test session on the bundled recording."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.model import train
from tests.conftest import PROJECT_ROOT

BUNDLED = PROJECT_ROOT / "data" / "binance_btcusdt_spot_2024-08-08_10min.ticks.gz"


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "model.pkl"
    assert train.main(["--ticks", str(BUNDLED), "--out", str(out)]) == 0
    return out
