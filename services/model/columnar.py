"""The model's columnar path for a run of ticks: one feature matrix, one estimator call per chunk.

The replays' fast path (`ModelStage.on_batch`, and queued single ticks in
`ModelStage.flush`), for a model whose
feature source is the built-in `FeatureState` and whose estimator is not our
ridge (that one goes the fused path, `fused.py`, which also reuses this
module's policy terms and row layout); any other source goes tick by tick
(`DecisionStack`). It gives exactly what the per-tick path gives, bit for
bit: the features in one loop over the batch with `FeatureState.update`'s
expressions (the recurrences, EWMA variance and trade flow, must run in
order: a reordered one rounds differently; and at 64 ticks numpy's per-call
cost outweighs its speed, see `features_of`) into one matrix; then one
estimator call per chunk of `batch_max` ticks (the chunks the per-tick path
predicts together); then the built-in policies in one walk over the chunk's
plain floats (`_decide_chunk`: a target sent moves `last_sent`, on which the
next ticks' decisions depend). Predictions come out as tuples in
`Prediction`'s wire order, so a batch is encoded in one call without an
object per tick.

Pure, like `DecisionStack`: no sockets, `now_ns` passed in.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import ClassVar, Final, NamedTuple

import numpy as np

from common.messages import Prediction, Side, Target, Tick, TickKind
from services.model.checkpoint import LoadedModel
from services.model.contract import Book
from services.model.decision import DecisionStack
from services.model.features import (
    FEATURE_NAMES,
    FLOW_DECAY,
    HISTORY,
    LONGEST,
    VOL_DECAY,
    FeatureState,
    Row,
)
from services.model.lots import LOT
from services.model.policy import CostAwarePolicy, Policy

# `Prediction`'s wire form after its fields: [type, v, symbol, tick_seq, ...].
PREDICTION_HEAD: Final = (Prediction.__name__, Prediction.__struct_defaults__[0])
_EMPTY_ROW: Final = (0.0,) * len(FEATURE_NAMES)  # a row that does not exist (warming up)

PredictionRow = tuple[object, ...]  # a `Prediction` in wire order, `PREDICTION_HEAD` first
Act = Callable[[Tick, float | None, Target | None], None]
Passed = Callable[[Sequence[Tick]], None]
PredictTimer = Callable[[float, Tick], None]  # (seconds the prediction took, its last tick)


def supports(stack: DecisionStack) -> bool:
    """Whether this path computes the stack's model: the built-in features and policies."""
    return stack.model.features is FeatureState and supports_policy(stack.model)


class Columns(NamedTuple):
    """One symbol's batch, row i for `ticks[i]`: plain lists but for the feature matrix."""

    rows: np.ndarray  # n x 7, C order: what `FeatureState.update` returns (zeros where None)
    valid: list[bool]  # False where `update` returns None (warming up)
    bid: list[float]  # the symbol's latest quote at each tick (nan before the first)
    ask: list[float]


def features_of(state: FeatureState, ticks: Sequence[Tick], book: Book | None = None) -> Columns:
    """One symbol's feature rows and books for `ticks`; `state` ends as `update`'s would.

    Row i is what `state.update(ticks[i])` returns, valid[i] False where it
    returns None. `book`: the symbol's latest quote before the batch.

    One loop with `update`'s expressions inlined on local floats: at a
    batch's size (64), numpy's per-call cost exceeds what its arithmetic
    saves on these recurrences (measured: 4.5 us a tick on columns against
    2 us tick by tick), and inlining gives the same doubles.
    """
    mids, quotes, mid = state._mids, state.quotes, state._mid
    variance, flow = state._variance, state._flow
    spread_bps, imbalance = state._spread_bps, state._imbalance
    flat: list[float] = []
    valid: list[bool] = []
    book_bid, book_ask = (math.nan, math.nan) if book is None else book
    bids: list[float] = []
    asks: list[float] = []
    quote, buy = TickKind.QUOTE, Side.BUY
    for tick in ticks:
        bid, ask = tick.bid, tick.ask
        if tick.kind is quote and bid is not None and ask is not None:
            book_bid, book_ask = bid, ask
            bid_size, ask_size = tick.bid_size or 0.0, tick.ask_size or 0.0
            new_mid = (bid + ask) / 2.0
            if quotes:
                step_bps = (new_mid / mid - 1.0) * 1e4
                variance = VOL_DECAY * variance + (1 - VOL_DECAY) * step_bps * step_bps
            mids[quotes % HISTORY] = new_mid
            mid = new_mid
            quotes += 1
            spread_bps = (ask - bid) / new_mid * 1e4
            depth = bid_size + ask_size
            imbalance = (bid_size - ask_size) / depth if depth > 0 else 0.0
        elif tick.last_size is not None:
            signed = tick.last_size if tick.side is buy else -tick.last_size
            flow = FLOW_DECAY * flow + signed
        bids.append(book_bid)
        asks.append(book_ask)
        if quotes <= LONGEST:
            valid.append(False)
            flat += _EMPTY_ROW
            continue
        valid.append(True)
        flat += (
            (mid / mids[(quotes - 2) % HISTORY] - 1.0) * 1e4,
            (mid / mids[(quotes - 11) % HISTORY] - 1.0) * 1e4,
            (mid / mids[(quotes - 1 - LONGEST) % HISTORY] - 1.0) * 1e4,
            spread_bps,
            imbalance,
            math.sqrt(variance),
            flow,
        )
    state.quotes, state._mid, state._variance, state._flow = quotes, mid, variance, flow
    state._spread_bps, state._imbalance = spread_bps, imbalance
    rows = np.array(flat).reshape(len(ticks), len(FEATURE_NAMES))
    return Columns(rows, valid, bids, asks)


