"""What a live venue is to the executor: the `Venue` protocol the live executor drives.

A small synchronous surface: place a market or limit order by client id (with
a deadline on the venue's clock), amend a resting one in place, find it
again, query, cancel, read balances,
read the venue's time, arm its dead-man switch. The adapters live in `venues/` (Kraken:
`venues.kraken.rest.live_ccxt`, `venues.kraken.rest.live_krakenex`); they
report orders as `venues.order.VenueOrder` and fail only with
`venues.errors.VenueError`, whose typed `kind` is all the executor branches on.
Nothing here knows an exchange.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, Protocol

from common.messages import Side
from venues.order import VenueOrder

QUERY_BATCH: Final = 20  # orders per QueryOrders (Kraken takes 50; ccxt's note says 20)


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

    def place_limit(
        self,
        symbol: str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        client_id: str,
        deadline_s: float,
        venue_now_s: float,
        *,
        post_only: bool,
        immediate_or_cancel: bool,
    ) -> str:
        """Send a limit order at `price` (on the pair's grid); return its txid.

        Post-only: the venue cancels it rather than let it take (the order then
        reads `post_only_refused`). Immediate-or-cancel: what does not fill on
        arrival is cancelled. Otherwise it rests until filled or cancelled.
        """
        ...

    def amend(self, symbol: str, txid: str, qty: Decimal, price: Decimal) -> None:
        """Change a resting order's total quantity and limit price in place.

        It keeps its ids and its fills (Kraken's AmendOrder); a quantity at or
        below what already filled cancels the rest.
        """
        ...

    def find(self, client_id: str, since_ms: int) -> VenueOrder | None:
        """The order with this client id (open, or closed after `since_ms`), else None."""
        ...

    def query(self, txid: str) -> VenueOrder: ...

    def query_many(self, txids: list[str]) -> dict[str, VenueOrder]:
        """Several orders in one call (Kraken: QueryOrders with a list, at most
        `QUERY_BATCH`), by txid; an id the venue does not know is left out."""
        ...

    def cancel(self, txid: str) -> None:
        """Cancel a working order; an order already closed answers a REFUSED `VenueError`."""
        ...

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
