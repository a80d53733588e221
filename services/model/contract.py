"""The model contract: what a trader's features, estimator and policy must offer.

Three parts, each named in a checkpoint bundle (`bundle.ModelBundle`); the
built-in ones (`features.FeatureState`, `policy.Policy`,
`policy.CostAwarePolicy`) are one implementation each, not special cases.

- A **feature source** is a class; one instance holds one symbol's state.
  `names` (a class attribute) lists its columns; `update(tick)` takes every
  tick of that symbol in order and returns one row (a sequence of floats, in
  `names` order) or None while it warms up. It must be deterministic: the
  same ticks give the same rows, in training, offline and live.
- An **estimator** is anything with scikit-learn's `predict(X)` (X: rows of
  the bundle's `feature_names`), or a classifier whose `predict_proba(X)` is
  turned into a signal by `class_values` (the expected value of the classes).
  Its output is the *signal*: a predicted move in bps for the built-in
  policies, or whatever the bundle's policy expects (a target position, for
  `policy.PositionFromSignal`).
- A **policy** turns (signal, position, book, costs) into a target position.
  `position` is the last target the executor took for that symbol (the model
  does not see fills); `book` is the symbol's latest quote; `costs` are the
  taker fee (from the bundle) and the half-spread (from the book). It may
  also say when a changed target is worth sending (`should_send`); without
  it, any change is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, NamedTuple, Protocol

from common.messages import Tick


class Book(NamedTuple):
    """A symbol's latest quote."""

    bid: float
    ask: float

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0

    @property
    def half_spread_bps(self) -> float:
        return (self.ask - self.bid) / (self.bid + self.ask) * 1e4


class Costs(NamedTuple):
    """What one trade costs, in bps of notional: the fee and crossing half the spread."""

    taker_fee_bps: float
    half_spread_bps: float

    @property
    def round_trip_bps(self) -> float:
        """In and out again, both as taker: two fees and the whole spread."""
        return 2.0 * (self.taker_fee_bps + self.half_spread_bps)


class FeatureSource(Protocol):
    """One symbol's feature state (the class is the factory: one instance per symbol)."""

    names: ClassVar[tuple[str, ...]]

    def update(self, tick: Tick) -> Sequence[float] | None:
        """Take the next tick of this symbol; its feature row, or None while warming up."""


class TargetPolicy(Protocol):
    def target_for(self, signal: float, position: float, book: Book, costs: Costs) -> float:
        """The wanted position (base units, signed) for this signal."""
