"""Pair rules (precision, increments, minimums) from `data/kraken_pairs.json`.

The feed needs the precisions for Kraken's book checksum; the executor needs
the minimums and increments to refuse what Kraken would refuse. The table is
made from Kraken's public `AssetPairs` answer (every spot pair) by
`pairs_from_asset_pairs`, and refreshed with `python -m venues.kraken.pairs
refresh` (see `venues/kraken/pairs_refresh.py`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, Final

from common.errors import ConfigError

DEFAULT_PAIRS_FILE: Final = Path(__file__).resolve().parents[2] / "data" / "kraken_pairs.json"
# Kraken's WebSocket v2 (the feed) and this project name two assets differently
# from AssetPairs' `wsname`: XBT/USD is BTC/USD there, XDG is DOGE.
WS_V2_ASSET_NAMES: Final = {"XBT": "BTC", "XDG": "DOGE"}
ONLINE: Final = "online"


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
    status: str = ONLINE  # Kraken's: online, cancel_only, post_only, reduce_only, ...

    @cached_property
    def minimums(self) -> tuple[float, float]:
        """`qty_min` and `cost_min` as floats, converted once: every order is checked on them."""
        return float(self.qty_min), float(self.cost_min)


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
                status=str(rules.get("status", ONLINE)),
            )
            for symbol, rules in table.items()
        }
    except (OSError, ValueError, KeyError, TypeError, ArithmeticError) as e:
        raise ConfigError(f"pair table {path}: {type(e).__name__}: {e}") from None


def ws_v2_symbol(wsname: str) -> str:
    """AssetPairs' `wsname` (XBT/USD) as WebSocket v2 and this project spell it (BTC/USD)."""
    base, quote = wsname.split("/")
    return f"{WS_V2_ASSET_NAMES.get(base, base)}/{WS_V2_ASSET_NAMES.get(quote, quote)}"


def pairs_from_asset_pairs(result: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Kraken's `AssetPairs` `result` as this project's table, keyed by symbol.

    Raises:
        ValueError: an entry lacks a field the rules need.
    """
    table: dict[str, dict[str, Any]] = {}
    for pair_id, entry in result.items():
        try:
            lot_decimals = int(entry["lot_decimals"])
            table[ws_v2_symbol(entry["wsname"])] = {
                "rest_pair": entry["altname"],
                "price_precision": int(entry["pair_decimals"]),
                "qty_precision": lot_decimals,
                "price_increment": _plain(entry["tick_size"]),
                "qty_increment": format(Decimal(1).scaleb(-lot_decimals), "f"),
                "qty_min": _plain(entry["ordermin"]),
                "cost_min": _plain(entry["costmin"]),
                "status": str(entry.get("status", ONLINE)),
            }
        except (KeyError, TypeError, ValueError, ArithmeticError) as e:
            raise ValueError(f"AssetPairs entry {pair_id}: {type(e).__name__}: {e}") from None
    return dict(sorted(table.items()))


def _plain(number: object) -> str:
    """Kraken's number (text or JSON number) as plain decimal text, never `1E-8`."""
    return format(Decimal(str(number)), "f")


if __name__ == "__main__":
    import sys

    from venues.kraken.pairs_refresh import main

    sys.exit(main())
