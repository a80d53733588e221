"""What a live venue is to the executor: the `Venue` protocol the live executor drives.

A small synchronous surface: place a market order by client id, find it
again, query, cancel, read balances. The adapters live in `venues/` (Kraken:
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
        self, symbol: str, side: Side, qty: Decimal, client_id: str, deadline_s: float
    ) -> str:
        """Send a market order; return its txid."""
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