class ColumnarDecider:
    """Decides one symbol's batch of ticks for a `DecisionStack` (see the module docstring)."""

    # Queued ticks of one symbol in a row below this go tick by tick (`stage.py`): a
    # columnar run's fixed cost (arrays, one estimator call) outweighs its gain under
    # about 8 ticks (measured: runs of 7 break even, symbols alternating tick by tick
    # 2.9x slower).
    RUN_MIN: ClassVar[int] = 8

    def __init__(self, stack: DecisionStack, predicted: PredictTimer | None = None) -> None:
        self.stack = stack
        self._policy = PolicyTerms.of(stack.model)
        self._predicted = predicted  # the metrics' timing of each estimator call, when served

    def decide(
        self,
        ticks: Sequence[Tick],
        batch_max: int,
        now_ns: Callable[[], int],
        act: Act,
        passed: Passed,
    ) -> list[PredictionRow]:
        """Every tick of `ticks` (one symbol's, in order): its prediction row, if any.

        In tick order, as the per-tick path tells its stage: `act(tick, value,
        target)` for each tick with a target (sending it moves `last_sent`),
        `passed(ticks)` for each run of ticks without one.
        """
        stack = self.stack
        symbol = ticks[0].symbol
        state = stack.state_of(symbol)
        rows, valid, bids, asks = features_of(state, ticks, stack.books.get(symbol))  # type: ignore[arg-type]
        stack.counters.ticks += len(ticks)
        if bids[-1] == bids[-1]:  # not nan: the symbol has a book
            stack.books[symbol] = Book(bids[-1], asks[-1])
        predictions: list[PredictionRow] = []
        for start in range(0, len(ticks), batch_max):
            end = min(start + batch_max, len(ticks))
            # A row and a book (a book's bid is never nan once there is one).
            usable = [ok and bid == bid for ok, bid in zip(valid[start:end], bids[start:end])]
            started = time.perf_counter()
            values = self._predict(rows[start:end], usable)
            if self._predicted is not None:
                self._predicted(time.perf_counter() - started, ticks[end - 1])
            chunk = _Chunk(ticks[start:end], values, usable, bids[start:end], asks[start:end])
            self._decide_chunk(chunk, now_ns(), act, passed, predictions)
        return predictions

    def _predict(self, rows: np.ndarray, usable: list[bool]) -> list[float]:
        """The chunk's values (nan where none), one estimator call as `DecisionStack.predict`."""
        model = self.stack.model
        count = sum(usable)
        if count == len(usable):  # past warm-up: every row, no selection to make
            picked = rows
        elif count:
            picked = rows[np.array(usable, dtype=bool)]
        else:
            return [math.nan] * len(usable)
        if count == 1:
            got = [model.predict_one(tuple(picked[0].tolist()))]
        else:
            # The matrix itself: `predict_many` makes the same matrix of a list of rows.
            matrix: list[Row] = picked  # type: ignore[assignment]
            got = model.predict_many(matrix).tolist()
        if count == len(usable):
            return got
        each = iter(got)
        return [next(each) if ok else math.nan for ok in usable]

    def _decide_chunk(
        self,
        chunk: _Chunk,
        created_ns: int,
        act: Act,
        passed: Passed,
        predictions: list[PredictionRow],
    ) -> None:
        """`DecisionStack.decide` for each tick of the chunk, in order.

        One walk in plain Python floats: a tick's wanted position depends on
        the position only through `CostAwarePolicy`'s "hold", and whether it
        is sent on `last_sent`, which only a target sent moves; per tick, a
        few float operations cost less than numpy calls over 64. Each line
        computes what `LoadedModel.target_for` and `should_send` compute, in
        the same order, so the doubles are the same (tests compare them).
        """
        stack, terms = self.stack, self._policy
        counters = stack.counters
        ticks, values, usable, bids, asks = chunk
        symbol, model_id = ticks[0].symbol, stack.model.model_id
        name, version = PREDICTION_HEAD
        cost_aware, clip, min_step = terms.cost_aware, terms.clip, terms.min_step
        limit, per_bps, deadband = terms.max_position, terms.position_per_bps, terms.deadband_bps
        fee, margin = terms.taker_fee_bps, terms.margin_bps
        last_sent = stack.last_sent.get(symbol)
        add, isfinite, copysign = predictions.append, math.isfinite, math.copysign
        warming_up = non_finite = 0
        done = 0  # ticks before this one are handed on
        for i, value in enumerate(values):
            if not usable[i]:
                warming_up += 1
                continue
            if not isfinite(value):
                non_finite += 1
                continue
            if cost_aware:  # `CostAwarePolicy.target_for` with `Costs` of the tick's book
                bid, ask = bids[i], asks[i]
                half_spread_bps = (ask - bid) / (bid + ask) * 1e4
                if abs(value) <= 2.0 * (fee + half_spread_bps) + margin:
                    target = last_sent or 0.0
                else:
                    target = copysign(limit, value)
            elif abs(value) <= deadband:  # `Policy.target_for`
                target = 0.0
            else:
                target = round(max(-limit, min(limit, per_bps * value)), LOT)
            if clip is not None and abs(target) > clip:  # `LoadedModel.target_for`'s clip
                target = copysign(clip, target)
            tick = ticks[i]
            add(
                (
                    name,
                    version,
                    symbol,
                    tick.seq,
                    tick.recv_ts_ns,
                    model_id,
                    value,
                    target,
                    created_ns,
                )
            )
            if last_sent is None:  # the policies' `should_send`
                if cost_aware and target == 0.0:
                    continue
            elif not abs(target - last_sent) > min_step:
                continue
            if i > done:
                passed(ticks[done:i])
            mid = (bids[i] + asks[i]) / 2.0  # `Book.mid`
            order = stack.new_target(tick, target, mid, created_ns)
            act(tick, value, order)
            done = i + 1
            last_sent = stack.last_sent.get(symbol)  # moved only if the target was taken
        counters.warming_up += warming_up
        counters.non_finite_predictions += non_finite
        counters.predictions += len(values) - warming_up - non_finite
        if done < len(ticks):
            passed(ticks[done:])


