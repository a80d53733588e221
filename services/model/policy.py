"""Decision policy: prediction -> target position, and when to send a target.

Pure and deterministic: the same predictions give the same targets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


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

    def target_for(self, prediction_bps: float) -> float:
        if abs(prediction_bps) <= self.deadband_bps:
            return 0.0
        raw = self.position_per_bps * prediction_bps
        clipped = max(-self.max_position, min(self.max_position, raw))
        return round(clipped, 8)  # Kraken's finest lot is 1e-8; finer is noise

    def should_send(self, target: float, last_sent: float | None) -> bool:
        if last_sent is None:
            return True
        return abs(target - last_sent) > self.min_step

    def clipped_to(self, max_position: float) -> Policy:
        """The same policy with a tighter (or looser) position clip."""
        return replace(self, max_position=max_position)
