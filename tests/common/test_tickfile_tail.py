"""Continuing a tick file a run already wrote: whole members kept, a torn tail cut and kept."""

from __future__ import annotations

from pathlib import Path

from common.tickfile import TickFileReader, TickFileWriter, new_header
from common.tickfile_tail import ReadablePrefix, continue_tick_file, readable_prefix
from tests.factories import make_tick

HEADER = new_header("binance", ["BTC/USD"], "test", 1)


def _write(path: Path, seqs: range, *, flush_every: int) -> None:
    writer = TickFileWriter(path, HEADER)
    for seq in seqs:
        writer.write(make_tick(seq=seq))
        if seq % flush_every == 0:
            writer.flush()  # a whole gzip member, as the recorder's timer ends one
    writer.close()


def test_continuing_keeps_whole_members_cuts_a_torn_one_and_appends(tmp_path: Path) -> None:
    """Ten whole members and half of another: 100 ticks kept, the rest cut aside, more appended."""
    path = tmp_path / "ticks.gz"
    _write(path, range(1, 101), flush_every=10)
    whole = path.stat().st_size
    assert readable_prefix(path).ticks == 100 and readable_prefix(path).size == whole
    _write(tmp_path / "more.gz", range(1, 40), flush_every=1000)
    torn = (tmp_path / "more.gz").read_bytes()[:200]  # the start of a member, never ended
    with open(path, "ab") as f:
        f.write(torn)
    assert readable_prefix(path) == ReadablePrefix(whole, 100)
    writer = continue_tick_file(path, HEADER)
    assert writer.count == 100
    for seq in range(101, 121):
        writer.write(make_tick(seq=seq))
    writer.close()
    with TickFileReader(path) as reader:
        assert [t.seq for t in reader] == list(range(1, 121))
    assert (tmp_path / "ticks.gz.torn-1").read_bytes() == torn


def test_a_missing_or_unreadable_file_starts_anew(tmp_path: Path) -> None:
    """Nothing readable: a new file with its header, no tick held."""
    path = tmp_path / "ticks.gz"
    assert readable_prefix(path).ticks == 0
    path.write_bytes(b"\x1f\x8b not really gzip")
    writer = continue_tick_file(path, HEADER)
    assert writer.count == 0
    writer.write(make_tick(seq=1))
    writer.close()
    with TickFileReader(path) as reader:
        assert [t.seq for t in reader] == [1]
