"""Ceilings on the risk limits: a limit set absurdly high is a limit switched off.

Every risk limit is positive, finite and at most its ceiling here; a value
above is refused at start (exit 2), by the service and by the runner alike.
The figures are far above any spot account this runner is meant for, and
low enough that no typo (`1e308`) disables a check.

The order-size and position limits may differ per symbol (`SymbolLimits`,
parsed by `symbol_limits`) and may be given as a quote-currency notional
(`100USDT`); the drawdown breaker stays one figure for the whole portfolio.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

MAX_ORDER_NOTIONAL_CEILING: Final = 10_000_000.0  # quote currency per order
MAX_POSITION_CEILING: Final = 100_000_000.0  # base units per symbol
MAX_LOSS_CEILING: Final = 10_000_000.0  # quote currency, the drawdown breaker


@dataclass(frozen=True)
class Limit:
    """One limit: an amount, in the setting's own unit or as a quote-currency notional."""

    amount: float
    currency: str | None = None  # "USDT" in `100USDT`: a notional in that currency

    def __str__(self) -> str:
        return f"{self.amount!r}{self.currency or ''}"


@dataclass(frozen=True)
class SymbolLimits:
    """A limit per symbol, with a default for the rest: `0.05,BTC/USD=0.01,ETH/USD=100USD`."""

    default: Limit
    by_symbol: tuple[tuple[str, Limit], ...] = ()

    def for_symbol(self, symbol: str) -> Limit:
        return dict(self.by_symbol).get(symbol, self.default)

    def largest_plain(self) -> float | None:
        """The largest amount in the setting's own unit; None if any is a notional."""
        limits = [self.default, *(limit for _, limit in self.by_symbol)]
        if any(limit.currency for limit in limits):
            return None
        return max(limit.amount for limit in limits)

    def as_values(self, name: str) -> dict[str, float]:
        """Flat figures for a journal mark or result.json: `max_position` (the default),
        `max_position BTC/USD` per symbol, with `_USDT` after the name for a notional."""
        values: dict[str, float] = {}
        for symbol, limit in (("", self.default), *self.by_symbol):
            key = name + (f"_{limit.currency}" if limit.currency else "")
            values[f"{key} {symbol}".strip()] = limit.amount
        return values

    def __str__(self) -> str:  # reads back through `symbol_limits` (forwarded to services)
        return ",".join([str(self.default), *(f"{s}={limit}" for s, limit in self.by_symbol)])


def symbol_limits(ceiling: float, default: float) -> Callable[[str], SymbolLimits]:
    """A parser for a per-symbol limit: `0.05`, `BTC/USD=0.01,ETH/USD=0.5`, `100USDT`.

    A bare entry is the default for symbols not named (else `default`). An
    amount with a currency suffix (`100USDT`) is a notional in that quote
    currency. Every amount is positive, finite and at most `ceiling`.
    """

    def parse(text: str) -> SymbolLimits:
        plain: Limit | None = None
        named: dict[str, Limit] = {}
        for entry in (part.strip() for part in text.split(",")):
            symbol, _, amount = entry.rpartition("=")
            limit = _limit(amount.strip(), ceiling)
            if not symbol:
                if plain is not None:
                    raise ValueError(f"two defaults in {text!r}")
                plain = limit
            elif "/" not in symbol or symbol.strip() in named:
                raise ValueError(f"{symbol!r} is not a BASE/QUOTE symbol named once")
            else:
                named[symbol.strip()] = limit
        return SymbolLimits(plain or Limit(default), tuple(sorted(named.items())))

    return parse


def _limit(text: str, ceiling: float) -> Limit:
    match = re.fullmatch(r"([0-9.eE+-]+)\s*([A-Za-z][A-Za-z0-9]*)?", text)
    if match is None:
        raise ValueError(f"expected an amount like 0.01 or 100USDT, got {text!r}")
    amount = float(match[1])
    if not math.isfinite(amount) or amount <= 0 or amount > ceiling:
        raise ValueError(f"expected a positive amount at most {ceiling:g}, got {text!r}")
    return Limit(amount, match[2].upper() if match[2] else None)
