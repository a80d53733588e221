"""Kraken REST facts both providers share: the base URL, `deadline`, the Order object.

`live_ccxt.py` and `live_krakenex.py` both talk to Kraken's spot REST API, so
what its orders look like and how far ahead an order's `deadline` may lie
are written here, once (docs/kraken-rest-live.md §6, §8). What an error
string means is `classify.py`'s.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final
from urllib.parse import urlsplit

from common.errors import ConfigError
from venues.order import VenueOrder

KRAKEN_REST_URL: Final = "https://api.kraken.com"
# Kraken's `deadline` must lie between now + 2 s and now + 60 s.
DEADLINE_MIN_S: Final = 2.0
DEADLINE_MAX_S: Final = 60.0
# The `reason` of an order Kraken cancelled because, post-only, it would have taken.
POST_ONLY_REASON: Final = "Post only order"


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
        reason=raw.get("reason") or None,
        post_only_refused=raw.get("status") == "canceled" and raw.get("reason") == POST_ONLY_REASON,
    )


def kraken_deadline(venue_now_s: float, deadline_s: float) -> str:
    """AddOrder's `deadline`: the engine drops the order if it arrives later than this.

    `venue_now_s` is Kraken's clock (Unix seconds, from its `Time`), not this
    host's: Kraken judges the deadline by its own.
    """
    seconds = min(max(deadline_s, DEADLINE_MIN_S), DEADLINE_MAX_S)
    return datetime.fromtimestamp(venue_now_s + seconds, UTC).isoformat(timespec="milliseconds")


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