class _Chunk(NamedTuple):
    """Up to `batch_max` ticks decided together, with their columns."""

    ticks: Sequence[Tick]
    values: list[float]  # nan where not usable
    usable: list[bool]  # a row and a book
    bid: list[float]  # each tick's book
    ask: list[float]


class PolicyTerms(NamedTuple):
    """The model's built-in policy and clip as plain floats, read once."""

    cost_aware: bool
    max_position: float
    position_per_bps: float  # `Policy`'s; unused by `CostAwarePolicy`
    deadband_bps: float
    margin_bps: float  # `CostAwarePolicy`'s; unused by `Policy`
    min_step: float
    taker_fee_bps: float
    clip: float | None  # `LoadedModel.max_position`

    @classmethod
    def of(cls, model: LoadedModel) -> PolicyTerms:
        policy = model.policy
        cost_aware = type(policy) is CostAwarePolicy
        return cls(
            cost_aware=cost_aware,
            max_position=policy.max_position,
            position_per_bps=0.0 if cost_aware else policy.position_per_bps,
            deadband_bps=0.0 if cost_aware else policy.deadband_bps,
            margin_bps=policy.margin_bps if cost_aware else 0.0,
            min_step=policy.min_step,
            taker_fee_bps=model.taker_fee_bps,
            clip=model.max_position,
        )


def supports_policy(model: LoadedModel) -> bool:
    """Whether this path computes the model's policy on columns (the built-in ones)."""
    return type(model.policy) in (Policy, CostAwarePolicy)
