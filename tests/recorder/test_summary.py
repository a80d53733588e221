"""The tick-file summary: counts from a real file, one line for a damaged one."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.recorder import summary
from tests.conftest import PROJECT_ROOT

BUNDLED = PROJECT_ROOT / "data" / "binance_btcusdt_spot_2024-08-08_10min.ticks.gz"


def test_summary_of_the_bundled_recording_counts_every_tick(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The numbers match the recording's provenance note."""
    assert summary.main([str(BUNDLED)]) == 0
    out = capsys.readouterr().out
    assert "85,175 (66,678 quotes, 18,497 trades), sequence gaps: 0" in out
    assert "599.8 s" in out


def test_summary_of_a_damaged_file_exits_1_with_the_good_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A torn file is reported, never summarised as if complete."""
    torn = tmp_path / "torn.ticks.gz"
    data = BUNDLED.read_bytes()
    torn.write_bytes(data[: len(data) // 2])
    assert summary.main([str(torn)]) == 1
    err = capsys.readouterr().err
    assert "good records" in err
    assert len(err.strip().splitlines()) == 1
