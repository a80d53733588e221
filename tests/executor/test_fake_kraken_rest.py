"""The fake Kraken REST server, driven by the real ccxt and krakenex clients.

These pin the behaviour a live executor will rely on (docs/kraken-rest-live.md):
Kraken's signature, nonce rules, order lifecycle by client order id, and that
a timeout after booking leaves exactly one order to find, never a resend.
"""

from __future__ import annotations

import base64
import os
from decimal import Decimal

import ccxt
import krakenex
import pytest
import requests

from tests.conftest import wait_until
from tests.fakes.kraken_rest import PAIRS, FakeKrakenRest, kraken_signature
from venues.kraken.pairs import load_pairs

KEY = "test-key"
SECRET = base64.b64encode(os.urandom(64)).decode()


def test_signature_matches_krakens_published_vector() -> None:
    """The example from Kraken's docs, to the character."""
    secret = (
        "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
    )
    body = b"nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
    assert kraken_signature("/0/private/AddOrder", body, "1616492376594", secret) == (
        "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
    )


def test_the_fakes_minimums_are_the_pair_files() -> None:
    """The fake refuses no order the engine's pair rules pass (data/kraken_pairs.json).

    A larger fake minimum (0.0001 against Kraken's 0.00005 BTC) refused a
    0.00005-0.0001 order at the venue now and then, so the swap test found an
    order journaled that the fake never booked.
    """
    rules = {r.rest_pair: r for r in load_pairs().values()}
    for pair in PAIRS.values():
        assert Decimal(pair["ordermin"]) == rules[pair["altname"]].qty_min, pair["altname"]
        assert Decimal(pair["costmin"]) == rules[pair["altname"]].cost_min, pair["altname"]


def _ccxt(fake: FakeKrakenRest, secret: str = SECRET) -> ccxt.kraken:
    client = ccxt.kraken(
        {"apiKey": KEY, "secret": secret, "enableRateLimit": False, "timeout": 1500}
    )
    client.urls["api"] = {"public": fake.url, "private": fake.url}
    client.urls["zendesk"] = fake.url
    return client


def _krakenex(fake: FakeKrakenRest) -> krakenex.API:
    api = krakenex.API(KEY, SECRET)
    api.uri = fake.url
    return api


def test_ccxt_places_finds_by_client_id_and_cancels() -> None:
    """A limit order by client id: open, found by that id, cancelled, then closed."""
    with FakeKrakenRest(KEY, SECRET) as fake:
        client = _ccxt(fake)
        order = client.create_order(
            "BTC/USD", "limit", "buy", 0.001, 50_000, {"clientOrderId": "run1-1"}
        )
        [found] = client.fetch_open_orders(params={"clientOrderId": "run1-1"})
        assert found["id"] == order["id"]
        client.cancel_order(order["id"])
        [closed] = client.fetch_closed_orders(params={"clientOrderId": "run1-1"})
        assert closed["status"] == "canceled"
    assert all(entry.get("signature_ok", True) for entry in fake.log)


