"""The executor's Prometheus metrics: positions, PnL, orders, fills, rejections, the breaker.

Read from the engine when scraped (`common/metrics.py`); what the engine keeps
no tally of (fills, orders sent, risk events) is counted here on the way out
(`observe`, wrapped around the outbox's send); rejections and cancels by
reason are the outbox's own counts (`read_refusals`). Money is in the quote
currency, quantities in base units; at the end of a run the gauges equal
result.json's `positions` and `pnl` (the last position reports).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric

from common.messages import Fill, Message, OrderSubmitted, RiskEvent
from services.executor.account import SpotAccount
from services.executor.engine import ExecutionEngine
from services.executor.outbox import Outbox
from services.executor.venue import Venue
from venues.errors import VenueError


class CountedVenue:
    """A live venue whose every call is counted by method and outcome (ok, or the error's kind).

    The executor cannot tell it from the venue it wraps; the live worker thread
    calls it, the scrape reads the counts, so they are taken under a lock.
    """

    def __init__(self, venue: Venue) -> None:
        self._venue = venue
        self._lock = threading.Lock()
        self.calls: Counter[tuple[str, str]] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._venue, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            outcome = "ok"
            try:
                return attribute(*args, **kwargs)
            except VenueError as e:
                outcome = str(e.kind)
                raise
            finally:
                with self._lock:
                    self.calls[(name, outcome)] += 1

        return counted

    def counts(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self.calls)


class ExecutorMetrics:
    def __init__(self, engine: ExecutionEngine, *, mode: str) -> None:
        self.engine, self.mode = engine, mode
        self.fills: Counter[str] = Counter()  # by symbol
        self.submitted: Counter[str] = Counter()  # by symbol
        self.risk_events: Counter[str] = Counter()  # by kind
        # By reason: the outbox's tallies once it exists (`read_refusals`), not counted twice.
        self.rejections: Counter[str] = Counter()
        self.cancels: Counter[str] = Counter()

    def read_refusals(self, outbox: Outbox) -> None:
        """Rejections and cancels by reason are the outbox's counts (it counts every one)."""
        self.rejections, self.cancels = outbox.rejections, outbox.cancels

    def observe(
        self, send: Callable[[Sequence[Message]], None]
    ) -> Callable[[Sequence[Message]], None]:
        """`send`, counting what goes out first (rejections and cancels: `read_refusals`)."""

        def counted(events: Sequence[Message]) -> None:
            for event in events:
                if isinstance(event, Fill):
                    self.fills[event.symbol] += 1
                elif isinstance(event, OrderSubmitted):
                    self.submitted[event.symbol] += 1
                elif isinstance(event, RiskEvent):
                    self.risk_events[event.kind] += 1
            send(events)

        return counted

    def collect(self) -> Iterator[Metric]:
        engine = self.engine
        books = dict(engine.books)  # a copy: the loop may add a symbol meanwhile
        per_symbol = {
            "position": ("executor_position", "position, base units"),
            "avg_price": ("executor_average_price", "average entry price, quote currency"),
            "realized_pnl": ("executor_realized_pnl", "realized PnL, quote currency"),
            "unrealized_pnl": ("executor_unrealized_pnl", "unrealized PnL at the last quote"),
            "equity": ("executor_equity", "realized + unrealized - fees, quote currency"),
        }
        families = {
            key: GaugeMetricFamily(name, text, labels=["symbol"])
            for key, (name, text) in per_symbol.items()
        }
        fees = CounterMetricFamily("executor_fees", "fees paid, quote currency", labels=["symbol"])
        open_orders = GaugeMetricFamily(
            "executor_open_orders", "orders not yet filled or refused", labels=["symbol"]
        )
        for symbol, book in sorted(books.items()):
            position = book.position
            families["position"].add_metric([symbol], position.qty)
            families["avg_price"].add_metric([symbol], position.avg_price)
            families["realized_pnl"].add_metric([symbol], position.realized_pnl)
            families["unrealized_pnl"].add_metric([symbol], position.unrealized_pnl)
            families["equity"].add_metric([symbol], position.equity)
            fees.add_metric([symbol], position.fees)
            open_orders.add_metric([symbol], len(book.open_orders))
        yield from families.values()
        yield fees
        yield open_orders
        yield GaugeMetricFamily(
            "executor_total_equity",
            "equity over every symbol, quote currency",
            value=engine.equity(),
        )
        if engine.account is not None:  # paper's spot account (live: Kraken keeps the real one)
            yield from _balances(engine.account)
        yield _by("executor_fills", "fills", "symbol", self.fills)
        yield _by("executor_orders_submitted", "orders sent to the venue", "symbol", self.submitted)
        yield CounterMetricFamily(
            "executor_orders", "orders and rejections (each takes an order id)", value=engine.orders
        )
        yield _by("executor_rejections", "orders refused, by reason", "reason", self.rejections)
        yield _by("executor_cancels", "orders cancelled, by reason", "reason", self.cancels)
        yield _by("executor_risk_events", "risk events, by kind", "kind", self.risk_events)
        yield GaugeMetricFamily(
            "executor_breaker_tripped",
            "1 while the loss circuit breaker is tripped (no new orders)",
            value=int(engine.risk.tripped),
        )
        yield CounterMetricFamily(
            "executor_breaker_activations", "breaker trips", value=engine.risk.activations
        )
        yield CounterMetricFamily(
            "executor_targets_met", "targets the position already met", value=engine.targets_met
        )
        limits = engine.risk.limits
        info = InfoMetricFamily("executor_run", "the executor's mode and risk limits")
        info.add_metric(
            [],
            {
                "mode": self.mode,
                "max_order_notional": str(limits.max_order_notional),
                "max_position": str(limits.max_position),
                "max_loss": str(limits.max_loss),
            },
        )
        yield info
        venue = getattr(engine.executor, "venue", None)
        if isinstance(venue, CountedVenue):  # live only
            calls = CounterMetricFamily(
                "executor_venue_calls",
                "calls to the live venue, by method and outcome (ok or the error's kind)",
                labels=["method", "outcome"],
            )
            for (method, outcome), count in sorted(venue.counts().items()):
                calls.add_metric([method, outcome], count)
            yield calls


def _balances(account: SpotAccount) -> Iterator[Metric]:
    balance = GaugeMetricFamily(
        "executor_balance", "paper account balance per asset", labels=["asset"]
    )
    held = GaugeMetricFamily(
        "executor_balance_held", "of it, held for open orders", labels=["asset"]
    )
    for asset, (amount, held_back) in sorted(account.balances_and_holds().items()):
        balance.add_metric([asset], float(amount))
        held.add_metric([asset], float(held_back))
    yield balance
    yield held


def _by(name: str, text: str, label: str, counts: Counter[str]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, text, labels=[label])
    for key, count in sorted(dict(counts).items()):
        family.add_metric([key], count)
    return family
