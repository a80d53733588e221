"""`LiveOrderExecutor`: the engine's orders, sent to a real venue from one worker thread.

The engine's loop must never wait on HTTP, so `submit` only stages an
order, and the loop hands staged orders over (`send_staged`) once their
`OrderSubmitted` is in the journal: no order can reach the venue that a crash
would leave the journal ignorant of. One worker thread (one venue client, so
its nonces stay in order) works the queue: place an order under the
engine's order id as Kraken's `cl_ord_id`, follow it to a final state, and
report what happened as wire messages (`Fill`, `OrderRejected` for a refused
remainder, `RiskEvent` on a halt) on an inproc socket the loop polls beside
its others. Orders a previous run left unresolved are settled before the
worker starts (`settle_resumed`, from `reconcile.py`).

Limit orders (`OrderTerms`: a price, post-only, IOC) are placed the same way
and, while they rest, kept in a working set the worker polls (QueryOrders,
paced like every other call) between the queue's items. `cancel` queues a
cancel behind anything already sent. What a limit order ends as (the
reports are built in `live_order.py`, pure):

- fills as the venue reports them, each the increase since the last read;
  maker or taker by its terms (a post-only fill is maker; a plain limit's
  fill is taker if the first read after placing shows it, maker later);
- its unfilled rest, once the venue closed it: `OrderCancelled` with the
  cancel's reason (the engine's, `ioc` for an IOC order, `venue` when the
  venue cancelled it unasked), or `OrderRejected(post_only)` when the venue
  refused a post-only order that would have taken;
- a cancel racing a fill: the order is read after the cancel, so the fill
  is reported and the cancel covers only what was left; a cancel of an
  order the venue already closed is not an error.

A clean stop cancels what still rests (`stop`); a limit order a previous run
left open is cancelled at start the same way, as the engine cannot know it.

What a failed call means is decided once per venue, as a typed `VenueErrorKind`
(Kraken: `venues.kraken.rest.classify.classify_kraken_error`):

- refused (minimums, funds, bad arguments): the order is rejected;
- retry (rate limit, nonce): sent again after a backoff, a few times at most;
- unknown outcome (timeout, 5xx, "unavailable"): never re-sent blindly. The
  order is looked up by client id; if absent, looked up again once its
  `deadline` has passed (Kraken drops it after that), and only then rejected;
- halt (bad credentials, lockout), or an order whose fate cannot be learned:
  nothing more is sent. An order whose fate is unknown is left unresolved
  in the journal, for the next start's reconciliation, not guessed at.

With a `pacer` (Kraken's rate-limit model, `venues.kraken.rate_limits`,
the same one paper throttles with), every REST call waits until Kraken's
call counter has room for it (QueryOrders polls count), and each AddOrder
and cancel is counted on the pair's matching-engine counter.

Between orders, and while it waits on one, the same worker does the venue's
chores, so that every signed call still comes from one thread:

- the venue clock (`VenueClock`): measured at start and every
  `clock_refresh_s`; deadlines are set, and waited past, on the venue's time;
- the dead-man switch (Kraken's CancelAllOrdersAfter): armed when the worker
  starts with `dead_man_timeout_s` and pushed back every quarter of it, so a
  process that dies (or hangs) has its open orders cancelled by the venue
  when the timer runs out. A clean stop (every queued order finished)
  disarms it (timeout 0); a stop with orders still working leaves it armed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

import zmq

from common import wire
from common.messages import (
    CancelReason,
    Fill,
    OrderCancelled,
    OrderRejected,
    OrderType,
    RejectReason,
    RiskEvent,
    Side,
    Tick,
    TimeInForce,
)
from services.executor.live_order import (
    CancelRequest,
    LiveOrder,
    UnresolvedOrder,
    limit_order_end,
    new_fill,
    rejection,
)
from services.executor.order_executor import MARKET, OrderTerms, Refusal, conform_to_pair_rules
from services.executor.quantities import exact
from services.executor.venue import QUERY_BATCH, Venue
from services.executor.venue_clock import VenueClock
from venues.errors import VenueError, VenueErrorKind
from venues.kraken.pairs import PairRules
from venues.kraken.rate_limits import KrakenRateLimits
from venues.order import VenueOrder

log = logging.getLogger(__name__)

T = TypeVar("T")
Report = Fill | OrderRejected | OrderCancelled | RiskEvent
LOOKUP_MARGIN_S = 60.0  # ClosedOrders' `start`: this long before the order was sent
DEADLINE_MARGIN_S = 1.0  # an order not found this long after its deadline never will be
DEAD_MAN_REFRESHES = 4  # calls per timeout period (Kraken: every 15-30 s for 60 s)
CANCEL_ATTEMPTS = 3  # cancels of one resting order sent before the venue is left to decide
CHORE_RETRY_S = 5.0  # a failed clock read is tried again this soon
DEAD_MAN_RESERVE_CALLS = 1  # REST counter room paced calls leave for the dead-man switch


@dataclass(frozen=True)
class LiveTimings:
    deadline_s: float = 10.0  # AddOrder `deadline`: Kraken drops the order if it is later
    poll_s: float = 0.25  # between QueryOrders while an order is working
    settle_s: float = 10.0  # a market order still working this long is cancelled
    retries: int = 3  # sends refused at the door (rate limit, nonce) before giving up
    backoff_s: float = 0.5  # first retry wait; doubles each time
    clock_refresh_s: float = 300.0  # the venue clock offset is measured again this often
    dead_man_timeout_s: int = 60  # CancelAllOrdersAfter: the venue cancels all after this


class LiveOrderExecutor:
    """Market and limit orders on a live venue; see the module docstring for the rules."""

    def __init__(
        self,
        venue: Venue,
        pairs: dict[str, PairRules],
        ctx: zmq.Context,
        timings: LiveTimings = LiveTimings(),
        pacer: KrakenRateLimits | None = None,
    ) -> None:
        self.venue, self.pairs, self.timings = venue, pairs, timings
        self.pacer = pacer  # Kraken's counters on this host's clock; None: unpaced
        self.halted_because: str | None = None
        self._orders: queue.Queue[LiveOrder | CancelRequest | None] = queue.Queue()
        self._staged: list[LiveOrder | CancelRequest] = []
        self._working: dict[str, LiveOrder] = {}  # resting limit orders (worker thread only)
        self._poll_due_at = 0.0  # monotonic: when the working orders are read next
        self._stop = threading.Event()
        self._ctx = ctx
        self._collected: list[Report] = []  # reports made before `start`, in the caller's thread
        self._sink: Callable[[Report], None] = self._collected.append
        self.reports_address = f"inproc://live-reports-{id(self):x}"
        self.reports = ctx.socket(zmq.PULL)
        self.reports.setsockopt(zmq.LINGER, 0)
        self.reports.bind(self.reports_address)
        self._thread = threading.Thread(target=self._work, name="live-venue", daemon=True)
        self.clock = VenueClock()
        self._clock_due_at = 0.0  # monotonic: measure at the first chance
        self._dead_man_due_at: float | None = None  # monotonic; None while disarmed

    # -- the engine's side (loop thread) --------------------------------------------------

    def conform(self, symbol: str, qty: float, price: float) -> tuple[float, Refusal | None]:
        return conform_to_pair_rules(self.pairs, symbol, qty, price)

    def submit(
        self,
        order_id: str,
        target_id: str,
        symbol: str,
        side: Side,
        qty: float,
        event_ts_ns: int,
        terms: OrderTerms = MARKET,
    ) -> LiveOrder:
        """Stage an order; it goes to the venue at the next `send_staged`."""
        sent_ms = time.time_ns() // 1_000_000
        order = LiveOrder(order_id, target_id, symbol, side, exact(qty), sent_ms, terms=terms)
        self._staged.append(order)
        return order

    def cancel(self, order_id: str, event_ts_ns: int, reason: CancelReason) -> None:
        """Ask the venue to cancel a working order; the outcome comes later as a report.

        `OrderCancelled` for what was left unfilled, or a `Fill` if a fill won
        the race (then the cancel covers only what was left, if anything).
        """
        request = CancelRequest(order_id, reason, event_ts_ns)
        if any(isinstance(o, LiveOrder) and o.order_id == order_id for o in self._staged):
            self._staged.append(request)  # right behind its order, which is not sent yet
        else:
            self._orders.put(request)

    def send_staged(self) -> None:
        """Hand staged orders (and cancels behind them) to the worker: call only once their
        `OrderSubmitted` is journaled."""
        for order in self._staged:
            self._orders.put(order)
        self._staged.clear()

    def drop_staged(self) -> int:
        """Forget staged orders (their `OrderSubmitted` could not be journaled); how many."""
        dropped = sum(isinstance(order, LiveOrder) for order in self._staged)
        self._staged.clear()
        return dropped

    def settle_resumed(self, orders: list[LiveOrder]) -> list[Report]:
        """Find out, before trading, what became of orders a previous run left unresolved.

        Runs in the caller's thread, before `start`; returns the fills,
        rejections and cancels learned, for the engine and the journal. Measures the
        venue clock first.

        Raises:
            VenueError: the venue's time could not be read.
        """
        self._measure_clock()
        for order in orders:
            log.info("order %s from the journal: asking the venue about it", order.order_id)
            self._carry_out(order)
        reports, self._collected = self._collected, []
        return reports

    def start(self) -> None:
        """Start the worker (it arms the dead-man switch); reports then arrive on `reports`."""
        self._thread.start()

    def on_tick(self, tick: Tick, only_order_id: str | None = None) -> list[Fill]:
        return []  # the venue fills, not the ticks

    def close(self, timeout_s: float) -> bool:
        """Let queued orders finish for up to `timeout_s`; True if the worker is done.

        The caller then drains `reports` and closes it. Orders still staged were
        never journaled (an error cut their turn short: every emit hands its
        own over): they are dropped, never sent.
        """
        if dropped := self.drop_staged():
            log.error("%d staged orders were never journaled: not sent", dropped)
        self._orders.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout_s)
            self._stop.set()  # anything still working stays unresolved in the journal
            self._thread.join(1.0)
        return not self._thread.is_alive()  # `reports` stays open: its owner drains it

    # -- the worker's side ----------------------------------------------------------------

    def _work(self) -> None:
        out = self._ctx.socket(zmq.PUSH)
        out.setsockopt(zmq.LINGER, 1000)  # the last reports reach the loop after we exit
        out.connect(self.reports_address)
        self._sink = lambda report: out.send(wire.encode(report))
        self._dead_man_due_at = time.monotonic()  # armed at once
        try:
            while True:
                self._chores()
                try:
                    item = self._orders.get(timeout=self._until_next_s())
                except queue.Empty:
                    self._poll_working()
                    continue
                if item is None:  # a clean stop: every queued order has finished
                    self._cancel_working(CancelReason.STOP, "the executor stopped")
                    if not self._working:  # what could not be cancelled stays covered
                        self._disarm_dead_man()
                    break
                if self._stop.is_set():
                    break  # orders still working: the armed switch covers them
                if isinstance(item, CancelRequest):
                    self._on_cancel_request(item)
                else:
                    self._carry_out(item)
                self._poll_working()
        finally:
            out.close()

    # -- chores: the venue clock and the dead-man switch ----------------------------------

    def _chores(self) -> None:
        now = time.monotonic()
        if self._dead_man_due_at is not None and now >= self._dead_man_due_at:
            self._arm_dead_man()
        if now >= self._clock_due_at:
            try:
                self._measure_clock()
            except VenueError as e:
                log.warning("venue clock not read (%s); keeping offset", e.venue_error)
                self._clock_due_at = time.monotonic() + CHORE_RETRY_S

    def _until_chores_s(self) -> float:
        due = [self._clock_due_at]
        if self._dead_man_due_at is not None:
            due.append(self._dead_man_due_at)
        return max(0.0, min(due) - time.monotonic())

    def _until_next_s(self) -> float:
        """Until the next chore, or the next read of the resting orders if any."""
        until = self._until_chores_s()
        if self._working and self.halted_because is None:  # halted: nothing is read
            until = min(until, max(0.0, self._poll_due_at - time.monotonic()))
        return until

    def _measure_clock(self) -> None:
        self.clock.measure(self.venue.server_time_s)
        self._clock_due_at = time.monotonic() + self.timings.clock_refresh_s

    def _arm_dead_man(self) -> None:
        timeout_s = self.timings.dead_man_timeout_s
        # Due again well inside the period, whether this call worked or not.
        self._dead_man_due_at = time.monotonic() + timeout_s / DEAD_MAN_REFRESHES
        try:
            self._paced("CancelAllOrdersAfter", wait=False)
            self.venue.cancel_all_after(timeout_s)
        except VenueError as e:
            log.warning("dead-man switch not pushed back (%s)", e.venue_error)

    def _disarm_dead_man(self) -> None:
        self._dead_man_due_at = None
        try:
            self._paced("CancelAllOrdersAfter", wait=False)
            self.venue.cancel_all_after(0)
            log.info("dead-man switch disarmed")
        except VenueError as e:
            log.warning("dead-man switch not disarmed (%s)", e.venue_error)

    def _pause(self, seconds: float) -> bool:
        """Wait `seconds`, doing the chores when due; True if told to stop meanwhile."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self._stop.wait(min(left, self._until_chores_s())):
                return True
            self._chores()
        return self._stop.is_set()

    def _carry_out(self, order: LiveOrder) -> None:
        if self.halted_because is not None:
            self._reject(order, RejectReason.EXCHANGE_HALTED, f"halted: {self.halted_because}")
            return
        try:
            found = self._look_up(order, None) if order.resumed else self._place(order)
            if found is None:
                return
            if order.terms.order_type is OrderType.MARKET:
                self._follow(order, found)
                return
            self._track(order, found)
            if order.resumed and not found.done:  # the engine cannot know it still rests
                self._cancel_order(order, CancelReason.STOP, "left resting by the previous run")
        except VenueError as e:  # credentials refused while finding out: fate unknown
            self._halt(e.venue_error, None)
        except UnresolvedOrder as e:
            self._halt(str(e), None)

    def _place(self, order: LiveOrder) -> VenueOrder | None:
        """Send the order; its venue state to follow, or None once it is rejected."""
        wait_s = self.timings.backoff_s
        for attempt in range(1, self.timings.retries + 2):
            try:
                if self.pacer is not None:  # the engine admitted it: count it, never wait
                    self.pacer.charge_order(order.symbol, time.monotonic_ns())
                venue_now_s = self.clock.now_s()
                order.deadline_at_s = venue_now_s + self.timings.deadline_s
                txid = self._send_order(order, venue_now_s)
                log.info("order %s sent: txid %s", order.order_id, txid)
                return self._query_until_readable(order, txid)
            except VenueError as e:
                if e.kind is VenueErrorKind.RETRY and attempt <= self.timings.retries:
                    log.warning("order %s: %s; retry %d", order.order_id, e.venue_error, attempt)
                    self._pause(wait_s)
                    wait_s *= 2
                    continue
                if e.kind is VenueErrorKind.UNKNOWN_OUTCOME:
                    return self._look_up(order, e.venue_error)
                if e.kind is VenueErrorKind.HALT:  # refused at the door: it never reached the book
                    self._halt(e.venue_error, order)
                    return None
                reason = {
                    VenueErrorKind.INSUFFICIENT_FUNDS: RejectReason.INSUFFICIENT_FUNDS,
                    VenueErrorKind.POST_ONLY: RejectReason.POST_ONLY,
                    VenueErrorKind.RETRY: RejectReason.EXCHANGE_UNAVAILABLE,
                }.get(e.kind, RejectReason.EXCHANGE_REJECTED)
                self._reject(order, reason, e.venue_error)
                return None
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _send_order(self, order: LiveOrder, venue_now_s: float) -> str:
        terms, deadline_s = order.terms, self.timings.deadline_s
        if terms.order_type is OrderType.MARKET:
            return self.venue.place_market(
                order.symbol, order.side, order.qty, order.order_id, deadline_s, venue_now_s
            )
        if terms.limit_price is None:  # the codec refuses such an order; never guess a price
            raise VenueError(VenueErrorKind.REFUSED, "a limit order without a limit price")
        return self.venue.place_limit(
            order.symbol,
            order.side,
            order.qty,
            exact(terms.limit_price),
            order.order_id,
            deadline_s,
            venue_now_s,
            post_only=terms.post_only,
            immediate_or_cancel=terms.time_in_force is TimeInForce.IOC,
        )

    def _look_up(self, order: LiveOrder, error: str | None) -> VenueOrder | None:
        """After an unknown outcome: the order by client id, or None once surely absent."""
        # ClosedOrders' `start` is on the venue's clock, as all its times are.
        since_ms = order.sent_ms + int((self.clock.offset_s - LOOKUP_MARGIN_S) * 1000)
        found = self._venue_read(lambda: self._find(order.order_id, since_ms), order)
        if found is None:
            # Kraken drops an order that reaches its engine after `deadline` (its
            # clock); once that has passed, an order not found will never appear.
            # A previous run's order was sent, at the latest, just before it
            # stopped, so its deadline lies before one `deadline_s` from now.
            deadline_at_s = order.deadline_at_s
            if deadline_at_s is None:
                deadline_at_s = self.clock.now_s() + self.timings.deadline_s
            self._pause(max(0.0, deadline_at_s + DEADLINE_MARGIN_S - self.clock.now_s()))
            found = self._venue_read(lambda: self._find(order.order_id, since_ms), order)
        if found is None:
            why = error or "not confirmed before the restart"
            self._reject(
                order, RejectReason.EXCHANGE_UNAVAILABLE, f"{why}; not at the venue by client id"
            )
            return None
        log.info("order %s found at the venue by client id: %s", order.order_id, found.status)
        return found

    def _query_until_readable(self, order: LiveOrder, txid: str) -> VenueOrder:
        return self._venue_read(lambda: self._query(txid), order)

    def _query(self, txid: str) -> VenueOrder:
        self._paced("QueryOrders")
        return self.venue.query(txid)

    def _query_many(self, txids: list[str]) -> dict[str, VenueOrder]:
        self._paced("QueryOrders")
        return self.venue.query_many(txids)

    def _find(self, client_id: str, since_ms: int) -> VenueOrder | None:
        self._paced("OpenOrders", "ClosedOrders")  # `find` asks both
        return self.venue.find(client_id, since_ms)

    def _paced(self, *methods: str, wait: bool = True) -> None:
        """Wait until Kraken's REST counter has room for these calls, then count them.

        Live pacing and paper throttling share `venues.kraken.rate_limits`; here
        it runs on this host's monotonic clock, so a burst of polls waits
        instead of earning `EAPI:Rate limit exceeded`. Paced calls leave
        room for one more: the dead-man switch (`wait=False`) never waits
        behind polls, since a late push-back cancels every open order.
        """
        if self.pacer is None:
            return
        for method in methods:
            reserve = DEAD_MAN_RESERVE_CALLS if wait else 0
            wait_ns = self.pacer.rest_wait_ns(method, time.monotonic_ns(), reserve)
            if wait and wait_ns:
                log.info("pacing: %s waits %.2f s for Kraken's REST counter", method, wait_ns / 1e9)
                self._pause(wait_ns / 1e9)
            self.pacer.charge_rest(method, time.monotonic_ns())

    def _follow(self, order: LiveOrder, state: VenueOrder) -> None:
        """Report fills as the venue executes; at the end, reject what never filled."""
        cancel_at = time.monotonic() + self.timings.settle_s
        cancelled = False
        while True:
            self._report_fill(order, state)
            if state.done:
                break
            if time.monotonic() > cancel_at:
                if cancelled:
                    raise UnresolvedOrder(
                        f"order {order.order_id} still {state.status} after cancel"
                    )
                log.warning("order %s still %s; cancelling it", order.order_id, state.status)
                self._try_cancel(order, state.txid)
                cancelled, cancel_at = True, time.monotonic() + self.timings.settle_s
            if self._pause(self.timings.poll_s):
                raise UnresolvedOrder(f"stopped while order {order.order_id} was {state.status}")
            state = self._query_until_readable(order, state.txid)
        unfilled = order.qty - state.executed
        if unfilled > 0:
            detail = f"venue {state.status} it with {unfilled} unfilled"
            self._reject(order, RejectReason.EXCHANGE_REJECTED, detail, qty=unfilled)

    # -- limit orders: the working set, cancels --------------------------------------------

    def _track(self, order: LiveOrder, state: VenueOrder) -> None:
        """A limit order's latest venue state: report new fills; end it, or keep polling it."""
        order.txid = state.txid
        order.reads += 1
        self._report_fill(order, state)
        if not state.done:
            self._working[order.order_id] = order
            return
        self._working.pop(order.order_id, None)
        end = limit_order_end(order, state, time.time_ns())
        if end is not None:
            log.info("order %s ended: %s (%s)", order.order_id, end.reason, end.detail)
            self._send(end)

    def _poll_working(self) -> None:
        """Read every resting order, when due; a cancel the venue has not taken is sent again."""
        if not self._working or self.halted_because is not None:
            return
        if time.monotonic() < self._poll_due_at:
            return
        self._poll_due_at = time.monotonic() + self.timings.poll_s
        working = list(self._working.values())
        for start in range(0, len(working), QUERY_BATCH):
            batch = working[start : start + QUERY_BATCH]
            # One QueryOrders for many orders: the REST counter is what resting orders spend.
            txids = [order.txid for order in batch if order.txid is not None]
            try:
                states = self._venue_read(lambda: self._query_many(txids), batch[0])
            except VenueError as e:  # credentials refused: nothing more is sent
                self._halt(e.venue_error, None)
                return
            except UnresolvedOrder as e:
                self._halt(str(e), None)
                return
            for order in batch:
                state = states.get(order.txid or "")
                if state is not None:
                    self._track(order, state)
                elif not self._read_and_track(order):  # not in the list: ask for it alone
                    return
                if order.order_id in self._working and order.cancel_reason is not None:
                    if not self._send_cancel(order):
                        return

    def _read_and_track(self, order: LiveOrder) -> bool:
        """Read a working order and track it; False if that halted the worker."""
        assert order.txid is not None  # only booked orders are working
        txid = order.txid
        try:
            state = self._query_until_readable(order, txid)
        except VenueError as e:
            self._halt(e.venue_error, None)
            return False
        except UnresolvedOrder as e:
            self._halt(str(e), None)
            return False
        self._track(order, state)
        return True

    def _on_cancel_request(self, request: CancelRequest) -> None:
        order = self._working.get(request.order_id)
        if order is None:  # it ended already (filled, refused, IOC): its end was reported
            log.info("cancel of %s: not working at the venue", request.order_id)
            return
        if self.halted_because is not None:  # nothing is sent; the dead-man switch covers it
            log.warning("cancel of %s not sent: halted", request.order_id)
            return
        self._cancel_order(order, request.reason, None)

    def _cancel_order(self, order: LiveOrder, reason: CancelReason, why: str | None) -> None:
        """Cancel a resting order, then read it: a fill that won the race is reported first."""
        if order.cancel_reason is None:
            order.cancel_reason = reason
        if why:
            log.info("cancelling order %s: %s", order.order_id, why)
        if self._send_cancel(order):
            self._read_and_track(order)

    def _send_cancel(self, order: LiveOrder) -> bool:
        """Send one CancelOrder; False if the worker halted on it."""
        if order.cancel_attempts >= CANCEL_ATTEMPTS:
            return True  # the venue keeps it open: polling will say how it ends
        order.cancel_attempts += 1
        assert order.txid is not None
        try:
            self._try_cancel(order, order.txid)
        except VenueError as e:  # credentials: nothing more can be sent
            self._halt(e.venue_error, None)
            return False
        return True

    def _cancel_working(self, reason: CancelReason, why: str) -> None:
        for order in list(self._working.values()):
            if self.halted_because is not None:
                return
            self._cancel_order(order, reason, why)

    def _try_cancel(self, order: LiveOrder, txid: str) -> None:
        if self.pacer is not None:  # a young order's cancel costs the pair's counter more
            age_s = time.time() - order.sent_ms / 1000
            self.pacer.charge_cancel(order.symbol, age_s, time.monotonic_ns())
        try:
            self.venue.cancel(txid)
        except VenueError as e:
            if e.kind is VenueErrorKind.HALT:
                raise
            # Often not a failure at all: the order filled (or closed) before the cancel.
            log.info("cancel of %s not taken (%s); reading the order", txid, e.venue_error)

    def _venue_read(self, read: Callable[[], T], order: LiveOrder) -> T:
        """A read-only venue call, retried with backoff; UnresolvedOrder if it keeps failing."""
        wait_s = self.timings.backoff_s
        for _ in range(self.timings.retries + 1):
            try:
                return read()
            except VenueError as e:
                if e.kind is VenueErrorKind.HALT:
                    raise
                log.warning("order %s: lookup failed (%s)", order.order_id, e.venue_error)
                if self._pause(wait_s):
                    break
                wait_s *= 2
        raise UnresolvedOrder(f"the venue would not say what became of order {order.order_id}")

    # -- reports --------------------------------------------------------------------------

    def _report_fill(self, order: LiveOrder, state: VenueOrder) -> None:
        fill = new_fill(order, state, time.time_ns())
        if fill is not None:
            self._send(fill)

    def _reject(
        self, order: LiveOrder, reason: RejectReason, detail: str, qty: Decimal | None = None
    ) -> None:
        log.warning("order %s rejected: %s (%s)", order.order_id, reason, detail)
        self._send(rejection(order, reason, detail, qty, time.time_ns()))

    def _halt(self, why: str, order: LiveOrder | None) -> None:
        self.halted_because = why
        log.error("live venue HALTED: %s; no further orders will be sent", why)
        self._send(RiskEvent(kind="venue_halted", symbol=None, detail=why, ts_ns=time.time_ns()))
        if order is not None:  # refused at the door (auth): it never reached the book
            self._reject(order, RejectReason.EXCHANGE_HALTED, why)

    def _send(self, report: Report) -> None:
        self._sink(report)
