"""The execution engine: targets and ticks in, execution events out. Pure.

For each symbol it works the position towards the newest target:
order qty = target - working position (the position plus what open orders
will still add), so sizing depends only on the targets' order, not on when
fills happened. The position limit is on the worst case instead (the
position plus every open order on the side an order grows, each open order
counted until it is filled or refused): an order that would let it pass the
limit is cut to what fits, or refused when no order the venue takes fits.
A target is handled once the engine has seen the tick it was computed from;
one that arrives early waits for it. Its order is decided at the later of
its tick's time and the market's event time when the engine acts on it, so
a target that arrives late is priced on the market as it is on arrival,
never on ticks from before it came (a lossless replay's watermark makes
every target arrive on time, so replays repeat exactly). Targets that pile
up together (the executor was behind or down) are superseded by the newest
one per symbol, and a target computed from a tick before the first one
this engine saw (queued while another executor, paper or live, held the
socket) is superseded too: it was meant for that one.
Risk checks come before every order. A target expires when the market's
event time has moved past its tick by more than its TTL. With a spot account
(paper), an order is also cut to what the account can pay for, or refused
as Kraken would (`account.py`); the account settles every fill.
Then the venue's rate limits (when set) on the order's event time: an
order Kraken's counters would not take is dropped as `rate_limit`, never
sent late; the risk checks come last, before every order.
With a resting execution style (`execution_style.py`, docs/EXECUTION.md)
each symbol has at most one working order (`cancel_replace.py` decides).
A new target, or a quote where the touch moved past the re-quote
distance, cancels it; once the venue
confirms the cancel (or the order filled meanwhile: the cancel race), the
newest target is worked again by a new order that names the one it replaces.
Cancels pass the venue's rate limits too (Kraken charges a young order's
cancel on the matching-engine counter): a re-quote they would not take
waits for a later quote.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Final, Protocol, cast

import msgspec

from common.messages import (
    CancelReason,
    Fill,
    OrderCancelled,
    OrderRejected,
    OrderSubmitted,
    Position,
    RejectReason,
    RiskEvent,
    Side,
    Target,
    Tick,
    TickKind,
)
from common.recent import RecentIds
from services.executor import quantities
from services.executor.account import KRAKEN_INSUFFICIENT_FUNDS, SpotAccount
from services.executor.cancel_replace import CancelReplace, WorkingOrder
from services.executor.execution_style import ExecutionKind, ExecutionStyle
from services.executor.order_executor import (
    MARKET,
    NEVER,
    OrderExecutor,
    OrderTerms,
    QuietRuns,
    VenueEvent,
)
from services.executor.positions import PositionState
from services.executor.risk import Exposure, OrderIntent, RiskEngine
from venues.kraken.rate_limits import LeakyCounter

Event = OrderSubmitted | OrderRejected | OrderCancelled | Fill | Position | RiskEvent
# Target ids remembered against redelivery: more than the targets socket can hold
# queued (its marks: 16 + 1,000) while an executor restarts, and bounded.
SEEN_TARGETS = 4_096
# A limit style with no quote to price on: refused, never guessed.
NO_TOUCH = (RejectReason.STALE_MARKET, "no quote yet to price a limit order on")


@dataclass
class SymbolBook:
    position: PositionState
    # Order id -> the signed qty (+ buy, - sell) still to fill, until filled or refused.
    open_orders: dict[str, float] = field(default_factory=dict)
    last_quote: Tick | None = None
    last_tick_wall_ns: int | None = None

    def exposure(self) -> Exposure:
        if not self.open_orders:  # the usual case: exactly the sums below of nothing
            return Exposure(self.position.qty, open_buy_qty=0.0, open_sell_qty=-0.0)
        rests = self.open_orders.values()
        return Exposure(
            self.position.qty,
            open_buy_qty=quantities.add(*(rest for rest in rests if rest > 0)),
            open_sell_qty=-quantities.add(*(rest for rest in rests if rest < 0)),
        )

    def resolve(self, order_id: str, qty: float) -> None:
        """`qty` of an open order will not fill any more (filled, or refused by the venue)."""
        rest = self.open_orders.get(order_id)
        if rest is None:
            return  # already resolved, or never opened here
        left = quantities.subtract(abs(rest), qty)
        if left <= 0:
            del self.open_orders[order_id]
        else:
            self.open_orders[order_id] = left if rest > 0 else -left


_recv_ts_ns = attrgetter("recv_ts_ns")
_seq = attrgetter("seq")
# An enum member read through its class costs 100-300 ns (the enum's metaclass),
# as much as the test it is read for: read once here.
_QUOTE: Final = TickKind.QUOTE
_MARKET: Final = ExecutionKind.MARKET


class VenueRateLimits(Protocol):
    """The venue's order-rate limits (Kraken: `venues.kraken.rate_limits.KrakenRateLimits`)."""

    def order_refusal(self, symbol: str, now_ns: int) -> str | None: ...

    def charge_order(self, symbol: str, now_ns: int) -> None: ...

    def order_counter(self, symbol: str) -> LeakyCounter: ...

    def charge_cancel(self, symbol: str, age_s: float, now_ns: int) -> None: ...  # by order age


