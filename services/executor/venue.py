"""What a live venue is to the executor, and the Kraken REST facts both providers share.

`Venue` is the small synchronous surface the live executor drives (place a
market order by client id, find it again, query, cancel, read balances);
`live_ccxt.py` and `live_krakenex.py` implement it over their libraries. Both
talk to Kraken, so the order parsing and the one decision "what does this
error mean for the order" live here, once (docs/kraken-rest-live.md §6, §8).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from common.errors import ConfigError
from common.messages import Side

KRAKEN_REST_URL: Final = "https://api.kraken.com"
TERMINAL_STATUSES: Final = frozenset({"closed", "canceled", "expired"})
# Kraken's `deadline` must lie between now + 2 s and now + 60 s.
DEADLINE_MIN_S: Final = 2.0
DEADLINE_MAX_S: Final = 60.0
_KRAKEN_ERROR = re.compile(r"[EW][A-Za-z]+:[A-Za-z][^\"'\]\[,]*")


class VenueErrorKind(StrEnum):
    """What a failed venue call means for the order (decided in `classify_kraken_error`)."""

    REFUSED = "refused"  # the venue answered no: this order will never exist
    INSUFFICIENT_FUNDS = "insufficient_funds"  # refused, for lack of balance
    RETRY = "retry"  # refused at the door (rate limit, nonce): safe to send again later
    UNKNOWN_OUTCOME = "unknown_outcome"  # timeout, 5xx, dropped: it may exist; look first
    HALT = "halt"  # credentials or account: nothing more can be sent safely


@dataclass(frozen=True)
class VenueOrder:
    """One exchange order as the venue reports it (Kraken's Order object, parsed once)."""

    txid: str
    client_id: str | None
    status: str  # pending | open | closed | canceled | expired
    volume: Decimal
    executed: Decimal
    cost: Decimal  # quote currency, for the executed part
    fee: Decimal  # quote currency

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES


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


def parse_kraken_order(txid: str, raw: dict[str, Any]) -> VenueOrder:
    """Read Kraken's Order object (OpenOrders/ClosedOrders/QueryOrders share it)."""
    return VenueOrder(
        txid=txid,
        client_id=raw.get("cl_ord_id") or None,
        status=str(raw["status"]),
        volume=Decimal(str(raw["vol"])),
        executed=Decimal(str(raw.get("vol_exec") or "0")),
        cost=Decimal(str(raw.get("cost") or "0")),
        fee=Decimal(str(raw.get("fee") or "0")),
    )


# The one place "retry or give up" is decided for Kraken's error strings.
_HALT = ("EAPI:Invalid key", "EAPI:Invalid signature", "EGeneral:Permission denied")
_HALT_PREFIXES = ("EGeneral:Temporary lockout", "EAPI:Feature disabled")
_RETRY_PREFIXES = (
    "EAPI:Rate limit exceeded",
    "EOrder:Rate limit exceeded",
    "EGeneral:Too many requests",
    "EService:Throttled",
    "EAPI:Invalid nonce",
)
_UNKNOWN_PREFIXES = (
    "EService:Unavailable",
    "EService:Busy",
    "EGeneral:Internal error",
    "EDatabase:Internal error",
    "EService:Timeout",
)


def classify_kraken_error(error: str) -> VenueErrorKind:
    """Map one Kraken error string to what the executor does about it.

    Bad credentials and lockouts halt (sending more only makes the lockout
    longer). Rate limits and nonce refusals happen before the order exists,
    so the order may be sent again after a backoff. "Unavailable"-like errors
    do not say whether the order was booked: look it up by client id first.
    Everything else (minimums, bad arguments, unknown pair, duplicates) is a
    plain refusal of this order.
    """
    if error in _HALT or error.startswith(_HALT_PREFIXES):
        return VenueErrorKind.HALT
    if error.startswith(_RETRY_PREFIXES):
        return VenueErrorKind.RETRY
    if error.startswith(_UNKNOWN_PREFIXES):
        return VenueErrorKind.UNKNOWN_OUTCOME
    if error.startswith("EOrder:Insufficient funds"):
        return VenueErrorKind.INSUFFICIENT_FUNDS
    return VenueErrorKind.REFUSED


def classify_http_status(status: int) -> VenueErrorKind:
    """A non-200 answer never reached Kraken's engine properly (§2): 429 is a throttle."""
    return VenueErrorKind.RETRY if status == 429 else VenueErrorKind.UNKNOWN_OUTCOME


def kraken_errors_in(text: str) -> list[str]:
    """The Kraken error strings inside a library's exception text (ccxt quotes the body)."""
    return _KRAKEN_ERROR.findall(text)


def kraken_deadline(now: datetime, deadline_s: float) -> str:
    """AddOrder's `deadline`: the engine drops the order if it arrives later than this."""
    seconds = min(max(deadline_s, DEADLINE_MIN_S), DEADLINE_MAX_S)
    return (now.astimezone(UTC) + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def utc_now() -> datetime:
    return datetime.now(UTC)


def check_base_url(url: str) -> str:
    """The exchange base URL: Kraken's own, or a loopback server (the tests' fake)."""
    url = url.rstrip("/")
    parts = urlsplit(url)
    if url != KRAKEN_REST_URL and (
        parts.scheme not in ("http", "https") or parts.hostname not in ("127.0.0.1", "::1")
    ):
        raise ConfigError(
            f"exchange URL {url!r} is neither {KRAKEN_REST_URL} nor an http(s) loopback address"
        )
    return url
