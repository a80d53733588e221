"""The executor's journal on disk: torn tails cut on open, write failures halt cleanly."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.errors import JournalCorrupt, JournalWriteFailed
from common.journal import (
    ACCOUNT_OPENED,
    SESSION_STARTED,
    SESSION_TRADING,
    VENUE_BASELINE,
    Journal,
    event_identity,
    fill_identity,
    published,
    read_journal,
)
from common.messages import Fill, Liquidity, OrderCancelled, OrderSubmitted, RiskEvent, Side
from tests.conftest import small_filesystem
from tests.factories import T0_NS, one_of_each


def _fill(n: int) -> Fill:
    return Fill(
        order_id=f"o-{n}",
        symbol="BTC/USD",
        side=Side.BUY,
        qty=0.25,
        price=61837.75,
        fee=0.1,
        liquidity=Liquidity.TAKER,
        tick_seq=n,
        ts_ns=T0_NS + n,
    )


def _tear(path: Path, junk: bytes) -> None:
    """A crash mid-write: part of a line, no newline after it."""
    with open(path, "ab") as f:
        f.write(junk)


def test_restart_after_restart_with_a_torn_tail_each_time_keeps_every_whole_entry(
    tmp_path: Path,
) -> None:
    """Each open cuts the torn last line (a copy kept beside it); the next start reads clean."""
    path = tmp_path / "executor.journal"
    for restart in range(1, 4):
        state = read_journal(path)
        assert [f.tick_seq for f in state.fills] == list(range(1, restart))
        journal = Journal(path)
        journal.append(_fill(restart))
        journal.close()
        _tear(path, f'["Fill",1,"o-torn-{restart}","BTC/'.encode())
    state = read_journal(path)
    assert [f.tick_seq for f in state.fills] == [1, 2, 3]
    assert state.torn_tail
    Journal(path).close()
    assert path.read_bytes().endswith(b"\n")
    assert not read_journal(path).torn_tail
    torn = sorted(tmp_path.glob("executor.journal.torn-*"))
    assert [p.name for p in torn] == [f"executor.journal.torn-{n}" for n in (1, 2, 3)]
    assert torn[1].read_bytes() == b'["Fill",1,"o-torn-2","BTC/'


def test_a_whole_entry_without_its_newline_is_torn_too(tmp_path: Path) -> None:
    """The write that did not finish (its newline missing) is not in the book of record."""
    path = tmp_path / "executor.journal"
    journal = Journal(path)
    journal.append(_fill(1))
    journal.close()
    whole = Journal.encode(_fill(2))
    _tear(path, whole.rstrip(b"\n"))
    assert [f.tick_seq for f in read_journal(path).fills] == [1]
    Journal(path).close()
    assert [f.tick_seq for f in read_journal(path).fills] == [1]


def test_a_bad_line_in_the_middle_still_refuses_to_start(tmp_path: Path) -> None:
    """Damage before the last line is never cut away: state cannot be trusted."""
    path = tmp_path / "executor.journal"
    journal = Journal(path)
    journal.append(_fill(1))
    journal.close()
    _tear(path, b"garbage\n")
    journal = Journal(path)
    journal.append(_fill(2))
    journal.close()
    with pytest.raises(JournalCorrupt) as caught:
        read_journal(path)
    assert caught.value.line_number == 2


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 KiB filesystem (tmpfs): the next write past it fails with ENOSPC."""
    with small_filesystem(tmp_path / "tiny", "size=4k") as folder:
        yield folder


def test_a_full_disk_is_a_journal_write_failure_leaving_only_whole_lines(tiny_disk: Path) -> None:
    """ENOSPC raises JournalWriteFailed naming the file; the journal keeps whole lines only."""
    path = tiny_disk / "executor.journal"
    journal = Journal(path)
    written = 0
    with pytest.raises(JournalWriteFailed) as caught:
        for n in range(1, 1_000):
            journal.append(_fill(n))
            written = n
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.path == path
    assert isinstance(caught.value, OSError)
    with pytest.raises(JournalWriteFailed):  # once failed, it takes nothing more
        journal.append(_fill(1_000))
    journal.close()
    assert path.read_bytes().endswith(b"\n")
    assert [f.tick_seq for f in read_journal(path).fills] == list(range(1, written + 1))


def test_a_cancelled_remainder_closes_the_order_and_reads_back(tmp_path: Path) -> None:
    """An `OrderCancelled` is journaled; its order is no longer unresolved after a restart."""
    order = next(m for m in one_of_each() if isinstance(m, OrderSubmitted) and m.post_only)
    cancelled = next(m for m in one_of_each() if isinstance(m, OrderCancelled))
    path = tmp_path / "executor.journal"
    journal = Journal(path)
    journal.append(order)
    assert [p.order.order_id for p in read_journal(path).unresolved()] == [order.order_id]
    journal.append(cancelled)
    journal.close()
    state = read_journal(path)
    assert state.unresolved() == [] and state.orders == 1


def test_entries_written_together_are_all_in_the_journal_or_none(tiny_disk: Path) -> None:
    """A batch the disk cannot take whole is cut back: the journal keeps the batches before it."""
    path = tiny_disk / "executor.journal"
    journal = Journal(path)
    batches_written = 0
    with pytest.raises(JournalWriteFailed):
        for start in range(1, 10_000, 7):
            journal.append_many([_fill(n) for n in range(start, start + 7)])
            batches_written += 1
    journal.close()
    assert batches_written > 0
    assert [f.tick_seq for f in read_journal(path).fills] == list(range(1, 7 * batches_written + 1))


def test_published_leaves_out_the_session_marks_only() -> None:
    """The three marks the executor journals and never sends; everything else it sent,
    the venue's balance baseline included."""
    marks = [
        RiskEvent(kind=kind, symbol=None, detail="mark", ts_ns=T0_NS)
        for kind in (SESSION_STARTED, SESSION_TRADING, ACCOUNT_OPENED)
    ]
    baseline = RiskEvent(kind=VENUE_BASELINE, symbol="BTC/USD", detail="first", ts_ns=T0_NS)
    sent = [_fill(1), baseline, one_of_each()[4]]
    assert published([marks[0], sent[0], marks[1], sent[1], marks[2], sent[2]]) == sent


def test_a_fills_event_identity_is_its_fill_identity() -> None:
    """The recorder de-duplicates fills by `fill_identity` and finds the rest by
    `event_identity`: for a fill, the one table and the function agree."""
    fill = _fill(3)
    assert event_identity(fill) == ("Fill", *fill_identity(fill))
