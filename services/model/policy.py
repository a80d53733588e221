"""The built-in policies: signal -> target position, and when a target is worth sending.

Each implements `contract.TargetPolicy`; a trader's own policy is named in
the bundle by import path and needs nothing from here. All are pure and
deterministic: the same inputs give the same targets.

- `Policy`: linear in the predicted move, with a deadband; ignores costs.
  The demo keeps it so that the bundled model trades at all (its edge is far
  below Kraken's fees: its result is the cost of trading noise).
- `CostAwarePolicy`: full size in the signal's direction only when the
  predicted move beats the round-trip cost, else keep the position. The
  default for models a trader trains.
- `PositionFromSignal`: for a model whose output already is the target
  position (base units): clipped and rounded, nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from services.model.contract import Book, Costs
from services.model.lots import round_lot, round_lot_margin


def _clip(value: float, limit: float) -> float:
    return round_lot(max(-limit, min(limit, value)), round_lot_margin(limit))


@dataclass(frozen=True)
class Policy:
    """Scale a predicted return (bps) into a position, with a deadband and a clip.

    Attributes:
        position_per_bps: base units of position per basis point predicted.
        deadband_bps: predictions this small or smaller mean "be flat".
        max_position: the absolute clip on the target, base units.
        min_step: a new target is sent only when it moves more than this.
    """

    position_per_bps: float
    deadband_bps: float
    max_position: float
    min_step: float

    def __post_init__(self) -> None:
        if not (self.position_per_bps > 0 and self.max_position > 0):
            raise ValueError("position_per_bps and max_position must be positive")
        if self.deadband_bps < 0 or self.min_step < 0:
            raise ValueError("deadband_bps and min_step must be >= 0")

    def target_for(
        self,
        signal: float,
        position: float = 0.0,
        book: Book | None = None,
        costs: Costs | None = None,
    ) -> float:
        if abs(signal) <= self.deadband_bps:
            return 0.0
        return _clip(self.position_per_bps * signal, self.max_position)

    def should_send(self, target: float, last_sent: float | None) -> bool:
        if last_sent is None:
            return True
        return abs(target - last_sent) > self.min_step


@dataclass(frozen=True)
class CostAwarePolicy:
    """Trade only when the predicted move (bps) beats what the round trip costs.

    Above `costs.round_trip_bps + margin_bps` (two taker fees and the whole
    spread, plus any margin asked for): `max_position` in the signal's
    direction. Below it, the position stays as it is: neither opening nor
    closing is worth its cost on this signal.
    """

    max_position: float
    margin_bps: float = 0.0
    min_step: float = 0.0

    def __post_init__(self) -> None:
        if not self.max_position > 0:
            raise ValueError("max_position must be positive")
        if self.margin_bps < 0 or self.min_step < 0:
            raise ValueError("margin_bps and min_step must be >= 0")

    def threshold_bps(self, costs: Costs) -> float:
        return costs.round_trip_bps + self.margin_bps

    def target_for(self, signal: float, position: float, book: Book, costs: Costs) -> float:
        if abs(signal) <= self.threshold_bps(costs):
            return position
        return math.copysign(self.max_position, signal)

    def should_send(self, target: float, last_sent: float | None) -> bool:
        if last_sent is None:
            return target != 0.0  # flat is where the executor starts
        return abs(target - last_sent) > self.min_step


@dataclass(frozen=True)
class PositionFromSignal:
    """The estimator's output is the target position itself (base units): clip and round it."""

    max_position: float
    min_step: float = 0.0

    def __post_init__(self) -> None:
        if not self.max_position > 0 or self.min_step < 0:
            raise ValueError("max_position must be positive and min_step >= 0")

    def target_for(self, signal: float, position: float, book: Book, costs: Costs) -> float:
        return _clip(signal, self.max_position)

    def should_send(self, target: float, last_sent: float | None) -> bool:
        return last_sent is None or abs(target - last_sent) > self.min_step
