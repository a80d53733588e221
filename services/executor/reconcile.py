"""A live executor's start-up reconciliation with its venue, before any target is acted on.

Three checks, in this order, against what the journal says:

1. Orders the journal left unresolved (sent, neither filled nor rejected:
   a crash or a timeout) count in the working position with what they may
   still add, as they did before the crash; then each is looked up by client
   id and settled: only fills the journal does not have yet are reported,
   and a remainder the venue will never fill is rejected, leaving the
   working position. So the position the next target is sized from is the
   venue's, each report applied once.
2. Open orders on the account that are not this run's are reported (they
   are not ours to cancel, but they will move the balance).
3. The venue's base-asset balance must equal the baseline plus the run's
   position. The baseline (what the account held outside this run) is
   journaled at the run's first live start; a later start that finds another
   balance refuses to trade (`VenueMismatch`) instead of sizing orders from
   a position that is not the real one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from decimal import Decimal

from common.journal import VENUE_BASELINE, JournalState
from common.messages import RiskEvent
from services.executor.engine import Event, ExecutionEngine
from services.executor.errors import VenueMismatch
from services.executor.live import LiveOrderExecutor
from services.executor.live_order import LiveOrder
from services.executor.venue import Venue
from venues.kraken.pairs import PairRules

log = logging.getLogger(__name__)


def reconcile_at_start(
    live: LiveOrderExecutor,
    venue: Venue,
    engine: ExecutionEngine,
    state: JournalState,
    symbols: Iterable[str],
    pairs: dict[str, PairRules],
) -> list[Event]:
    """Settle, check and baseline as the module docstring says; the events to journal.

    Raises:
        VenueMismatch: the balance is not what the journal accounts for.
        VenueError: the venue refused or failed a read (credentials, outage).
    """
    events: list[Event] = []
    unresolved = state.unresolved()
    # Sized as before the crash: these orders' remainders are working until the venue
    # says what became of them (a fill, or a rejected remainder), applied once each.
    engine.resume_open_orders((progress.order, progress.remaining) for progress in unresolved)
    resumed = [LiveOrder.from_journal(progress) for progress in unresolved]
    for report in live.settle_resumed(resumed):
        events += engine.on_venue_report(report)
    ours = set(state.progress)
    foreign = [o for o in venue.open_orders() if o.client_id not in ours]
    if foreign:
        log.warning("%d open orders on the account are not this run's", len(foreign))
        events.append(
            RiskEvent(
                kind="venue_foreign_open_orders",
                symbol=None,
                values={"count": float(len(foreign))},
                detail="open orders not placed by this run; left alone",
                ts_ns=time.time_ns(),
            )
        )
    traded = {fill.symbol for fill in state.fills}
    for symbol in sorted(set(symbols) | traded):
        events += _check_balance(venue, engine, state, symbol, pairs.get(symbol))
    return events


def _check_balance(
    venue: Venue,
    engine: ExecutionEngine,
    state: JournalState,
    symbol: str,
    rules: PairRules | None,
) -> list[Event]:
    held = float(venue.base_balance(symbol))
    position = engine.book(symbol).position.qty
    baseline = state.venue_baselines.get(symbol)
    if baseline is None:
        log.info("%s: venue holds %.8f, run position %.8f: baseline set", symbol, held, position)
        event = RiskEvent(
            kind=VENUE_BASELINE,
            symbol=symbol,
            values={"base_balance": held - position, "venue_balance": held},
            detail="the account's balance outside this run, at its first live start",
            ts_ns=time.time_ns(),
        )
        state.venue_baselines[symbol] = held - position
        return [event]
    expected = baseline + position
    # Half a lot: anything smaller is float residue, anything larger a real difference.
    tolerance = float(rules.qty_increment / 2) if rules else float(Decimal("0.5e-8"))
    if abs(held - expected) > tolerance:
        raise VenueMismatch(symbol, held, expected)
    log.info("%s: venue balance %.8f agrees with the journal", symbol, held)
    return []
