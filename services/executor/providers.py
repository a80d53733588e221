"""Build the live venue client that `LIVE_EXECUTOR_PROVIDER` names (ccxt or krakenex).

Only called after the live gate passed; each library is imported only here,
so a paper run never loads an exchange client at all.
"""

from __future__ import annotations

from services.executor.executor_config import ExecutorConfig
from services.executor.venue import Venue
from venues.kraken.pairs import PairRules


def make_venue(config: ExecutorConfig, pairs: dict[str, PairRules]) -> Venue:
    if config.api_key is None or config.api_secret is None:
        raise ValueError("make_venue needs a config that passed the live gate")
    if config.provider == "ccxt":
        from venues.kraken.rest.live_ccxt import CcxtVenue

        return CcxtVenue(
            config.exchange_url,
            config.api_key,
            config.api_secret,
            timeout_s=config.venue_timeout_s,
            rate_limit_ms=config.venue_rate_limit_ms,
        )
    from venues.kraken.rest.live_krakenex import KrakenexVenue

    return KrakenexVenue(
        config.exchange_url,
        config.api_key,
        config.api_secret,
        timeout_s=config.venue_timeout_s,
        pairs=pairs,
    )
