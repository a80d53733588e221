"""The runner's progress line: how far the run is, from the feed's position file."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.progress import ProgressLine
from services.feed.position import PositionFile


def test_the_line_shows_the_feeds_last_position_and_the_total(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "feed.position"
    line = ProgressLine(path, total=200)
    PositionFile(path).write(50)
    line.update(final=True)
    PositionFile(path).write(200)
    line.close()
    printed = capsys.readouterr().err.splitlines()
    assert printed[0].startswith(f"[{'#' * 7:<30}] 50/200 ticks (")  # 50 / 200 of 30 marks
    assert printed[1].startswith(f"[{'#' * 30}] 200/200 ticks (")
    assert not path.exists()  # scratch: removed with the line


def test_an_earlier_runs_position_is_not_this_runs_and_no_file_shows_nothing_yet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "feed.position"
    PositionFile(path).write(85_175)  # left by a run in the same --address-dir
    line = ProgressLine(path, total=None)
    line.close()
    assert capsys.readouterr().err.startswith("0 ticks (")


def test_a_damaged_position_keeps_the_count_already_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "feed.position"
    line = ProgressLine(path, total=None)
    PositionFile(path).write(1_234)
    line.update(final=True)
    path.write_text("{")
    line.close()
    assert [row.split(" (")[0] for row in capsys.readouterr().err.splitlines()] == [
        "1,234 ticks",
        "1,234 ticks",
    ]
