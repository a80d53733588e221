"""The decision stack: tick -> features -> prediction -> target.

Three steps (`observe`, `predict`, `decide`), so a service can predict the
ticks already queued in one estimator call and still decide each in order.

Pure: no sockets, no clock reads (`now_ns` is passed in). The live service
and the offline replay both drive this class, so their predictions are
identical by construction.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import NamedTuple

from common.messages import Prediction, Target, Tick, TickKind
from services.model.checkpoint import LoadedModel
from services.model.contract import Book, Costs, FeatureSource
from services.model.features import Row


class Observed(NamedTuple):
    """A tick once its features are updated: what the decision about it needs.

    A named tuple: built once per tick, and a frozen dataclass's `__init__`
    costs several times a tuple's.
    """

    tick: Tick
    row: Row | None  # None while the features warm up (or before the first quote)
    book: Book | None  # the symbol's latest quote at this tick


@dataclass
class DecisionCounters:
    ticks: int = 0
    warming_up: int = 0
    predictions: int = 0
    non_finite_predictions: int = 0
    targets: int = 0


class DecisionStack:
    """Keeps per-symbol feature state and the last target handed to the executor."""

    def __init__(self, model: LoadedModel, *, ttl_ms: int, id_prefix: str | None = None) -> None:
        self.model = model
        self.ttl_ms = ttl_ms
        self.counters = DecisionCounters()
        self.states: dict[str, FeatureSource] = {}
        # Kept here, not by the features: a trader's feature source need not track the quote.
        self.books: dict[str, Book] = {}
        self.last_sent: dict[str, float] = {}
        # Target ids are unique across restarts: model, process, then a counter.
        self.id_prefix = id_prefix or f"{model.short_id[:8]}-{secrets.token_hex(3)}"

    def on_tick(self, tick: Tick, now_ns: int) -> tuple[Prediction | None, Target | None]:
        """Return the prediction for this tick and, if the target moved enough, a Target."""
        seen = self.observe(tick)
        return self.decide(seen, self.predict_one(seen), now_ns)

    def state_of(self, symbol: str) -> FeatureSource:
        """`symbol`'s feature state, a new one of the model's on its first tick."""
        state = self.states.get(symbol)
        if state is None:
            state = self.states[symbol] = self.model.features()
        return state

    def observe(self, tick: Tick) -> Observed:
        """Step 1: the tick into its symbol's features (in tick order; no prediction yet)."""
        self.counters.ticks += 1
        row = self.state_of(tick.symbol).update(tick)
        if tick.bid is not None and tick.ask is not None and tick.kind is TickKind.QUOTE:
            self.books[tick.symbol] = Book(tick.bid, tick.ask)
        book = self.books.get(tick.symbol)
        return Observed(tick, None if book is None else row, book)

    def predict(self, batch: list[Observed]) -> list[float | None]:
        """Step 2: predictions for observed ticks, one estimator call for the whole batch.

        Features never depend on predictions, so a batch of queued ticks gives
        exactly the values one-by-one would; only the estimator's per-call cost
        (scikit-learn's input checks, ~100 us) is paid once instead of per tick.
        """
        rows = [seen.row for seen in batch if seen.row is not None]
        if not rows:
            return [None] * len(batch)
        if len(rows) == 1:
            values = iter([self.model.predict_one(rows[0])])
        else:
            values = iter(self.model.predict_many(rows))
        return [None if seen.row is None else float(next(values)) for seen in batch]

    def predict_one(self, seen: Observed) -> float | None:
        """Step 2 for one tick (the live path): exactly `predict([seen])[0]`, with no lists."""
        return None if seen.row is None else self.model.predict_one(seen.row)

    def decide(
        self, seen: Observed, value: float | None, now_ns: int
    ) -> tuple[Prediction | None, Target | None]:
        """Step 3, in tick order: the prediction and, if the target moved enough, a Target."""
        tick = seen.tick
        book = seen.book
        if seen.row is None or book is None:
            self.counters.warming_up += 1
            return None, None
        if value is None or not math.isfinite(value):
            self.counters.non_finite_predictions += 1
            return None, None
        last_sent = self.last_sent.get(tick.symbol)
        costs = Costs(self.model.taker_fee_bps, book.half_spread_bps)
        target_position = self.model.target_for(value, last_sent or 0.0, book, costs)
        self.counters.predictions += 1
        prediction = Prediction(
            symbol=tick.symbol,
            tick_seq=tick.seq,
            tick_ts_ns=tick.recv_ts_ns,
            model_id=self.model.model_id,
            value=value,
            target_position=target_position,
            created_ns=now_ns,
        )
        if not self.model.should_send(target_position, last_sent):
            return prediction, None
        target = self.new_target(tick, target_position, book.mid, now_ns)
        return prediction, target

    def new_target(self, tick: Tick, position: float, ref_price: float, now_ns: int) -> Target:
        """The next target (counted; its id unique across restarts), decided at `tick`.

        Every path that decides (tick by tick, columns, fused) numbers its targets here.
        """
        self.counters.targets += 1
        return Target(
            id=f"{self.id_prefix}-{self.counters.targets}",
            symbol=tick.symbol,
            target_position=position,
            ref_price=ref_price,
            tick_seq=tick.seq,
            tick_ts_ns=tick.recv_ts_ns,
            created_ns=now_ns,
            ttl_ms=self.ttl_ms,
        )

    def mark_sent(self, target: Target) -> None:
        """Record a target the executor took; a dropped one is retried by the next tick."""
        self.last_sent[target.symbol] = target.target_position
