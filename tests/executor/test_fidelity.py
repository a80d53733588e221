"""The fidelity oracles of bench/fidelity.py, asserted cheaply (fewer orders than the bench)."""

from __future__ import annotations

import itertools

import pytest

from bench import fidelity
from bench.recordings import BUNDLED
from common.messages import Side
from common.tickfile import iter_ticks


@pytest.fixture(scope="module")
def kraken_ticks() -> list:
    return fidelity.kraken_fixture_ticks()


def test_the_kraken_fixture_becomes_ticks_with_its_depth(kraken_ticks: list) -> None:
    """Every book change of the fixture is a quote with ten levels a side."""
    assert len(kraken_ticks) == 510
    assert all(len(t.bids) == 10 and len(t.asks) == 10 for t in kraken_ticks)


@pytest.mark.parametrize("qty", fidelity.SIZES)
def test_depth_and_latency_oracles_hold_on_the_kraken_book(kraken_ticks: list, qty: float) -> None:
    """(a) paper's average price equals a sweep of the arrival book to 0.1 bps;
    (c) no fill on a book older than the order's arrival, none outside its book."""
    outcomes = fidelity.run_orders(kraken_ticks, qty, 20, "BTC/USD")
    errors = [e for e in map(fidelity.error_bps, outcomes) if e is not None]
    assert len(errors) >= len(outcomes) - 2  # every order but the last ones has an arrival book
    assert abs(sum(errors) / len(errors)) <= 0.1
    assert fidelity.violations(outcomes, kraken_ticks) == {
        "fills_before_arrival": 0,
        "fills_outside_the_book": 0,
    }


def test_top_of_book_only_is_what_the_oracle_catches(kraken_ticks: list) -> None:
    """The oracle can fail: the old top-only fills of 0.5 BTC differ from the sweep."""
    outcomes = fidelity.run_orders(fidelity.top_only(kraken_ticks), 0.5, 20, "BTC/USD")
    reference = fidelity.run_orders(kraken_ticks, 0.5, 20, "BTC/USD")
    errors = [
        fidelity.error_bps(fidelity.Outcome(o.side, o.qty, o.due_ns, r.arrival, o.fills))
        for o, r in zip(outcomes, reference, strict=True)
    ]
    assert any(e is not None and abs(e) > 0.01 for e in errors)


def test_on_the_bundled_recording_no_fill_comes_before_arrival_or_outside_the_book() -> None:
    ticks = list(itertools.islice(iter_ticks(BUNDLED), 8_000))
    outcomes = fidelity.run_orders(ticks, 0.1, 100, "BTC/USDT")
    assert {o.side for o in outcomes} == {Side.BUY, Side.SELL}
    assert sum(len(o.fills) for o in outcomes) > 0
    assert fidelity.violations(outcomes, ticks) == {
        "fills_before_arrival": 0,
        "fills_outside_the_book": 0,
    }
