"""Kraken's spot fee schedule, kept as dated data in `data/kraken_fees.json`.

Kraken charges maker and taker fees by the account's 30-day trading volume
in USD, across all pairs; the file holds each tier as Kraken's AssetPairs
answer gives it (`fees`, `fees_maker`), with its date and source. A tier
applies from its `volume_usd` up to the next tier's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from common.errors import ConfigError

DEFAULT_FEES_FILE: Final = Path(__file__).resolve().parents[2] / "data" / "kraken_fees.json"


@dataclass(frozen=True)
class FeeTier:
    volume_usd: float  # 30-day volume from which this tier applies
    maker_bps: float
    taker_bps: float


@dataclass(frozen=True)
class FeeSchedule:
    name: str
    taken: str  # the date the schedule was read from Kraken
    tiers: tuple[FeeTier, ...]  # by rising volume, the first at 0

    def tier_at(self, volume_30d_usd: float) -> FeeTier:
        """The tier an account with this 30-day volume pays."""
        found = self.tiers[0]
        for tier in self.tiers:
            if volume_30d_usd >= tier.volume_usd:
                found = tier
        return found


def load_fee_schedule(path: Path = DEFAULT_FEES_FILE, name: str | None = None) -> FeeSchedule:
    """Read one schedule (the file's default unless named); a bad file is a ConfigError."""
    try:
        data = json.loads(path.read_text())
        chosen = name or data["default_schedule"]
        tiers = tuple(
            FeeTier(float(t["volume_usd"]), float(t["maker_bps"]), float(t["taker_bps"]))
            for t in data["schedules"][chosen]
        )
        if (
            not tiers
            or tiers[0].volume_usd != 0
            or list(tiers) != sorted(tiers, key=lambda t: t.volume_usd)
        ):
            raise ValueError("tiers must rise from volume 0")
        return FeeSchedule(chosen, str(data["taken"]), tiers)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"fee schedule {path}: {type(e).__name__}: {e}") from None
