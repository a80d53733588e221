"""The errors only the Kraken adapter raises (WebSocket v2 market data).

Hierarchy (a class also subclasses the builtin a caller may already catch)::

    PipelineError (common.errors)
    ├── MalformedFrame (ValueError)       a Kraken frame we cannot understand
    └── SubscriptionRejected              Kraken refused a symbol or channel

REST failures are `venues.errors.VenueError`, classified in `rest/classify.py`.
Code branches on the class or its attributes, never on message text.
"""

from __future__ import annotations

from common.errors import PipelineError


class MalformedFrame(PipelineError, ValueError):
    """A venue frame (e.g. Kraken JSON) that cannot be understood; counted, skipped."""


class SubscriptionRejected(PipelineError):
    """The venue refused a subscription, e.g. an unknown symbol: not retried."""

    def __init__(self, symbol: str | None, channel: str | None, error: str) -> None:
        super().__init__(f"Kraken refused {channel or 'a'} subscription for {symbol}: {error}")
        self.symbol, self.channel, self.error = symbol, channel, error
