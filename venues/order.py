"""`VenueOrder`: one exchange order as a venue adapter reports it to the executor.

Venue-neutral: each adapter parses its exchange's order object into this once
(Kraken: `venues.kraken.rest.orders.parse_kraken_order`), and the executor
reads only these fields. Quantities and money stay exact (`Decimal`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

TERMINAL_STATUSES: Final = frozenset({"closed", "canceled", "expired"})


@dataclass(frozen=True)
class VenueOrder:
    """One exchange order as the venue reports it."""

    txid: str
    client_id: str | None
    status: str  # pending | open | closed | canceled | expired
    volume: Decimal
    executed: Decimal
    cost: Decimal  # quote currency, for the executed part
    fee: Decimal  # quote currency
    reason: str | None = None  # why the venue closed it, in its own words (for logs, details)
    post_only_refused: bool = False  # cancelled by the venue: post-only, it would have taken

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES
