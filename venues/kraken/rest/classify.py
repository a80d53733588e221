"""What a Kraken REST error means for the order: the one place "retry or give up" is decided.

Kraken answers with strings such as ``EOrder:Insufficient funds`` or
``EAPI:Rate limit exceeded`` (docs/kraken-rest-live.md §2, §6); both providers
map them, and HTTP statuses, onto the venue-neutral `VenueErrorKind` here, and
the executor branches on that kind alone.
"""

from __future__ import annotations

import re
from typing import Final

from venues.errors import VenueErrorKind

_KRAKEN_ERROR: Final = re.compile(r"[EW][A-Za-z]+:[A-Za-z][^\"'\]\[,]*")

_HALT: Final = ("EAPI:Invalid key", "EAPI:Invalid signature", "EGeneral:Permission denied")
_HALT_PREFIXES: Final = ("EGeneral:Temporary lockout", "EAPI:Feature disabled")
_RETRY_PREFIXES: Final = (
    "EAPI:Rate limit exceeded",
    "EOrder:Rate limit exceeded",
    "EGeneral:Too many requests",
    "EService:Throttled",
    "EAPI:Invalid nonce",
)
_UNKNOWN_PREFIXES: Final = (
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
    if error.startswith("EOrder:Post only order"):  # an AddOrder/AmendOrder that would take
        return VenueErrorKind.POST_ONLY
    return VenueErrorKind.REFUSED


def classify_http_status(status: int) -> VenueErrorKind:
    """A non-200 answer never reached Kraken's engine properly (§2): 429 is a throttle."""
    return VenueErrorKind.RETRY if status == 429 else VenueErrorKind.UNKNOWN_OUTCOME


def kraken_errors_in(text: str) -> list[str]:
    """The Kraken error strings inside a library's exception text (ccxt quotes the body)."""
    return _KRAKEN_ERROR.findall(text)
