"""Limit, post-only and IOC orders through both providers, against the matching fake Kraken.

Each test runs the real ccxt or krakenex client over HTTP on 127.0.0.1 against
`FakeKrakenRest` with a `RecordedMarket` (the captured BTC/USD book: best bid
29430.2, best ask 29430.3 at its start), and checks what the adapter reports
*and* what the venue booked and was sent.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import parse_qs

import pytest

from common.config import Secret
from common.messages import Side
from services.executor.venue import Venue
from tests.fakes.kraken_market import RecordedMarket
from tests.fakes.kraken_rest import CANCELLED_REASON, POST_ONLY_REASON, FakeKrakenRest
from tests.fakes.kraken_ws import load_book_fixture
from venues.errors import VenueError, VenueErrorKind
from venues.kraken.pairs import load_pairs
from venues.kraken.rest.live_ccxt import CcxtVenue
from venues.kraken.rest.live_krakenex import KrakenexVenue

KEY = "limit-test-key"
SECRET = base64.b64encode(os.urandom(64)).decode()
PROVIDERS = ("ccxt", "krakenex")
D = Decimal
BID, ASK = D("29430.2"), D("29430.3")  # the recording's touch at position 0
BELOW = D("29420.0")  # a buy price that rests: below every ask, no bid shown there


@pytest.fixture
def fake() -> Iterator[FakeKrakenRest]:
    init, updates = load_book_fixture()
    market = RecordedMarket({"BTC/USD": (init, updates)})
    with FakeKrakenRest(KEY, SECRET, mark_price="29430.0", market=market) as server:
        yield server


def _venue(provider: str, fake: FakeKrakenRest) -> Venue:
    if provider == "ccxt":
        return CcxtVenue(fake.url, Secret(KEY), Secret(SECRET), timeout_s=5.0, rate_limit_ms=1)
    return KrakenexVenue(fake.url, Secret(KEY), Secret(SECRET), timeout_s=5.0, pairs=load_pairs())


def _limit(
    venue: Venue,
    fake: FakeKrakenRest,
    client_id: str,
    qty: str,
    price: Decimal,
    *,
    post_only: bool = False,
    ioc: bool = False,
) -> str:
    now_s = fake.now_s()
    return venue.place_limit(
        "BTC/USD",
        Side.BUY,
        D(qty),
        price,
        client_id,
        10.0,
        now_s,
        post_only=post_only,
        immediate_or_cancel=ioc,
    )


def _sent(fake: FakeKrakenRest, method: str) -> dict[str, str]:
    """The fields of the last `method` call, as the venue received them."""
    entry = [e for e in fake.log if e["method"] == method][-1]
    body = entry["body"]
    if body.startswith("{"):
        return {k: str(v) for k, v in json.loads(body).items()}
    return {k: v[0] for k, v in parse_qs(body).items()}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_post_only_limit_rests_with_its_terms_on_the_wire(
    provider: str, fake: FakeKrakenRest
) -> None:
    """AddOrder carries ordertype=limit, the price, oflags=post and the client id; it rests."""
    venue = _venue(provider, fake)
    txid = _limit(venue, fake, "rest-1", "0.01", BELOW, post_only=True)
    sent = _sent(fake, "AddOrder")
    assert (sent["ordertype"], D(sent["price"]), sent["oflags"]) == ("limit", BELOW, "post")
    assert sent["cl_ord_id"] == "rest-1" and "timeinforce" not in sent
    order = venue.query(txid)
    assert (order.status, order.executed, order.client_id) == ("open", 0, "rest-1")
    assert venue.find("rest-1", 0) == order


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_partial_fill_shows_as_executed_volume_at_the_limit_as_maker(
    provider: str, fake: FakeKrakenRest
) -> None:
    """Half filled passively: still open, cost at the limit price, the maker fee."""
    venue = _venue(provider, fake)
    txid = _limit(venue, fake, "part-1", "0.02", BELOW, post_only=True)
    fake.fill(txid, "0.01")
    order = venue.query(txid)
    assert (order.status, order.executed, order.cost) == ("open", D("0.01"), BELOW * D("0.01"))
    assert order.fee == (BELOW * D("0.01") * D("0.0025")).quantize(D("0.00001"))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_amend_changes_size_and_price_in_place_keeping_txid_and_fills(
    provider: str, fake: FakeKrakenRest
) -> None:
    """Kraken's AmendOrder (ccxt's edit_order): same txid, new total size and price."""
    venue = _venue(provider, fake)
    txid = _limit(venue, fake, "amend-1", "0.03", BELOW, post_only=True)
    fake.fill(txid, "0.01")
    venue.amend("BTC/USD", txid, D("0.02"), D("29421.5"))
    sent = _sent(fake, "AmendOrder")
    assert sent["txid"] == txid
    assert (D(sent["order_qty"]), D(sent["limit_price"])) == (D("0.02"), D("29421.5"))
    order = venue.query(txid)
    assert (order.txid, order.status, order.volume, order.executed) == (
        txid,
        "open",
        D("0.02"),
        D("0.01"),
    )
    assert D(fake.orders[txid]["descr"]["price"]) == D("29421.5")
    assert sum(e["method"] == "AddOrder" for e in fake.log) == 1  # no new order


@pytest.mark.parametrize("provider", PROVIDERS)
def test_amend_of_a_post_only_to_a_taking_price_is_refused_and_changes_nothing(
    provider: str, fake: FakeKrakenRest
) -> None:
    """A post-only order amended through the touch is refused as post-only."""
    venue = _venue(provider, fake)
    txid = _limit(venue, fake, "amend-2", "0.01", BELOW, post_only=True)
    with pytest.raises(VenueError) as refused:
        venue.amend("BTC/USD", txid, D("0.01"), ASK)
    assert refused.value.kind is VenueErrorKind.POST_ONLY
    assert venue.query(txid).status == "open"
    assert D(fake.orders[txid]["descr"]["price"]) == BELOW


@pytest.mark.parametrize("provider", PROVIDERS)
def test_cancel_closes_the_rest_and_keeps_the_fill(provider: str, fake: FakeKrakenRest) -> None:
    """Cancelled after a partial fill: canceled, the executed part stays executed."""
    venue = _venue(provider, fake)
    txid = _limit(venue, fake, "cancel-1", "0.02", BELOW)
    fake.fill(txid, "0.005")
    venue.cancel(txid)
    order = venue.query(txid)
    assert (order.status, order.executed) == ("canceled", D("0.005"))
    assert order.reason == CANCELLED_REASON and not order.post_only_refused


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_cancel_that_loses_the_race_to_a_fill_finds_the_order_filled(
    provider: str, fake: FakeKrakenRest
) -> None:
    """The fill lands just before the cancel: the cancel is refused, the order reads filled."""
    venue = _venue(provider, fake)
    txid = _limit(venue, fake, "race-1", "0.01", BELOW)
    fake.before_next("CancelOrder", lambda: fake.fill(txid, "0.01"))
    with pytest.raises(VenueError) as refused:
        venue.cancel(txid)
    assert (refused.value.kind, refused.value.venue_error) == (
        VenueErrorKind.REFUSED,
        "EOrder:Unknown order",
    )
    order = venue.query(txid)
    assert (order.status, order.executed) == ("closed", D("0.01"))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_post_only_order_that_would_take_is_cancelled_by_the_venue(
    provider: str, fake: FakeKrakenRest
) -> None:
    """At the best ask, post-only: booked, then cancelled with reason "Post only order"."""
    venue = _venue(provider, fake)
    txid = _limit(venue, fake, "post-1", "0.01", ASK, post_only=True)
    order = venue.query(txid)
    assert (order.status, order.executed, order.reason) == ("canceled", 0, POST_ONLY_REASON)
    assert order.post_only_refused


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_ioc_order_takes_what_crosses_and_its_rest_is_cancelled(
    provider: str, fake: FakeKrakenRest
) -> None:
    """IOC at the best ask for more than it shows: that level fills, the rest is cancelled."""
    venue = _venue(provider, fake)
    fake.balances["ZUSD"] = D("1000000")
    txid = _limit(venue, fake, "ioc-1", "10", ASK, ioc=True)
    assert _sent(fake, "AddOrder")["timeinforce"] == "IOC"
    order = venue.query(txid)
    shown = D("8.25215653")  # the best ask's size at position 0
    cost = (ASK * shown).quantize(D("0.00001"))  # Kraken's cost_decimals
    assert (order.status, order.executed, order.cost) == ("canceled", shown, cost)
    assert order.fee == (ASK * shown * D("0.0040")).quantize(D("0.00001"))  # taker


@pytest.mark.parametrize("provider", PROVIDERS)
def test_several_orders_are_read_in_one_query(provider: str, fake: FakeKrakenRest) -> None:
    """QueryOrders with a list: one REST call for every resting order, an unknown id left out."""
    venue = _venue(provider, fake)
    first = _limit(venue, fake, "many-1", "0.01", BELOW)
    second = _limit(venue, fake, "many-2", "0.02", BELOW)
    fake.fill(second, "0.01")
    calls = sum(e["method"] == "QueryOrders" for e in fake.log)
    orders = venue.query_many([first, second, "OUNKNOWN-AAAAA-BBBBBB"])
    assert sum(e["method"] == "QueryOrders" for e in fake.log) == calls + 1
    assert set(orders) == {first, second}
    assert (orders[first].executed, orders[second].executed) == (0, D("0.01"))
