"""`VenueClock`: the venue's time as this host estimates it, for order deadlines.

Kraken drops an AddOrder that reaches its engine after the order's
`deadline`, and refuses one more than 60 s ahead, judged by *its* clock. A
deadline built from this host's clock is wrong by however far the two
disagree, so an order may be refused outright (ours behind) or protected by a
deadline far later than meant (ours ahead). So the offset is measured with
Kraken's public `Time` (whole seconds) at start, and measured again every
`LiveTimings.clock_refresh_s` by the venue worker; deadlines and "has the deadline passed?"
are computed on the venue's time. `Time` truncates to the second, so the
estimate runs up to 1 s behind the venue: deadlines come out slightly
earlier than asked, never beyond Kraken's 60 s, and waits past a deadline
slightly longer. Nothing here sends anything; the caller passes the read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class VenueClock:
    """This host's wall clock plus the measured offset to the venue's."""

    def __init__(self) -> None:
        self.offset_s = 0.0  # venue minus this host; 0 until measured
        self.measured = False

    def now_s(self) -> float:
        """The venue's time now, in Unix seconds."""
        return time.time() + self.offset_s

    def measure(self, read_venue_time_s: Callable[[], float]) -> float:
        """Ask the venue its time; the offset from the middle of the round trip.

        Raises whatever `read_venue_time_s` raises (a `VenueError`); the old
        offset stays.
        """
        before = time.time()
        venue_s = read_venue_time_s()
        after = time.time()
        offset_s = venue_s - (before + after) / 2
        if not self.measured or abs(offset_s - self.offset_s) > 1.0:
            log.info("venue clock offset %+.3f s (round trip %.3f s)", offset_s, after - before)
        self.offset_s, self.measured = offset_s, True
        return offset_s
