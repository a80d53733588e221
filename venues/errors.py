"""The errors every venue adapter raises, and the one typed answer to "what now?".

Hierarchy (a class also subclasses the builtin a caller may already catch)::

    PipelineError (common.errors)
    └── VenueError                        a live venue call failed; `kind` says how

`VenueErrorKind` is a closed set: each venue maps its own error strings and
transport failures onto it in one function (Kraken: `venues.kraken.rest.classify`),
and the executor branches on the kind alone, never on the venue's text.
No error text ever carries a key, a signature or a signed payload.
"""

from __future__ import annotations

from enum import StrEnum

from common.errors import PipelineError


class VenueErrorKind(StrEnum):
    """What a failed venue call means for the order (decided once per venue)."""

    REFUSED = "refused"  # the venue answered no: this order will never exist
    INSUFFICIENT_FUNDS = "insufficient_funds"  # refused, for lack of balance
    POST_ONLY = "post_only"  # refused: post-only, it would have taken liquidity
    RETRY = "retry"  # refused at the door (rate limit, nonce): safe to send again later
    UNKNOWN_OUTCOME = "unknown_outcome"  # timeout, 5xx, dropped: it may exist; look first
    HALT = "halt"  # credentials or account: nothing more can be sent safely


class VenueError(PipelineError):
    """A live venue (exchange REST) call that did not succeed.

    `kind` says what the executor should do (retry, look the order up,
    reject, halt); `venue_error` is the exchange's own error text (e.g.
    ``EOrder:Insufficient funds``) or the transport failure's class name.
    Neither ever holds a key or a signature.
    """

    def __init__(self, kind: VenueErrorKind, venue_error: str) -> None:
        super().__init__(f"{kind}: {venue_error}")
        self.kind, self.venue_error = kind, venue_error