class ExecutionEngine:
    def __init__(
        self,
        risk: RiskEngine,
        executor: OrderExecutor,
        order_prefix: str | None = None,
        account: SpotAccount | None = None,
        rate_limits: VenueRateLimits | None = None,
        style: ExecutionStyle | None = None,
    ) -> None:
        self.risk, self.executor, self.account = risk, executor, account
        # Paper's ticks may go a quiet run at a time (`on_quiet_ticks`); a live venue's never.
        self._quiet = cast(QuietRuns, executor) if hasattr(executor, "quiet_until") else None
        self.style = style or ExecutionStyle()
        self.rate_limits = rate_limits  # None: no venue rate limits (--rate-limit-tier off)
        self.books: dict[str, SymbolBook] = {}
        self.last_seq = 0
        self.clock_ns = 0  # event time: the latest tick's receive stamp
        self.first_seq: int | None = None  # the first tick this engine saw
        self.orders = 0
        self.targets_met = 0  # targets the position already met: nothing to order
        self.seen_targets = RecentIds(SEEN_TARGETS)
        self._held: dict[str, deque[Target]] = {}  # per symbol, waiting for their ticks
        self._prefix = order_prefix or secrets.token_hex(3)
        # Resting styles: one working order per symbol, cancelled before it is replaced.
        self.resting = (
            CancelReplace(self.style, executor, executor.pairs, rate_limits)
            if self.style.resting
            else None
        )
        self.cancel_at_stop = False  # paper: working orders end with the run (`stop_working`)

    @property
    def cancels_sent(self) -> int:
        return 0 if self.resting is None else self.resting.cancels_sent

    @property
    def cancels_deferred(self) -> int:
        """Working orders whose cancel had to wait for the venue's rate limits."""
        return 0 if self.resting is None else self.resting.cancels_deferred

    def book(self, symbol: str) -> SymbolBook:
        found = self.books.get(symbol)
        if found is None:
            found = self.books[symbol] = SymbolBook(PositionState(symbol))
        return found

    def restore(self, fills: list[Fill], target_ids: set[str], orders: int) -> None:
        """Rebuild positions from journaled fills (crash recovery).

        Orders the journal left unresolved are added by `resume_open_orders`
        (live only: paper orders die with the process).
        """
        for fill in fills:
            self.book(fill.symbol).position.apply(fill)
            if self.account is not None:
                self.account.settle(fill)
        for target_id in target_ids:
            self.seen_targets.add(target_id)
        self.orders = orders

    def resume_open_orders(self, open_orders: Iterable[tuple[OrderSubmitted, float]]) -> None:
        """Count orders a live venue may still fill (each with its remaining qty) as open.

        After a restart the working position is what it was before the crash:
        journaled fills plus what open orders will still add, and their room
        under the limits stays taken. What the venue then reports of them goes
        through `on_venue_report` like any report (a fill moves the position, a
        refused remainder frees its room), so each is applied once.
        """
        for order, remaining in open_orders:
            signed = remaining if order.side is Side.BUY else -remaining
            self.book(order.symbol).open_orders[order.order_id] = signed

    def on_venue_report(
        self, report: Fill | OrderRejected | OrderCancelled | RiskEvent
    ) -> list[Event]:
        """A live venue's news about an order already submitted: a fill, a refusal, a halt."""
        if isinstance(report, OrderCancelled) or (
            isinstance(report, OrderRejected) and report.side is not None
        ):
            # An unfilled rest, or a refused (part of an) order: it will never change the
            # position, its room under the limit and its funds come free, and a refused
            # post-only order is quoted again: as in paper.
            return self._apply_venue_events([report])
        if isinstance(report, Fill):
            # Stamped with the last tick this engine had seen when the venue's fill arrived.
            fill = msgspec.structs.replace(report, tick_seq=self.last_seq)
            return self._apply_fills([fill]) + self._check_breaker(fill.ts_ns)
        return [report]

    def on_tick(self, tick: Tick, now_ns: int) -> list[Event]:
        if self.first_seq is None:
            self.first_seq = tick.seq
        if tick.seq > self.last_seq:
            self.last_seq = tick.seq
        if tick.recv_ts_ns > self.clock_ns:
            self.clock_ns = tick.recv_ts_ns
        book = self.books.get(tick.symbol) or self.book(tick.symbol)
        book.last_tick_wall_ns = now_ns
        events: list[Event] = []
        quote = tick.kind is _QUOTE
        if quote:
            book.last_quote = tick
            book.position.mark_price = tick.mid
        elif book.last_quote is None:  # trades alone (trade history): they are the market
            book.position.mark_price = tick.last
        reports = self.executor.on_tick(tick)
        if reports:
            events += self._apply_venue_events(reports)
        if reports or quote:
            events += self._check_breaker(tick.recv_ts_ns)
        if self.resting is not None:
            events += self._work_resting(tick, now_ns)
        held = self._held.get(tick.symbol)
        while held and held[0].tick_seq <= tick.seq:
            events += self._act_unless_before_start(held.popleft(), now_ns)
        return events

    def on_targets(self, batch: list[Target], now_ns: int) -> list[Event]:
        """Targets that arrived together: per symbol only the newest may act.

        A batch larger than one means the executor fell behind (or was down):
        the older targets of a symbol are superseded, never executed late.
        """
        newest = {target.symbol: target for target in batch}
        events: list[Event] = []
        for target in batch:
            if newest[target.symbol] is target:
                events += self.on_target(target, now_ns)
            elif target.id not in self.seen_targets:
                self.seen_targets.add(target.id)
                events.append(
                    self._reject(
                        target,
                        None,
                        0.0,
                        RejectReason.SUPERSEDED_TARGET,
                        f"superseded by {newest[target.symbol].id}",
                        now_ns,
                    )
                )
        return events

    def on_target(self, target: Target, now_ns: int) -> list[Event]:
        if target.id in self.seen_targets:
            return []  # redelivered: already acted on
        if self._expired(target):
            self.seen_targets.add(target.id)
            age_ms = (self.clock_ns - target.tick_ts_ns) / 1e6
            return [
                self._reject(
                    target,
                    None,
                    0.0,
                    RejectReason.EXPIRED_TARGET,
                    f"market moved on {age_ms:.0f} ms, ttl {target.ttl_ms} ms",
                    now_ns,
                )
            ]
        if target.tick_seq > self.last_seq:  # its tick has not reached us yet: act on it then
            self._held.setdefault(target.symbol, deque()).append(target)
            return []
        return self._act_unless_before_start(target, now_ns)

    def _act_unless_before_start(self, target: Target, now_ns: int) -> list[Event]:
        # A target from a tick this engine never saw was computed while another
        # executor held the socket (a restart, a paper <-> live swap): acting on
        # it would execute that one's decision late.
        if self.first_seq is not None and target.tick_seq < self.first_seq:
            self.seen_targets.add(target.id)
            detail = (
                f"computed from tick {target.tick_seq}, "
                f"before this executor's first ({self.first_seq})"
            )
            return [self._reject(target, None, 0.0, RejectReason.SUPERSEDED_TARGET, detail, now_ns)]
        return self._act(target, now_ns)

    def _expired(self, target: Target) -> bool:
        # Event time, not wall time: a replay expires exactly the same targets
        # every time, and after a restart the live ticks' clock expires old ones.
        return self.clock_ns > target.tick_ts_ns + target.ttl_ms * 1_000_000

    def expire_held(self, now_ns: int) -> list[Event]:
        """Reject held targets whose tick never came within their TTL (wall clock)."""
        events: list[Event] = []
        for held in self._held.values():
            while held and now_ns > held[0].created_ns + held[0].ttl_ms * 1_000_000:
                target = held.popleft()
                self.seen_targets.add(target.id)
                events.append(
                    self._reject(
                        target,
                        None,
                        0.0,
                        RejectReason.EXPIRED_TARGET,
                        "its tick never arrived in time",
                        now_ns,
                    )
                )
        return events

    def _act(self, target: Target, now_ns: int) -> list[Event]:
        self.seen_targets.add(target.id)
        if self.resting is not None:
            # Always replaced when the target changes: cancel first, then work the
            # newest target once the venue confirms (never two orders at once).
            waits, superseded = self.resting.on_target(target, self.clock_ns)
            if superseded is not None:
                detail = f"superseded by {target.id}"
                reason = RejectReason.SUPERSEDED_TARGET
                return [self._reject(superseded, None, 0.0, reason, detail, now_ns)]
            if waits:
                return []
        return self._order(target, now_ns)

    def _order(self, target: Target, now_ns: int, replaces: str | None = None) -> list[Event]:
        book = self.book(target.symbol)
        exposure = book.exposure()
        delta = quantities.subtract(target.target_position, exposure.working)
        side = Side.BUY if delta > 0 else Side.SELL
        ref_price = target.ref_price
        terms = MARKET
        if self.style.kind is not _MARKET:
            priced = self._terms(target.symbol, side, book)
            if priced is None:
                return [self._reject(target, side, abs(delta), *NO_TOUCH, now_ns)]
            terms = priced
            ref_price = terms.limit_price or ref_price  # risk and funds check the order's price
        qty, refusal = self.executor.conform(target.symbol, abs(delta), ref_price)
        if qty == 0 and refusal is not None and refusal[0] is RejectReason.MIN_ORDER_SIZE:
            self.targets_met += 1  # already where the target wants to be, to the lot size
            return []
        # Decided now on the event clock: at its tick, or later if it came late.
        event_ts_ns = max(target.tick_ts_ns, self.clock_ns)
        if refusal is None:
            room = self.risk.position_room(
                exposure, buy=side is Side.BUY, symbol=target.symbol, price=ref_price
            )
            if qty > room:
                # Cut to the room the worst case leaves, if the venue takes an order
                # that small; if not, the risk check below refuses the whole order.
                cut, cut_refusal = self.executor.conform(target.symbol, room, ref_price)
                if cut_refusal is None:
                    qty = cut
            qty, refusal = self._fund(target.symbol, side, qty, ref_price)
        if refusal is None:
            refusal = self._rate_refusal(target.symbol, event_ts_ns) or self._risk_refusal(
                book, side, qty, ref_price, exposure, event_ts_ns, now_ns
            )
            if refusal is None and self.rate_limits is not None:
                self.rate_limits.charge_order(target.symbol, event_ts_ns)
        if refusal is not None:
            return [self._reject(target, side, qty, refusal[0], refusal[1], now_ns)]
        self.orders += 1
        order_id = f"{self._prefix}-{self.orders}"
        self.executor.submit(order_id, target.id, target.symbol, side, qty, event_ts_ns, terms)
        if self.resting is not None and terms.limit_price is not None:
            placed = WorkingOrder(order_id, target, side, terms.limit_price, event_ts_ns)
            self.resting.placed(placed)
        if self.account is not None:
            self.account.hold(order_id, target.symbol, side, qty, ref_price)
        book.open_orders[order_id] = qty if side is Side.BUY else -qty
        events: list[Event] = [
            OrderSubmitted(
                order_id=order_id,
                target_id=target.id,
                symbol=target.symbol,
                side=side,
                qty=qty,
                ref_price=ref_price,
                tick_seq=target.tick_seq,
                ts_ns=event_ts_ns,
                order_type=terms.order_type,
                limit_price=terms.limit_price,
                time_in_force=terms.time_in_force,
                post_only=terms.post_only,
                replaces=replaces,
            )
        ]
        if book.last_quote is not None:
            # The book it was decided on: the order fills there only if it arrives
            # no later (latency 0); otherwise it waits for the first book after.
            now_reports = self.executor.on_tick(book.last_quote, only_order_id=order_id)
            if now_reports:
                events += self._apply_venue_events(now_reports)
                events += self._check_breaker(now_reports[-1].ts_ns)
        return events

    def _fund(
        self, symbol: str, side: Side, qty: float, ref_price: float
    ) -> tuple[float, tuple[RejectReason, str] | None]:
        """Cut the order to what the account can pay for, or say why Kraken would refuse it."""
        if self.account is None:
            return qty, None
        affordable = self.account.affordable(symbol, side, ref_price)
        if qty <= affordable:
            return qty, None
        cut, cut_refusal = self.executor.conform(symbol, affordable, ref_price)
        if cut_refusal is None:
            return cut, None
        detail = f"{KRAKEN_INSUFFICIENT_FUNDS}: {side} {qty} needs more than the account holds"
        return qty, (RejectReason.INSUFFICIENT_FUNDS, detail)

    def _risk_refusal(
        self,
        book: SymbolBook,
        side: Side,
        qty: float,
        ref_price: float,
        exposure: Exposure,
        event_ts_ns: int,
        now_ns: int,
    ) -> tuple[RejectReason, str] | None:
        """The risk engine's checks of the order (built only for orders the venue would take)."""
        market_age_ms = (
            None if book.last_tick_wall_ns is None else (now_ns - book.last_tick_wall_ns) / 1e6
        )
        mid = book.last_quote.mid if book.last_quote is not None else None
        signed_qty = qty if side is Side.BUY else -qty
        intent = OrderIntent(book.position.symbol, signed_qty, ref_price, exposure, event_ts_ns)
        return self.risk.check(intent, mid, market_age_ms)

    def _rate_refusal(self, symbol: str, event_ts_ns: int) -> tuple[RejectReason, str] | None:
        # The venue's rate limits on the order's event time: an order Kraken's
        # counters would not take now is dropped, not sent late (see rate_limits.py).
        if self.rate_limits is None:
            return None
        why = self.rate_limits.order_refusal(symbol, event_ts_ns)
        return None if why is None else (RejectReason.RATE_LIMIT, why)

    def _apply_venue_events(self, reports: list[VenueEvent]) -> list[Event]:
        """The venue's fills, cancelled remainders and refusals, in the order they happened."""
        events: list[Event] = []
        for report in reports:
            if isinstance(report, Fill):
                events += self._apply_fills([report])
                continue
            book = self.book(report.symbol)
            # The unfilled rest will never fill: its room under the limits and its funds free up.
            book.resolve(report.order_id, report.qty)
            if self.account is not None:
                self.account.release(report.order_id, report.qty)
            refused_post_only = (
                isinstance(report, OrderRejected) and report.reason is RejectReason.POST_ONLY
            )
            if refused_post_only and self.resting is not None:
                self.resting.on_refused(report.symbol, report.order_id)
            events.append(report)
        return events

    def _terms(self, symbol: str, side: Side, book: SymbolBook) -> OrderTerms | None:
        rules = self.executor.pairs.get(symbol)
        if rules is None:
            return None
        return self.style.terms(side, book.last_quote, rules.price_increment)

    def _work_resting(self, tick: Tick, now_ns: int) -> list[Event]:
        """After a tick: re-quote a working order the touch left, or work a pending target."""
        assert self.resting is not None  # only called with a resting style
        working = self.resting.working.get(tick.symbol)
        still_open = working is not None and working.order_id in self.book(tick.symbol).open_orders
        work = self.resting.after_tick(tick, still_open, self.clock_ns)
        if work is None:
            return []
        target, replaces = work
        return self._order(target, now_ns, replaces=replaces)

    def stop_working(self, ts_ns: int) -> list[Event]:
        """The run ends: every working order's rest is cancelled (`stop`); paper only."""
        if not self.cancel_at_stop or self.resting is None:
            return []
        events: list[Event] = []
        for working in self.resting.stop():
            symbol = working.target.symbol
            rest = self.book(symbol).open_orders.get(working.order_id)
            if rest is None:
                continue
            cancelled = OrderCancelled(
                order_id=working.order_id,
                symbol=symbol,
                side=working.side,
                qty=abs(rest),
                reason=CancelReason.STOP,
                detail="the run ended with it working",
                ts_ns=ts_ns,
            )
            events += self._apply_venue_events([cancelled])
        return events

    def _apply_fills(self, fills: list[Fill]) -> list[Event]:
        events: list[Event] = []
        for fill in fills:
            # On the pair's lot grid, fee rounded: no float residue journaled or summed.
            rules = self.executor.pairs.get(fill.symbol)
            if self.account is not None:
                fill = self.account.with_margin_fee(fill)  # before the fee is rounded
            fill = quantities.exact_fill(fill, rules.qty_increment if rules else None)
            book = self.book(fill.symbol)
            book.position.apply(fill)
            book.resolve(fill.order_id, fill.qty)
            if self.account is not None:
                self.account.settle(fill)
            events += [fill, book.position.snapshot(fill.ts_ns)]
        return events

    def equity(self) -> float:
        return sum(b.position.equity for b in self.books.values())

    def quiet_cut(self, ticks: Sequence[Tick], start: int = 0) -> int | None:
        """How many of one symbol's `ticks`, from `start`, `on_quiet_ticks` could take.

        As far as held targets and open orders say: the ticks before the one a
        held target waits for (`on_tick` acts there), and before the first at
        or after an order's arrival at the venue (it may fill there); 0 while
        paper remembers takings (the next refresh may end that). None when no
        tick of them can be quiet: a resting or working order, not paper. The
        breaker is checked by `on_quiet_ticks` itself.
        """
        quiet = self._quiet
        if quiet is None:
            return None
        symbol = ticks[start].symbol
        if self.resting is not None and self.resting.busy(symbol):
            return None
        due_ns = quiet.quiet_until(symbol)
        if due_ns is None:
            return None
        held = self._held.get(symbol)
        waits_for = held[0].tick_seq if held else None
        if waits_for is None and due_ns == NEVER:
            return len(ticks) - start
        for at in range(start, len(ticks)):
            tick = ticks[at]
            if (waits_for is not None and tick.seq >= waits_for) or tick.recv_ts_ns >= due_ns:
                return at - start
        return len(ticks) - start

    def on_quiet_ticks(
        self, ticks: Sequence[Tick], now_ns: int, *, rising: bool = False
    ) -> list[Event] | None:
        """Apply a run of one symbol's ticks in one step, when nothing can happen within them.

        The columnar fast path of a replay (`Sequencer`): the result is exactly
        `on_tick` on each. Nothing happens when no held target waits for one of
        these ticks (one waiting for a later tick acts later), no
        order can fill at any of them nor depends on the books between (paper's
        `quiet_until`: none open, or market orders that reach the venue only
        after the run), and the breaker cannot trip on any quote: equity is
        monotonic in the mark (every step is a correctly rounded monotonic
        operation), so its worst value is at the run's lowest or highest mid.
        Returns None, having changed nothing, when the run is not quiet: the
        caller applies it tick by tick. `rising`: the caller knows the ticks'
        seqs rise (the last is the highest), which saves a pass over them.
        """
        symbol = ticks[0].symbol
        quiet = self._quiet
        if quiet is None:
            return None
        # Unless they rise, not the last one's: a restarted feed's seqs fall.
        highest_seq = ticks[-1].seq if rising else max(map(_seq, ticks))
        held = self._held.get(symbol)
        if held and held[0].tick_seq <= highest_seq:
            return None  # `on_tick` would act on it at one of these ticks
        if self.resting is not None and self.resting.busy(symbol):
            return None
        due_ns = quiet.quiet_until(symbol)
        latest_ns = max(map(_recv_ts_ns, ticks))
        if due_ns is None or due_ns <= latest_ns:
            return None
        last_quote = _last_quote(ticks)
        book = self.book(symbol)
        if last_quote is not None:
            if not self.risk.tripped and not self._breaker_holds(book, ticks):
                return None
            quiet.refresh_book(last_quote)
        if self.first_seq is None:
            self.first_seq = ticks[0].seq
        self.last_seq = max(self.last_seq, highest_seq)
        self.clock_ns = max(self.clock_ns, latest_ns)
        book.last_tick_wall_ns = now_ns
        if last_quote is not None:
            book.last_quote = last_quote
            book.position.mark_price = last_quote.mid
        elif book.last_quote is None:  # trades alone: the last one is the market
            book.position.mark_price = ticks[-1].last
        return []

    def _breaker_holds(self, book: SymbolBook, ticks: Sequence[Tick]) -> bool:
        """True when no quote of `ticks` (one symbol's, at least one quote) would trip
        the breaker.

        Equity moves with the mark only through the position: flat, it is the
        same at every quote; long, it is worst at the lowest mid; short, at the
        highest (monotonic: `on_quiet_ticks`).
        """
        position = book.position
        floor = -self.risk.limits.max_loss
        if position.qty == 0:
            return self.equity() > floor
        mark = position.mark_price
        # Every quote has a mid (`wire.decode` checked its bid and ask).
        quote = _QUOTE
        mids = [tick.mid for tick in ticks if tick.kind is quote]
        position.mark_price = (min if position.qty > 0 else max)(mids)
        try:
            return self.equity() > floor
        finally:
            position.mark_price = mark

    def _check_breaker(self, ts_ns: int) -> list[Event]:
        # Unrealized losses count: the breaker is checked on every quote, not only on fills.
        if self.risk.tripped:
            return []  # `on_equity` reports a trip once: no equity to add up
        tripped = self.risk.on_equity(self.equity(), ts_ns)
        if tripped is None:
            return []
        if self.resting is not None:
            # Only risk-reducing orders from now on: a resting order that adds to its
            # position must not stay on the book (passive orders fill as prices come to them).
            self.resting.on_breaker(self._adds_to_position, ts_ns)
        return [tripped]

    def _adds_to_position(self, symbol: str, side: Side) -> bool:
        held = self.book(symbol).position.qty
        return held >= 0 if side is Side.BUY else held <= 0

    def _reject(
        self,
        target: Target,
        side: Side | None,
        qty: float,
        reason: RejectReason,
        detail: str,
        now_ns: int,
    ) -> OrderRejected:
        self.orders += 1
        return OrderRejected(
            order_id=f"{self._prefix}-{self.orders}",
            target_id=target.id,
            symbol=target.symbol,
            side=side,
            qty=qty,
            reason=reason,
            detail=detail,
            ts_ns=now_ns,
        )


def _last_quote(ticks: Sequence[Tick]) -> Tick | None:
    # From the end: a quiet run's last tick is nearly always a quote.
    quote = _QUOTE
    for tick in reversed(ticks):
        if tick.kind is quote:
            return tick
    return None
