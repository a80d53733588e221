"""The errors the executor service raises itself.

Hierarchy (a class also subclasses the builtin a caller may already catch)::

    PipelineError (common.errors)
    ├── VenueMismatch                     the venue's balance is not what the journal says
    └── ResumeDiverged                    a resumed replay derived other events than its journal

A failed venue call is `venues.errors.VenueError`; a damaged journal is
`common.errors.JournalCorrupt`. Code branches on the class or its
attributes, never on message text.
"""

from __future__ import annotations

from common.errors import PipelineError


class VenueMismatch(PipelineError):
    """At a live start, the venue holds a balance the journal cannot account for.

    Something else traded on the account, or a fill was missed: trading on
    from a position that is not the real one would size every order wrong.
    """

    def __init__(self, symbol: str, venue_qty: float, expected_qty: float) -> None:
        super().__init__(
            f"{symbol}: the venue holds {venue_qty:.8f} of the base asset, the journal expects "
            f"{expected_qty:.8f}; refusing to trade (check the account, then use a new run dir)"
        )
        self.symbol, self.venue_qty, self.expected_qty = symbol, venue_qty, expected_qty


class ResumeDiverged(PipelineError):
    """A resumed replay derived an event that is not the journal's next entry.

    The run is no longer the one the journal records (another checkpoint,
    other settings, another file): nothing may be traded on that state.
    """

    def __init__(self, entry_number: int, journaled: str, derived: str) -> None:
        super().__init__(
            f"resume diverged at journal entry {entry_number}: the journal has {journaled}; "
            f"the re-execution derived {derived}"
        )
        self.entry_number, self.journaled, self.derived = entry_number, journaled, derived
