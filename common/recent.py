"""`RecentIds`: remember the last N ids seen, so a long run's memory stays flat.

For de-duplication where repeats can only come close together (a target
redelivered after an executor restart, a target's order and the rejection of
its remainder): a set that forgets its oldest members first.
"""

from __future__ import annotations

from collections import deque


class RecentIds:
    """A set of the last `size` ids added (older ones forgotten first)."""

    def __init__(self, size: int) -> None:
        self._ids: set[str] = set()
        self._order: deque[str] = deque()
        self.size = size

    def __contains__(self, item: object) -> bool:
        return item in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, item: str) -> bool:
        """Remember `item`; True if it was new."""
        if item in self._ids:
            return False
        self._ids.add(item)
        self._order.append(item)
        if len(self._order) > self.size:
            self._ids.discard(self._order.popleft())
        return True
