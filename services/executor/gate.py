"""The live execution gate: one pure function, an empty list the only road to live."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

PROVIDERS: Final = ("ccxt", "krakenex")
# The exchange credentials: only the executor process is given them.
CREDENTIAL_VARIABLES: Final = ("EXCHANGE_API_KEY", "EXCHANGE_API_SECRET")


def missing_live_opt_ins(
    *, no_paper_mode: bool, live_executor: bool, environ: Mapping[str, str]
) -> list[str]:
    """Name every opt-in live trading still lacks (values of secrets are never read out)."""
    missing = []
    if not no_paper_mode:
        missing.append("--no-paper-mode")
    if not live_executor:
        missing.append("--live-executor")
    for flag in ("ENABLE_REAL_LIVE_EXECUTOR", "CONFIRM_LIVE"):
        if environ.get(flag) != "1":
            missing.append(f"{flag}=1")
    if environ.get("LIVE_EXECUTOR_PROVIDER") not in PROVIDERS:
        missing.append("LIVE_EXECUTOR_PROVIDER=" + "|".join(PROVIDERS))
    for secret in CREDENTIAL_VARIABLES:
        if not environ.get(secret):
            missing.append(secret)
    return missing
