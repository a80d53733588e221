"""What a live venue is to the executor: the `Venue` protocol the live executor drives.

A small synchronous surface: place a market order by client id (with a
deadline on the venue's clock), find it again, query, cancel, read balances,
read the venue's time, arm its dead-man switch. The adapters live in `venues/` (Kraken:
`venues.kraken.rest.live_ccxt`, `venues.kraken.rest.live_krakenex`); they
report orders as `venues.order.VenueOrder` and fail only with
`venues.errors.VenueError`, whose typed `kind` is all the executor branches on.
Nothing here knows an exchange.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from common.messages import Side
from venues.order import VenueOrder


class Venue(Protocol):
    """A synchronous exchange client; every method raises only `VenueError`."""

    provider: str

    def place_market(
        self,
        symbol: str,
        side: Side,
        qty: Decimal,
        client_id: str,
        deadline_s: float,
        venue_now_s: float,
    ) -> str:
        """Send a market order; return its txid.

        The venue drops it if it reaches its engine more than `deadline_s`
        after `venue_now_s`, the venue's own clock (`server_time_s`).
        """
        ...

    def find(self, client_id: str, since_ms: int) -> VenueOrder | None:
        """The order with this client id (open, or closed after `since_ms`), else None."""
        ...

    def query(self, txid: str) -> VenueOrder: ...

    def cancel(self, txid: str) -> None: ...

    def base_balance(self, symbol: str) -> Decimal:
        """How much of the symbol's base asset the account holds."""
        ...

    def open_orders(self) -> list[VenueOrder]: ...

    def server_time_s(self) -> float:
        """The venue's clock, Unix seconds (public, unsigned)."""
        ...

    def cancel_all_after(self, timeout_s: int) -> None:
        """Arm (or push back) the dead-man switch: every open order is cancelled if
        no call comes within `timeout_s`; 0 disarms it."""
        ...
