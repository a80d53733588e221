"""The rules a message's fields keep together, beyond each field's own type.

`wire.decode` runs these after msgspec has checked every field alone: a
quote has an uncrossed bid/ask and sizes, a trade a price, size and side, a
quote's levels are its book best first; an `OrderSubmitted`'s terms agree;
a `TickBatch`'s ticks are of its symbol with seqs increasing, a
`PredictionBatch`'s predictions of its symbol, a `TargetBatch`'s tick seqs
never fall. Each raises `InvalidField` naming the first field that breaks
one. (An `EventBatch`'s rule is about topics: it stays with them in wire.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import attrgetter, lt
from typing import Final

from common.errors import InvalidField
from common.messages import (
    OrderSubmitted,
    OrderType,
    PredictionBatch,
    TargetBatch,
    Tick,
    TickBatch,
    TickKind,
    TimeInForce,
)

_QUOTE_FIELDS: Final = ("bid", "bid_size", "ask", "ask_size")
# An enum member read through its class costs 100-300 ns (the enum's metaclass),
# more than the rest of `check_tick`: read once here.
_QUOTE: Final = TickKind.QUOTE
_TRADE_FIELDS: Final = ("last", "last_size", "side")


def check_tick(tick: Tick) -> None:
    # Every stage runs this on every tick: plain attribute tests first, the
    # field-naming loop only once one has failed.
    bid, ask = tick.bid, tick.ask
    if tick.kind is _QUOTE:
        if bid is None or ask is None or tick.bid_size is None or tick.ask_size is None:
            name = next(n for n in _QUOTE_FIELDS if getattr(tick, n) is None)
            raise InvalidField("Tick", name, None, "a quote needs bid, ask and their sizes")
    elif tick.last is None or tick.last_size is None or tick.side is None:
        name = next(n for n in _TRADE_FIELDS if getattr(tick, n) is None)
        raise InvalidField("Tick", name, None, "a trade needs last, last_size and side")
    if bid is not None and ask is not None and bid >= ask:
        raise InvalidField("Tick", "bid", bid, f"crossed or locked book, ask {ask}")
    if tick.bids or tick.asks:
        _check_levels(tick)


def check_order_terms(order: OrderSubmitted) -> None:
    # A limit order has a price and a market order none; only a limit order
    # can be post-only (Kraken's `oflags=post`), and never immediate-or-cancel.
    limit = order.order_type is OrderType.LIMIT
    if limit != (order.limit_price is not None):
        need = "a limit order needs" if limit else "a market order takes no"
        raise InvalidField("OrderSubmitted", "limit_price", order.limit_price, f"{need} price")
    if order.post_only and (not limit or order.time_in_force is TimeInForce.IOC):
        raise InvalidField("OrderSubmitted", "post_only", True, "post-only is a resting limit")


def _check_levels(tick: Tick) -> None:
    # The levels are the book the top came from: best first, strictly ordered,
    # and their first level is the quote's bid/ask (what a fill walks must agree
    # with what everyone else reads as the top).
    if tick.v == 1 or tick.kind is not _QUOTE:
        raise InvalidField("Tick", "bids", len(tick.bids), "levels need a version-2 quote")
    for name, levels, top, descending in (
        ("bids", tick.bids, (tick.bid, tick.bid_size), True),
        ("asks", tick.asks, (tick.ask, tick.ask_size), False),
    ):
        if not levels or levels[0] != top:
            raise InvalidField("Tick", name, levels[:1], f"the first level must be {top}")
        previous = levels[0][0]
        for price, _size in levels[1:]:
            if (price >= previous) if descending else (price <= previous):
                raise InvalidField("Tick", name, price, "levels must be best first, no repeats")
            previous = price


def check_tick_batch(batch: TickBatch) -> None:
    # Three stages run this on every batch: `check_tick`'s tests inlined in
    # one loop, the symbols and seqs compared in C; a tick that fails one (or
    # has levels to check) sends the whole batch through the loop that names
    # what is wrong.
    ticks = batch.ticks
    if first_not_plain(iter(ticks)) is None:
        symbols = list(map(_SYMBOL_OF, ticks))
        seqs = list(map(_SEQ_OF, ticks))
        if symbols.count(batch.symbol) == len(symbols) and all(map(lt, seqs, seqs[1:])):
            return
    _check_tick_batch_item_by_item(batch)


_SYMBOL_OF: Final = attrgetter("symbol")
_SEQ_OF: Final = attrgetter("seq")


def first_not_plain(ticks: Iterator[Tick]) -> Tick | None:
    """Take ticks until one `check_tick` must look at (a failure, or levels); None if none.

    `check_tick`'s tests inlined in one loop, for the checks of many ticks at
    once; an iterator, so a caller checks what this found and goes on after it.
    """
    quote = _QUOTE
    for tick in ticks:
        bid, ask = tick.bid, tick.ask
        if tick.kind is quote:
            if bid is None or ask is None or tick.bid_size is None or tick.ask_size is None:
                return tick
        elif tick.last is None or tick.last_size is None or tick.side is None:
            return tick
        if (bid is not None and ask is not None and bid >= ask) or tick.bids or tick.asks:
            return tick
    return None


def _check_tick_batch_item_by_item(batch: TickBatch) -> None:
    previous_seq = -1
    for position, tick in enumerate(batch.ticks):
        try:
            check_tick(tick)
        except InvalidField as e:
            raise InvalidField("TickBatch", f"ticks[{position}]", "Tick", str(e)) from None
        if tick.symbol != batch.symbol:
            raise InvalidField(
                "TickBatch", f"ticks[{position}].symbol", tick.symbol, "not the batch's"
            )
        if tick.seq <= previous_seq:
            raise InvalidField(
                "TickBatch", f"ticks[{position}].seq", tick.seq, "seqs must increase"
            )
        previous_seq = tick.seq


def check_prediction_batch(batch: PredictionBatch) -> None:
    for position, prediction in enumerate(batch.predictions):
        if prediction.symbol != batch.symbol:
            raise InvalidField(
                "PredictionBatch",
                f"predictions[{position}].symbol",
                prediction.symbol,
                "not the batch's",
            )


def check_target_batch(batch: TargetBatch) -> None:
    # The executor advances its watermark to each target's tick in turn, then
    # to `through`: a watermark never goes back, so neither may these.
    previous_seq = 0
    for position, target in enumerate(batch.targets):
        if target.tick_seq < previous_seq:
            field = f"targets[{position}].tick_seq"
            raise InvalidField("TargetBatch", field, target.tick_seq, "seqs must not fall")
        previous_seq = target.tick_seq
    if batch.through < previous_seq:
        why = f"below the last target's tick seq {previous_seq}"
        raise InvalidField("TargetBatch", "through", batch.through, why)
