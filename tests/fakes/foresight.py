"""What the recorded Kraken book does next: the trades of a test model that peeks.

The shadow end-to-end test needs a model whose orders the market moves against
*by construction*, so that a paper twin filling on the book the order was
decided on is optimistic on every order, not on average by luck. This module
reads the fake feed's recording (the BTC/USD depth-10 snapshot and its 509
updates, tests/fixtures/kraken/) and plans, for a venue that meets every live
order `LAG` updates after the book it was decided on, the positions at which
to buy (the ask the venue will show is dearer than the one decided on) and
to sell (the bid will be lower). The planning is shared by the test and by
the plug-in model that trades it (tests/fixtures/plugins/peeking_model.py):
a model that sees the future, which only a test may have.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from pathlib import Path
from typing import Final

from tests.fakes.kraken_market import RecordedMarket

BOOK_FIXTURE: Final = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "kraken"
    / "pks_book_btcusd_d10_2023-07-30.json"
)
# Book updates between the book an order is decided on and the one the venue
# shows it. The recording's touch is calm (its ask steps up twice in 509
# updates, its bid never steps down), so the lag is wide enough to reach a step.
LAG: Final = 20
SPACING: Final = 3  # updates between planned orders
ORDER_QTY: Final = Decimal("0.00005")  # BTC/USD's minimum: every order of a shadow run
# The fake venue (as Kraken for USD) reports an order's cost to 5 decimals; the
# live executor's price is that cost over the quantity: at 0.00005 BTC, +-0.1 USD.
COST_QUANTUM: Final = Decimal("0.00001")
ROOM: Final = 10  # updates the run has left after the last order's venue book
DEEP_ENOUGH: Final = 0.001  # BTC at the touch: 20 minimum orders (0.00005), never walked past

Levels = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class BookState:
    bids: Levels
    asks: Levels


@cache
def book_states() -> tuple[BookState, ...]:
    """The recorded book after 0, 1, ... 509 updates, as the feed's ticks carry it (floats)."""
    data = json.loads(BOOK_FIXTURE.read_text())
    market = RecordedMarket({"BTC/USD": (data["init"], data["updates"])})
    states = []
    for position in range(len(data["updates"]) + 1):
        bids, asks = market.book("BTC/USD", position)
        states.append(BookState(_floats(bids), _floats(asks)))
    return tuple(states)


def _floats(levels: list[tuple[Decimal, Decimal]]) -> Levels:
    return tuple((float(price), float(qty)) for price, qty in levels)


def published(states: tuple[BookState, ...], position: int) -> bool:
    """Whether the feed sends a tick for this state (it skips a book that did not change)."""
    return position == 0 or states[position] != states[position - 1]


@cache
def planned_orders(count: int = 6, first: int = 10) -> dict[int, str]:
    """Book positions -> "buy" | "sell": where the venue's book `LAG` updates on is worse.

    A buy where the touch ask rises, a sell where the touch bid falls, from
    the state decided on to the one the venue shows `LAG` updates later (as
    the live executor will learn that price: `reported_price`);
    that touch deep enough, in both states, that a minimum order never walks
    past it; at states the feed publishes, `SPACING` apart, never selling
    more than was bought (a spot account), and ending `ROOM` updates before
    the recording does.
    """
    states = book_states()
    plan: dict[int, str] = {}
    held = 0
    position = first
    last = len(states) - 1 - LAG - ROOM
    while position <= last and len(plan) < count:
        now, later = states[position], states[position + LAG]
        side = None
        if published(states, position):
            if _worse(now.asks, later.asks, buy=True):
                side = "buy"
            elif _worse(now.bids, later.bids, buy=False) and held > 0:
                side = "sell"
        if side is None:
            position += 1
            continue
        plan[position] = side
        held += 1 if side == "buy" else -1
        position += SPACING
    return plan


def reported_price(price: float) -> float:
    """The price the live executor learns for a minimum order filled at `price`."""
    cost = (Decimal(repr(price)) * ORDER_QTY).quantize(COST_QUANTUM, ROUND_HALF_EVEN)
    return float(cost / ORDER_QTY)


def _worse(now: Levels, later: Levels, *, buy: bool) -> bool:
    """The touch moved against the order, and so did the price the live executor learns.

    Both: a rounding of the cost alone is no market move, and a step the
    rounding hides is none the live executor sees.
    """
    if not (now[0][1] >= DEEP_ENOUGH and later[0][1] >= DEEP_ENOUGH):
        return False
    price, learned = later[0][0], reported_price(later[0][0])
    if buy:
        return price > now[0][0] and learned > now[0][0]
    return price < now[0][0] and learned < now[0][0]


def quote_ticks_through(position: int) -> int:
    """How many quote ticks the feed publishes for states 0..`position`."""
    states = book_states()
    return sum(published(states, p) for p in range(position + 1))
