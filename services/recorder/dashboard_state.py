"""What the live dashboard shows, kept by the recorder as messages arrive: one JSON snapshot.

The recorder's loop calls `on_message` (and `on_eos` through it); the
dashboard's server thread calls `snapshot`. A lock keeps the two apart; only
messages the page shows take it (fills, positions, statuses, risk events, a
service's first or last word), not every tick. The counts and PnL come from
the same `RunRecord` result.json is made from, so the page and the run's
result agree.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Final

from common.messages import (
    Eos,
    FeedStatus,
    Fill,
    Message,
    Position,
    RiskEvent,
    RunCounters,
)
from services.recorder.artifacts import RunRecord
from services.recorder.report_data import Thinned

RECENT_FILLS: Final = 20
# The messages the page shows as themselves; every other (ticks, predictions, orders,
# rejections: a chatty model's run sends thousands) only as counts, read from the run record.
_SHOWN: Final = frozenset({Position, Fill, FeedStatus, RiskEvent, Eos, RunCounters})
EQUITY_POINTS: Final = 2_000


class DashboardState:
    def __init__(self, record: RunRecord, *, run_id: str, settings: dict[str, Any]) -> None:
        self.record, self.run_id, self.settings = record, run_id, settings
        self.started_ns = time.time_ns()
        self._lock = threading.Lock()
        self.equity = Thinned(EQUITY_POINTS)
        self.fills: deque[dict[str, Any]] = deque(maxlen=RECENT_FILLS)
        self.feed: dict[str, dict[str, Any]] = {}  # per symbol ("*": the whole feed)
        self.services: dict[str, dict[str, Any]] = {}  # by source name
        self.breaker: dict[str, Any] = {"tripped": False, "events": []}
        self.venue_halted: str | None = None
        self.last_message_ns: int | None = None
        self.ended: str | None = None  # the exit reason, once result.json is written

    def on_message(self, message: Message, arrival_ns: int) -> None:
        self.last_message_ns = arrival_ns
        if type(message) not in _SHOWN:  # most messages: one test, not six
            return
        if isinstance(message, Position):
            equity = sum(p.equity for p in self.record.positions.values())
            with self._lock:
                self.equity.add(message.ts_ns, equity)
        elif isinstance(message, Fill):
            with self._lock:
                self.fills.appendleft(
                    {
                        "ts_ns": message.ts_ns,
                        "symbol": message.symbol,
                        "side": str(message.side),
                        "qty": message.qty,
                        "price": message.price,
                        "fee": message.fee,
                    }
                )
        elif isinstance(message, FeedStatus):
            with self._lock:
                self.feed[message.symbol or "*"] = {
                    "state": str(message.state),
                    "detail": message.detail,
                    "since_ns": message.ts_ns,
                }
        elif isinstance(message, RiskEvent):
            with self._lock:
                if message.kind == "circuit_breaker_tripped":
                    self.breaker["tripped"] = True
                    self.breaker["events"].append(
                        {"ts_ns": message.ts_ns, "detail": message.detail}
                    )
                elif message.kind == "venue_halted":
                    self.venue_halted = message.detail
        elif isinstance(message, (Eos, RunCounters)):
            with self._lock:
                entry = self.services.setdefault(message.source, {"state": "running"})
                if isinstance(message, Eos):
                    entry["state"] = "finished"

    def on_log(self, service: str, arrival_ns: int) -> None:
        """A log line from `service`: it is alive (the log topic names it)."""
        with self._lock:
            entry = self.services.setdefault(service, {"state": "running"})
            entry["last_heard_ns"] = arrival_ns

    def snapshot(self) -> dict[str, Any]:
        record = self.record
        positions = dict(record.positions)
        with self._lock:
            equity = {"times_ns": list(self.equity.times), "values": list(self.equity.values)}
            fills = list(self.fills)
            feed = {symbol: dict(state) for symbol, state in self.feed.items()}
            services = {name: dict(state) for name, state in self.services.items()}
            breaker = {"tripped": self.breaker["tripped"], "events": list(self.breaker["events"])}
        realized = sum(p.realized_pnl for p in positions.values())
        unrealized = sum(p.unrealized_pnl for p in positions.values())
        fees = sum(p.fees for p in positions.values())
        return {
            "run_id": self.run_id,
            "now_ns": time.time_ns(),
            "started_ns": self.started_ns,
            "last_message_ns": self.last_message_ns,
            "ended": self.ended,
            "settings": self.settings,
            "services": services,
            "feed": feed,
            "counts": {
                "ticks": record.ticks,
                "predictions": record.predictions,
                "orders": record.orders,
                "fills": record.fills,
            },
            "pnl": {
                "realized": realized,
                "unrealized": unrealized,
                "fees": fees,
                "total": realized + unrealized - fees,
            },
            "positions": {
                symbol: {"qty": p.qty, "avg_price": p.avg_price, "equity": p.equity}
                for symbol, p in sorted(positions.items())
            },
            "equity": equity,
            "fills": fills,
            "rejections": dict(sorted(record.rejections.items())),
            "breaker": breaker,
            "venue_halted": self.venue_halted,
        }