def test_krakenex_places_a_market_order_and_queries_it() -> None:
    """krakenex returns Kraken's errors instead of raising; the order fills at once."""
    with FakeKrakenRest(KEY, SECRET) as fake:
        api = _krakenex(fake)
        placed = api.query_private(
            "AddOrder",
            {
                "pair": "XBTUSD",
                "type": "buy",
                "ordertype": "market",
                "volume": "0.001",
                "cl_ord_id": "run1-2",
            },
            timeout=5,
        )
        assert placed["error"] == []
        [txid] = placed["result"]["txid"]
        queried = api.query_private("QueryOrders", {"txid": txid}, timeout=5)
        assert queried["result"][txid]["status"] == "closed"
        too_small = api.query_private(
            "AddOrder",
            {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.00001"},
            timeout=5,
        )
        assert too_small["error"] == ["EOrder:Order minimum not met"]


def test_bad_signature_and_stale_nonce_are_refused() -> None:
    """A wrong secret is an invalid signature; a repeated nonce is an invalid nonce."""
    with FakeKrakenRest(KEY, SECRET) as fake:
        wrong = base64.b64encode(os.urandom(64)).decode()
        with pytest.raises(ccxt.ExchangeError, match="Invalid signature"):
            _ccxt(fake, secret=wrong).fetch_balance()
        api = _krakenex(fake)
        api._nonce = lambda: 1_000  # type: ignore[method-assign]  # a clock stuck in the past
        assert api.query_private("Balance", timeout=5)["error"] == []
        assert api.query_private("Balance", timeout=5)["error"] == ["EAPI:Invalid nonce"]


def test_timeout_after_booking_leaves_one_order_to_reconcile() -> None:
    """The client times out, but the order exists: it is found by client id, not resent."""
    with FakeKrakenRest(KEY, SECRET) as fake:
        client = _ccxt(fake)
        client.load_markets()
        fake.fail_next("AddOrder", "late", 3.0)
        with pytest.raises(ccxt.RequestTimeout):
            client.create_order(
                "BTC/USD", "market", "buy", 0.001, None, {"clientOrderId": "run1-3"}
            )
        found = client.fetch_closed_orders(params={"clientOrderId": "run1-3"})
        assert len(found) == 1 and found[0]["status"] == "closed"
        assert sum(entry["method"] == "AddOrder" for entry in fake.log) == 1


@pytest.mark.parametrize(
    ("kind", "value", "ccxt_error"),
    [
        ("error", "EAPI:Rate limit exceeded", ccxt.DDoSProtection),
        ("error", "EOrder:Insufficient funds", ccxt.InsufficientFunds),
        ("error", "EService:Unavailable", ccxt.ExchangeNotAvailable),
        ("http", 503, ccxt.ExchangeNotAvailable),
    ],
)
def test_kraken_errors_map_to_distinct_client_errors(
    kind: str, value: object, ccxt_error: type[Exception]
) -> None:
    """Each failure a live executor must tell apart reaches it as its own class."""
    with FakeKrakenRest(KEY, SECRET) as fake:
        client = _ccxt(fake)
        client.load_markets()
        fake.fail_next("AddOrder", kind, value)
        with pytest.raises(ccxt_error):
            client.create_order("BTC/USD", "market", "buy", 0.001)
        api = _krakenex(fake)
        fake.fail_next("Balance", kind, value)
        if kind == "http":
            with pytest.raises(requests.HTTPError):
                api.query_private("Balance", timeout=5)
        else:
            assert api.query_private("Balance", timeout=5)["error"] == [value]


def test_dead_man_switch_cancels_open_orders_when_the_fakes_clock_passes_its_timer() -> None:
    """CancelAllOrdersAfter on the fake's own clock: skewed past the timer, open orders go."""
    with FakeKrakenRest(KEY, SECRET) as fake:
        fake.market_fill_fraction = Decimal(0)
        api = _krakenex(fake)
        order = {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.001"}
        assert api.query_private("AddOrder", dict(order), timeout=5)["error"] == []
        armed = api.query_private("CancelAllOrdersAfter", {"timeout": "60"}, timeout=5)
        assert armed["error"] == [] and armed["result"]["triggerTime"] != "0"
        fake.clock_skew_s = 30.0  # not yet
        assert api.query_private("OpenOrders", timeout=5)["result"]["open"]
        fake.clock_skew_s = 61.0
        wait_until(lambda: fake.dead_man_fired == 1, 5, "the switch firing")
        assert api.query_private("OpenOrders", timeout=5)["result"]["open"] == {}
        assert api.query_private("AddOrder", dict(order), timeout=5)["error"] == []
        disarmed = api.query_private("CancelAllOrdersAfter", {"timeout": "0"}, timeout=5)
        assert disarmed["result"]["triggerTime"] == "0"
        fake.clock_skew_s = 200.0
        assert len(api.query_private("OpenOrders", timeout=5)["result"]["open"]) == 1
    assert fake.dead_man_calls == [60, 0] and fake.dead_man_fired == 1
