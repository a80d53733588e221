"""RecentIds: de-duplication with bounded memory."""

from __future__ import annotations

from common.recent import RecentIds


def test_recent_ids_remembers_the_last_n_and_forgets_the_oldest_first() -> None:
    """A repeat within the last `size` ids is caught; older ones are forgotten."""
    recent = RecentIds(3)
    assert [recent.add(i) for i in ("a", "b", "a", "c", "d")] == [True, True, False, True, True]
    assert "a" not in recent and {"b", "c", "d"} == {i for i in "abcd" if i in recent}
    assert len(recent) == 3
