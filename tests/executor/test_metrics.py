"""The executor's venue call counter: every call to the live venue, by method and outcome."""

from __future__ import annotations

import pytest

from common.config import Secret
from services.executor.metrics import CountedVenue
from tests.executor.test_live_service import KEY, SECRET
from tests.fakes.kraken_rest import FakeKrakenRest
from venues.errors import VenueError
from venues.kraken.pairs import load_pairs
from venues.kraken.rest.live_krakenex import KrakenexVenue


def test_counted_venue_counts_each_call_by_method_and_outcome() -> None:
    """Against the fake Kraken REST: two good calls and one refused by the venue, each counted;
    the error still reaches the caller."""
    with FakeKrakenRest(KEY, SECRET) as fake:
        good = KrakenexVenue(fake.url, Secret(KEY), Secret(SECRET), timeout_s=5, pairs=load_pairs())
        bad_secret = SECRET[::-1]
        refused = KrakenexVenue(
            fake.url, Secret(KEY), Secret(bad_secret), timeout_s=5, pairs=load_pairs()
        )
        venue, wrong = CountedVenue(good), CountedVenue(refused)
        venue.server_time_s()
        venue.base_balance("BTC/USD")
        with pytest.raises(VenueError) as failed:
            wrong.base_balance("BTC/USD")
    assert venue.counts() == {("server_time_s", "ok"): 1, ("base_balance", "ok"): 1}
    assert wrong.counts() == {("base_balance", str(failed.value.kind)): 1}
    assert venue.provider == good.provider  # what is not a call passes through
