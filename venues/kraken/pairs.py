"""Pair rules (precision, increments, minimums) from `data/kraken_pairs.json`.

The feed needs the precisions for Kraken's book checksum; the executor needs
the minimums and increments to refuse what Kraken would refuse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Final

from common.errors import ConfigError

DEFAULT_PAIRS_FILE: Final = Path(__file__).resolve().parents[2] / "data" / "kraken_pairs.json"


@dataclass(frozen=True)
class PairRules:
    symbol: str
    price_precision: int
    qty_precision: int
    price_increment: Decimal
    qty_increment: Decimal
    qty_min: Decimal
    cost_min: Decimal
    rest_pair: str | None = None  # Kraken REST altname (XBTUSD), for the live executor


def load_pairs(path: Path = DEFAULT_PAIRS_FILE) -> dict[str, PairRules]:
    """Read the pair table; a missing or malformed file is a ConfigError."""
    try:
        table = json.loads(path.read_text())["pairs"]
        return {
            symbol: PairRules(
                symbol=symbol,
                price_precision=int(rules["price_precision"]),
                qty_precision=int(rules["qty_precision"]),
                price_increment=Decimal(rules["price_increment"]),
                qty_increment=Decimal(rules["qty_increment"]),
                qty_min=Decimal(rules["qty_min"]),
                cost_min=Decimal(rules["cost_min"]),
                rest_pair=rules.get("rest_pair"),
            )
            for symbol, rules in table.items()
        }
    except (OSError, ValueError, KeyError, TypeError, ArithmeticError) as e:
        raise ConfigError(f"pair table {path}: {type(e).__name__}: {e}") from None
