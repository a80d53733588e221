"""The feed's position file: written at most every interval, replaced whole, read safely."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from services.feed.position import PositionFile, read_position


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_notes_are_written_at_most_once_per_interval_and_write_is_at_once(tmp_path: Path) -> None:
    path, clock = tmp_path / "feed.position", _Clock()
    position = PositionFile(path, every_s=0.25, clock=clock)
    assert read_position(path) is None  # nothing written yet
    position.note(0)
    assert read_position(path) == 0  # the first note writes
    position.note(64)
    clock.now += 0.125
    position.note(128)
    assert read_position(path) == 0  # within the interval: not written
    clock.now += 0.125
    position.note(192)
    assert read_position(path) == 192
    position.write(200)  # the end: not held back by the interval
    assert read_position(path) == 200
    assert [p.name for p in tmp_path.iterdir()] == ["feed.position"]  # no partial file left


@pytest.mark.parametrize(
    "content", [b"", b'{"last_seq": 1', b"[]", b'{"last_seq": -3}', b'{"last_seq": "7"}', b"\xff"]
)
def test_a_position_that_is_not_one_reads_as_none(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "feed.position"
    path.write_bytes(content)
    assert read_position(path) is None


def test_a_position_that_cannot_be_written_is_logged_once_and_never_stops_the_feed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    position = PositionFile(tmp_path / "missing" / "feed.position", every_s=0.0)
    with caplog.at_level(logging.WARNING):
        for seq in range(5):
            position.note(seq)
        position.write(5)
    assert len(caplog.records) == 1 and "not written" in caplog.records[0].getMessage()


def test_a_link_planted_where_the_position_is_written_is_replaced_not_followed(
    tmp_path: Path,
) -> None:
    """Another user's link at `feed.position.partial` (to a file of the run's user): the
    position is written in a new file of the feed's own, and the link's target is left
    as it was."""
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / "feed.position.partial").symlink_to(victim)
    position = PositionFile(tmp_path / "feed.position")
    position.write(5)
    assert victim.read_text() == "keep me"
    assert read_position(tmp_path / "feed.position") == 5
    assert (tmp_path / "feed.position").stat().st_mode & 0o077 == 0  # the run's user's alone
