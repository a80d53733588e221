"""Kraken REST error strings and HTTP statuses map onto the typed `VenueErrorKind`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from common.errors import ConfigError, PipelineError
from venues.errors import VenueError, VenueErrorKind
from venues.kraken.rest.classify import (
    classify_http_status,
    classify_kraken_error,
    kraken_errors_in,
)
from venues.kraken.rest.orders import check_base_url, kraken_deadline, parse_kraken_order


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("EAPI:Invalid key", VenueErrorKind.HALT),
        ("EGeneral:Temporary lockout", VenueErrorKind.HALT),
        ("EAPI:Rate limit exceeded", VenueErrorKind.RETRY),
        ("EAPI:Invalid nonce", VenueErrorKind.RETRY),
        ("EService:Unavailable", VenueErrorKind.UNKNOWN_OUTCOME),
        ("EGeneral:Internal error", VenueErrorKind.UNKNOWN_OUTCOME),
        ("EOrder:Insufficient funds", VenueErrorKind.INSUFFICIENT_FUNDS),
        ("EOrder:Post only order", VenueErrorKind.POST_ONLY),
        ("EOrder:Order minimum not met", VenueErrorKind.REFUSED),
        ("EQuery:Unknown asset pair", VenueErrorKind.REFUSED),
    ],
)
def test_each_kraken_error_string_has_one_kind(error: str, kind: VenueErrorKind) -> None:
    """Credentials halt, throttles retry, outages look first, funds and the rest refuse."""
    assert classify_kraken_error(error) is kind


def test_http_429_retries_and_other_statuses_leave_the_outcome_unknown() -> None:
    """A throttle is refused at the door; any other non-200 may have booked the order."""
    assert classify_http_status(429) is VenueErrorKind.RETRY
    assert classify_http_status(502) is VenueErrorKind.UNKNOWN_OUTCOME


def test_kraken_errors_are_found_inside_a_library_message() -> None:
    """ccxt quotes Kraken's body; the error strings are read out of it."""
    text = 'kraken {"error":["EOrder:Insufficient funds","WGeneral:Something"]}'
    assert kraken_errors_in(text) == ["EOrder:Insufficient funds", "WGeneral:Something"]


def test_venue_error_carries_a_typed_kind_and_is_a_pipeline_error() -> None:
    """The executor branches on `kind`, an enum member, never on the text."""
    error = VenueError(classify_kraken_error("EAPI:Invalid key"), "EAPI:Invalid key")
    assert isinstance(error, PipelineError)
    assert error.kind is VenueErrorKind.HALT
    assert error.venue_error == "EAPI:Invalid key"


def test_deadline_is_clamped_to_what_kraken_accepts() -> None:
    """AddOrder's deadline lies 2-60 s ahead whatever is asked."""
    now = datetime(2024, 1, 1, tzinfo=UTC).timestamp()  # the venue's clock
    assert kraken_deadline(now, 0.1) == "2024-01-01T00:00:02.000+00:00"
    assert kraken_deadline(now, 600) == "2024-01-01T00:01:00.000+00:00"


def test_order_object_is_parsed_with_exact_decimals() -> None:
    """Kraken's Order object becomes a `VenueOrder`; a closed order is done."""
    order = parse_kraken_order(
        "O1", {"status": "closed", "vol": "0.01", "vol_exec": "0.01", "cost": "600.5", "fee": "1.2"}
    )
    assert order.done and order.client_id is None
    assert str(order.cost) == "600.5"


def test_base_url_is_krakens_or_loopback_only() -> None:
    """A non-loopback URL other than Kraken's own is refused as configuration."""
    assert check_base_url("https://api.kraken.com/") == "https://api.kraken.com"
    assert check_base_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    with pytest.raises(ConfigError):
        check_base_url("https://example.com")
