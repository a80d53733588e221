"""result.json's `account`: the paper spot account, rebuilt from the paper journal.

The journal's `account_opened` mark holds the run's starting balances; every
paper fill after it is settled again through the executor's own
`SpotAccount`, so the ending balances are what the executor held, whatever
ended the run. Equity is valued in one quote currency (that of the first
symbol traded) at the first and the last quote mid of the run's tick file;
an asset with no `ASSET/<currency>` quote in the file (USD beside USDT, say)
is listed as unvalued, never converted at a guessed rate. The lowest balance
each asset reached after any fill is kept too: without margin no balance may
go below zero (bench/fidelity_funds.py, oracle b).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from common.journal import ACCOUNT_OPENED, JOURNAL_FILES, read_entries
from common.messages import Fill, RiskEvent
from services.executor.account import SpotAccount, assets_of
from services.executor.quantities import FEE_DECIMALS, exact

_QUANTUM = Decimal(1).scaleb(-FEE_DECIMALS)


def account_section(
    run_dir: Path, first: dict[str, float], last: dict[str, float]
) -> dict[str, Any] | None:
    """The paper account's starting and ending balances and equity; None without one.

    `first` and `last`: each symbol's first and last quote mid of the run
    (`ledger.quote_marks`).

    Raises:
        JournalCorrupt: the paper journal is damaged before its last line.
    """
    entries = read_entries(run_dir / JOURNAL_FILES["paper"])
    opened = next(
        (e for e in entries if isinstance(e, RiskEvent) and e.kind == ACCOUNT_OPENED), None
    )
    if opened is None:
        return None
    starting = {asset: exact(amount) for asset, amount in opened.values.items()}
    account = SpotAccount(dict(starting))
    lowest = dict(starting)
    fills = [e for e in entries if isinstance(e, Fill)]
    for fill in fills:
        account.settle(fill)
        for asset in assets_of(fill.symbol):
            lowest[asset] = min(lowest.get(asset, Decimal(0)), account.balances[asset])
    symbols = [f.symbol for f in fills] or list(last)
    currency = assets_of(symbols[0])[1] if symbols else None
    section: dict[str, Any] = {
        # "spot account" (no balance below zero) or "margin account" (--margin)
        "mode": opened.detail,
        "currency": currency,
        "starting_balances": _amounts(starting),
        "ending_balances": _amounts(account.balances),
        "lowest_balances": _amounts(lowest),
        "starting_equity": None,
        "ending_equity": None,
        "unvalued_assets": [],
    }
    if currency is not None:
        start_equity, unvalued = SpotAccount(dict(starting)).equity(currency, first)
        end_equity, unvalued_end = account.equity(currency, last)
        section["starting_equity"] = round(start_equity, FEE_DECIMALS)
        section["ending_equity"] = round(end_equity, FEE_DECIMALS)
        section["unvalued_assets"] = sorted(set(unvalued) | set(unvalued_end))
    return section


def _amounts(balances: dict[str, Decimal]) -> dict[str, float]:
    # Quote balances carry cost and fee to 8+ decimals: shown at the fee's precision.
    return {asset: float(amount.quantize(_QUANTUM)) for asset, amount in sorted(balances.items())}
