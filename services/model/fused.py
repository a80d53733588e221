"""The model's fused path: built-in features, the built-in ridge and policy, one pass per tick.

The replays' fastest path, in `ColumnarDecider`'s place when `supports` holds
(`stage.py`). With our own `RidgeModel` the
value is a sum of seven products, so each tick goes through features, value,
target and prediction row in one loop over plain Python floats: no feature
row, no matrix, no estimator call, no list per column. At a batch's 64 ticks
that costs about half of building the columns and calling numpy (the stage
in-process on the bundled recording, the chatty linear model: 1.6 us a tick
against 3.0; the cost-aware one, which sends nothing: 1.3 against 2.2).
A tick decided alone (paced or live) goes `decide_one` instead: the state's
own `update`, the sum and `decide`'s policy lines, with no run to set up.

Bit for bit what the per-tick path gives (tests compare the two):

- the features are `FeatureState.update`'s expressions, in its order; the
  mid ring is read as a list in quote order (`mids[-1 - k]`: the mid `k`
  quotes back) and written back into the ring at the end;
- the value is `RidgeModel.predict_row`'s sum, term by term in its order
  (`0.0 + x0 * w0 + ... + x6 * w6 + bias`); only `trade_flow`, the last
  term, moves on a trade, so the sum up to it is kept from the last quote;
- target and sending are `_decide_chunk`'s (`columnar.py`), comparisons
  written out where they are equal for finite doubles (`abs(x) <= d` as
  `-d <= x <= d`);
- a chunk of `batch_max` ticks shares one `created_ns`, as the chunks the
  per-tick path predicts together; the metrics' predict timer sees one call
  per chunk: the chunk's whole decision time, since no estimator call is left
  to time apart.

Pure, like `DecisionStack`: no sockets, `now_ns` passed in.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import ClassVar, Final

from common.messages import Side, Target, Tick, TickKind
from services.model.columnar import (
    PREDICTION_HEAD,
    Act,
    Passed,
    PolicyTerms,
    PredictionRow,
    PredictTimer,
    supports_policy,
)
from services.model.contract import Book
from services.model.decision import DecisionStack
from services.model.features import FLOW_DECAY, HISTORY, LONGEST, VOL_DECAY, FeatureState
from services.model.lots import round_lot, round_lot_margin
from services.model.ridge import RidgeModel

VOL_GAIN: Final = 1 - VOL_DECAY  # `FeatureState.update`'s `(1 - VOL_DECAY)`, the same double
_INF: Final = math.inf
_QUOTE: Final = TickKind.QUOTE  # read through its class, an enum member costs a metaclass call
_UNDECIDED: Final = (None, None, None, None)  # `decide_one` of a tick with no row


def supports(stack: DecisionStack) -> bool:
    """Whether the stack's model is the built-in features and policies, with our ridge on
    every feature in order."""
    model = stack.model
    return (
        model.features is FeatureState
        and supports_policy(model)
        and type(model.estimator) is RidgeModel
        and model.class_values is None
        and model.columns == tuple(range(len(FeatureState.names)))
        and len(model.estimator.weights_) == len(FeatureState.names)
    )


class FusedDecider:
    """Decides one symbol's run of ticks in one pass per tick (see the module docstring)."""

    # Queued runs of any length come here (`stage.py`): no array, no estimator call to
    # pay for once (in-process, a queue of 16 alternating two symbols: 12.9 us a tick
    # against 18.3 with runs of 1 tick by tick; runs of 2: 9.5 against 22, of 4: 4.8
    # against 13.7).
    RUN_MIN: ClassVar[int] = 1

    def __init__(self, stack: DecisionStack, predicted: PredictTimer | None = None) -> None:
        self.stack = stack
        self._terms = PolicyTerms.of(stack.model)
        self._predicted = predicted  # the metrics' timing, one call per chunk, when served
        estimator: RidgeModel = stack.model.estimator
        # `predict_row`'s own numbers: `weights_.tolist()`, and `bias_` (as a float64: same double).
        self._weights = tuple(estimator.weights_.tolist())
        self._bias = float(estimator.bias_)
        # `decide`'s policy numbers that `decide_one` reads as they are.
        self._clip = _INF if self._terms.clip is None else self._terms.clip
        self._margin_lots = round_lot_margin(self._terms.max_position)

    def decide(
        self,
        ticks: Sequence[Tick],
        batch_max: int,
        now_ns: Callable[[], int],
        act: Act,
        passed: Passed,
    ) -> list[PredictionRow]:
        """`ColumnarDecider.decide`: each tick's prediction row; `act` and `passed` in order."""
        stack, terms = self.stack, self._terms
        counters = stack.counters
        symbol = ticks[0].symbol
        state = stack.state_of(symbol)
        assert isinstance(state, FeatureState)  # `supports`: the model's feature source
        counters.ticks += len(ticks)

        # The feature state as locals; the ring as a list in quote order.
        quotes, mid, variance, flow = state.quotes, state._mid, state._variance, state._flow
        spread_bps, imbalance = state._spread_bps, state._imbalance
        ring = state._mids
        cut = quotes % HISTORY
        mids = ring[cut:] + ring[:cut]
        add_mid = mids.append
        book = stack.books.get(symbol)
        book_bid, book_ask = (math.nan, math.nan) if book is None else book
        w0, w1, w2, w3, w4, w5, w6 = self._weights
        bias = self._bias
        # The value's sum up to its last term (trade_flow), as of the latest quote.
        head = 0.0
        if quotes > LONGEST:
            head = _head(mid, mids, spread_bps, imbalance, variance, self._weights)

        cost_aware, min_step = terms.cost_aware, terms.min_step
        limit, per_bps, deadband = terms.max_position, terms.position_per_bps, terms.deadband_bps
        fee, margin = terms.taker_fee_bps, terms.margin_bps
        clip, margin_lots = self._clip, self._margin_lots
        # `CostAwarePolicy`'s threshold, from the latest quote (`Costs` of its book).
        threshold = 0.0
        if cost_aware and book is not None:
            threshold = 2.0 * (fee + book.half_spread_bps) + margin

        name, version = PREDICTION_HEAD
        model_id, new_target = stack.model.model_id, stack.new_target
        last_sent = stack.last_sent.get(symbol)
        predictions: list[PredictionRow] = []
        add = predictions.append
        quote, buy, sqrt, copysign = TickKind.QUOTE, Side.BUY, math.sqrt, math.copysign
        vol_decay, vol_gain, flow_decay, longest = VOL_DECAY, VOL_GAIN, FLOW_DECAY, LONGEST
        timer, perf_counter, inf = self._predicted, time.perf_counter, _INF
        warming_up = non_finite = 0
        for start in range(0, len(ticks), batch_max):
            end = min(start + batch_max, len(ticks))
            created_ns = now_ns()
            started = perf_counter()
            done = start  # ticks before this one are handed on
            for i in range(start, end):
                tick = ticks[i]
                bid, ask = tick.bid, tick.ask
                if tick.kind is quote and bid is not None and ask is not None:
                    book_bid, book_ask = bid, ask
                    bid_size, ask_size = tick.bid_size or 0.0, tick.ask_size or 0.0
                    new_mid = (bid + ask) / 2.0
                    if quotes:
                        step_bps = (new_mid / mid - 1.0) * 1e4
                        variance = vol_decay * variance + vol_gain * step_bps * step_bps
                    add_mid(new_mid)
                    mid = new_mid
                    quotes += 1
                    spread_bps = (ask - bid) / new_mid * 1e4
                    depth = bid_size + ask_size
                    imbalance = (bid_size - ask_size) / depth if depth > 0 else 0.0
                    if cost_aware:  # `Book.half_spread_bps`, `Costs.round_trip_bps`
                        threshold = 2.0 * (fee + (ask - bid) / (bid + ask) * 1e4) + margin
                    if quotes > longest:
                        head = (
                            0.0
                            + (mid / mids[-2] - 1.0) * 1e4 * w0
                            + (mid / mids[-11] - 1.0) * 1e4 * w1
                            + (mid / mids[-51] - 1.0) * 1e4 * w2
                            + spread_bps * w3
                            + imbalance * w4
                            + sqrt(variance) * w5
                        )
                elif tick.last_size is not None:
                    signed = tick.last_size if tick.side is buy else -tick.last_size
                    flow = flow_decay * flow + signed
                if quotes <= longest:  # no row yet (nor a book before the first quote)
                    warming_up += 1
                    continue
                value = head + flow * w6 + bias
                if not -inf < value < inf:
                    non_finite += 1
                    continue
                if cost_aware:
                    if -threshold <= value <= threshold:
                        target = last_sent or 0.0
                    else:
                        target = copysign(limit, value)
                elif -deadband <= value <= deadband:
                    target = 0.0
                else:
                    target = per_bps * value
                    target = round_lot(
                        limit if target > limit else -limit if target < -limit else target,
                        margin_lots,
                    )
                if target > clip or target < -clip:
                    target = copysign(clip, target)
                seq = tick.seq
                ts_ns = tick.recv_ts_ns
                add((name, version, symbol, seq, ts_ns, model_id, value, target, created_ns))
                if last_sent is None:  # the policies' `should_send`
                    if cost_aware and target == 0.0:
                        continue
                elif -min_step <= target - last_sent <= min_step:
                    continue
                if i > done:
                    passed(ticks[done:i])
                # `Book.mid` of the latest quote: that quote's mid
                order = new_target(tick, target, mid, created_ns)
                act(tick, value, order)
                done = i + 1
                last_sent = stack.last_sent.get(symbol)  # moved only if the target was taken
            if timer is not None:
                timer(perf_counter() - started, ticks[end - 1])
            if done < end:
                passed(ticks[done:end])

        counters.warming_up += warming_up
        counters.non_finite_predictions += non_finite
        counters.predictions += len(ticks) - warming_up - non_finite
        state.quotes, state._mid, state._variance, state._flow = quotes, mid, variance, flow
        state._spread_bps, state._imbalance = spread_bps, imbalance
        last = mids[-HISTORY:]  # back into the ring: quote q at q % HISTORY
        cut = quotes % HISTORY
        ring[cut:] = last[: HISTORY - cut]
        ring[:cut] = last[HISTORY - cut :]
        if book_bid == book_bid:  # not nan: the symbol has a book
            stack.books[symbol] = Book(book_bid, book_ask)
        return predictions

    def decide_one(
        self, tick: Tick, created_ns: int
    ) -> tuple[float | None, PredictionRow | None, Target | None, float | None]:
        """A tick decided alone (paced or live): its value, prediction row, target if any,
        and the seconds the prediction took (for the metrics' timer, told after the push).

        `DecisionStack`'s `observe`, `predict_one` and `decide` with less in
        between: no `Observed`, no estimator call, no policy calls, no `Prediction`
        before the target goes out (on a CPU cold from waiting for the tick, each
        call costs several times its hot time: the policy's five calls and `Costs`
        took ~10 us). The features are the state's own `update`, the value
        `RidgeModel.predict_row`'s sum in its order, the target `decide`'s policy
        lines: the same numbers (tests compare). All but the seconds None while
        warming up, all but those when the value is not finite (counted as there).
        The caller marks a target sent once the executor took it.
        """
        stack = self.stack
        counters = stack.counters
        counters.ticks += 1
        started = time.perf_counter()
        symbol = tick.symbol
        row = stack.state_of(symbol).update(tick)
        bid, ask = tick.bid, tick.ask
        book: Book | None
        if tick.kind is _QUOTE and bid is not None and ask is not None:
            book = stack.books[symbol] = Book(bid, ask)
        else:
            book = stack.books.get(symbol)
        if row is None or book is None:
            counters.warming_up += 1
            return _UNDECIDED
        x0, x1, x2, x3, x4, x5, x6 = row
        w0, w1, w2, w3, w4, w5, w6 = self._weights
        value = 0.0 + x0 * w0 + x1 * w1 + x2 * w2 + x3 * w3 + x4 * w4 + x5 * w5 + x6 * w6
        value += self._bias
        seconds = time.perf_counter() - started
        if not -_INF < value < _INF:
            counters.non_finite_predictions += 1
            return None, None, None, seconds
        counters.predictions += 1
        last_sent = stack.last_sent.get(symbol)
        terms = self._terms
        # `decide`'s policy lines (the built-in policies, `supports_policy`).
        if terms.cost_aware:
            bid, ask = book
            threshold = 2.0 * (terms.taker_fee_bps + (ask - bid) / (bid + ask) * 1e4)
            threshold += terms.margin_bps
            if -threshold <= value <= threshold:
                position = last_sent or 0.0
            else:
                position = math.copysign(terms.max_position, value)
        elif -terms.deadband_bps <= value <= terms.deadband_bps:
            position = 0.0
        else:
            limit = terms.max_position
            position = terms.position_per_bps * value
            position = round_lot(
                limit if position > limit else -limit if position < -limit else position,
                self._margin_lots,
            )
        clip = self._clip
        if position > clip or position < -clip:
            position = math.copysign(clip, position)
        name, version = PREDICTION_HEAD
        seq, ts_ns, model_id = tick.seq, tick.recv_ts_ns, stack.model.model_id
        prediction = (name, version, symbol, seq, ts_ns, model_id, value, position, created_ns)
        if last_sent is None:  # the policies' `should_send`
            if terms.cost_aware and position == 0.0:
                return value, prediction, None, seconds
        elif -terms.min_step <= position - last_sent <= terms.min_step:
            return value, prediction, None, seconds
        mid = (book.bid + book.ask) / 2.0  # `Book.mid`, without a property call
        return value, prediction, stack.new_target(tick, position, mid, created_ns), seconds


def _head(
    mid: float,
    mids: list[float],
    spread_bps: float,
    imbalance: float,
    variance: float,
    weights: tuple[float, ...],
) -> float:
    """The value's sum up to its trade_flow term (the loop's `head`), from a state's numbers."""
    w0, w1, w2, w3, w4, w5, _ = weights
    return (
        0.0
        + (mid / mids[-2] - 1.0) * 1e4 * w0
        + (mid / mids[-11] - 1.0) * 1e4 * w1
        + (mid / mids[-51] - 1.0) * 1e4 * w2
        + spread_bps * w3
        + imbalance * w4
        + math.sqrt(variance) * w5
    )
