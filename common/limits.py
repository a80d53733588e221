"""Ceilings on the risk limits: a limit set absurdly high is a limit switched off.

Every risk limit is positive, finite and at most its ceiling here; a value
above is refused at start (exit 2), by the service and by the runner alike.
The figures are far above any spot account this runner is meant for, and
low enough that no typo (`1e308`) disables a check.
"""

from __future__ import annotations

from typing import Final

MAX_ORDER_NOTIONAL_CEILING: Final = 10_000_000.0  # quote currency per order
MAX_POSITION_CEILING: Final = 100_000_000.0  # base units per symbol
MAX_LOSS_CEILING: Final = 10_000_000.0  # quote currency, the drawdown breaker
