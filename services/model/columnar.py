"""The model's columnar path for a `TickBatch`: features as arrays, one estimator call per chunk.

The batched replay's fast path (`ModelStage.on_batch`), for a model whose
feature source is the built-in `FeatureState`; any other source goes tick by
tick (`DecisionStack`). It gives exactly what the per-tick path gives, bit for
bit: the features in one loop over the batch with `FeatureState.update`'s
expressions (the recurrences, EWMA variance and trade flow, must run in
order: a reordered one rounds differently; and at 64 ticks numpy's per-call
cost outweighs its speed, see `features_of`) into one matrix; then one
estimator call per chunk of `batch_max` ticks (the chunks the per-tick path
predicts together); then the built-in policies on columns, in runs between
the targets sent (each moves `last_sent`, on which the next depend).
Predictions come out as tuples in `Prediction`'s wire order, so a batch is
encoded in one call without an object per tick.

Pure, like `DecisionStack`: no sockets, `now_ns` passed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Final, NamedTuple

import numpy as np

from common.messages import Prediction, Side, Target, Tick, TickKind
from services.model.checkpoint import LoadedModel
from services.model.contract import Book
from services.model.decision import DecisionStack
from services.model.features import (
    _FLOW_DECAY,
    _HISTORY,
    _LONGEST,
    _VOL_DECAY,
    FEATURE_NAMES,
    FeatureState,
)
from services.model.policy import LOT, CostAwarePolicy, Policy

# `Prediction`'s wire form after its fields: [type, v, symbol, tick_seq, ...].
PREDICTION_HEAD: Final = (Prediction.__name__, Prediction.__struct_defaults__[0])
_EMPTY_ROW: Final = (0.0,) * len(FEATURE_NAMES)  # a row that does not exist (warming up)

PredictionRow = tuple[object, ...]  # a `Prediction` in wire order, `PREDICTION_HEAD` first
Act = Callable[[Tick, float | None, Target | None], None]
Passed = Callable[[Sequence[Tick]], None]


def supports(stack: DecisionStack) -> bool:
    """Whether this path computes the stack's model: the built-in features and policies."""
    return stack.model.features is FeatureState and supports_policy(stack.model)


class Columns(NamedTuple):
    """One symbol's batch as arrays, row i for `ticks[i]`."""

    rows: np.ndarray  # n x 7, C order: what `FeatureState.update` returns (zeros where None)
    valid: np.ndarray  # False where `update` returns None (warming up)
    bid: np.ndarray  # the symbol's latest quote at each tick (nan before the first)
    ask: np.ndarray


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
                variance = _VOL_DECAY * variance + (1 - _VOL_DECAY) * step_bps * step_bps
            mids[quotes % _HISTORY] = new_mid
            mid = new_mid
            quotes += 1
            spread_bps = (ask - bid) / new_mid * 1e4
            depth = bid_size + ask_size
            imbalance = (bid_size - ask_size) / depth if depth > 0 else 0.0
        elif tick.last_size is not None:
            signed = tick.last_size if tick.side is buy else -tick.last_size
            flow = _FLOW_DECAY * flow + signed
        bids.append(book_bid)
        asks.append(book_ask)
        if quotes <= _LONGEST:
            valid.append(False)
            flat += _EMPTY_ROW
            continue
        valid.append(True)
        flat += (
            (mid / mids[(quotes - 2) % _HISTORY] - 1.0) * 1e4,
            (mid / mids[(quotes - 11) % _HISTORY] - 1.0) * 1e4,
            (mid / mids[(quotes - 1 - _LONGEST) % _HISTORY] - 1.0) * 1e4,
            spread_bps,
            imbalance,
            math.sqrt(variance),
            flow,
        )
    state.quotes, state._mid, state._variance, state._flow = quotes, mid, variance, flow
    state._spread_bps, state._imbalance = spread_bps, imbalance
    rows = np.array(flat).reshape(len(ticks), len(FEATURE_NAMES))
    return Columns(rows, np.array(valid, dtype=bool), np.array(bids), np.array(asks))


class ColumnarDecider:
    """Decides one symbol's batch of ticks for a `DecisionStack` (see the module docstring)."""

    def __init__(self, stack: DecisionStack) -> None:
        self.stack = stack

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
        state = stack._states.get(symbol)
        if state is None:
            state = stack._states[symbol] = stack.model.features()
        rows, valid, bid, ask = features_of(state, ticks, stack._books.get(symbol))  # type: ignore[arg-type]
        stack.counters.ticks += len(ticks)
        has_book = ~np.isnan(bid)
        if has_book[-1]:
            stack._books[symbol] = Book(float(bid[-1]), float(ask[-1]))
        predictions: list[PredictionRow] = []
        for start in range(0, len(ticks), batch_max):
            end = min(start + batch_max, len(ticks))
            usable = valid[start:end] & has_book[start:end]
            values = self._predict(rows[start:end], usable)
            chunk = _Chunk(ticks[start:end], values, usable, bid[start:end], ask[start:end])
            self._decide_chunk(chunk, now_ns(), act, passed, predictions)
        return predictions

    def _predict(self, rows: np.ndarray, usable: np.ndarray) -> np.ndarray:
        """The chunk's values (nan where none), one estimator call as `DecisionStack.predict`."""
        picked = rows[usable]
        values = np.full(len(rows), np.nan)
        if not len(picked):
            return values
        model = self.stack.model
        if len(picked) == 1:
            values[usable] = model.predict_one(tuple(picked[0].tolist()))
        else:
            values[usable] = np.asarray(model.predict_many(picked.tolist()), dtype=float)
        return values

    def _decide_chunk(
        self,
        chunk: _Chunk,
        created_ns: int,
        act: Act,
        passed: Passed,
        predictions: list[PredictionRow],
    ) -> None:
        """`DecisionStack.decide` for each tick of the chunk, in order, the policy on columns."""
        stack, model = self.stack, self.stack.model
        counters = stack.counters
        finite = chunk.usable & np.isfinite(chunk.values)
        counters.warming_up += int(len(finite) - chunk.usable.sum())
        counters.non_finite_predictions += int(chunk.usable.sum() - finite.sum())
        decided = np.flatnonzero(finite)
        symbol, ticks = chunk.ticks[0].symbol, chunk.ticks
        done = 0  # ticks before this one are handed on
        at = 0  # into `decided`
        while at < len(decided):
            last_sent = stack._last_sent.get(symbol)
            rest = decided[at:]
            targets = _targets(model, chunk, rest, last_sent or 0.0)
            send = _should_send(model, targets, last_sent)
            sent = np.flatnonzero(send)
            upto = len(rest) if not len(sent) else int(sent[0]) + 1
            counters.predictions += upto
            self._rows(chunk, rest[:upto], targets[:upto], created_ns, predictions)
            at += upto
            if not len(sent):
                break
            i = int(rest[upto - 1])
            if i > done:
                passed(ticks[done:i])
            counters.targets += 1
            tick = ticks[i]
            target = Target(
                id=f"{stack._id_prefix}-{counters.targets}",
                symbol=symbol,
                target_position=float(targets[upto - 1]),
                ref_price=Book(float(chunk.bid[i]), float(chunk.ask[i])).mid,
                tick_seq=tick.seq,
                tick_ts_ns=tick.recv_ts_ns,
                created_ns=created_ns,
                ttl_ms=stack.ttl_ms,
            )
            act(tick, float(chunk.values[i]), target)
            done = i + 1
        if done < len(ticks):
            passed(ticks[done:])

    def _rows(
        self,
        chunk: _Chunk,
        at: np.ndarray,
        targets: np.ndarray,
        created_ns: int,
        predictions: list[PredictionRow],
    ) -> None:
        symbol, model_id = chunk.ticks[0].symbol, self.stack.model.model_id
        name, version = PREDICTION_HEAD
        ticks = chunk.ticks
        values = chunk.values[at].tolist()
        predictions += [
            (name, version, symbol, ticks[i].seq, ticks[i].recv_ts_ns, model_id, v, t, created_ns)
            for i, v, t in zip(at.tolist(), values, targets.tolist(), strict=True)
        ]


class _Chunk(NamedTuple):
    """Up to `batch_max` ticks decided together, with their columns."""

    ticks: Sequence[Tick]
    values: np.ndarray  # nan where not usable
    usable: np.ndarray  # a row and a book
    bid: np.ndarray  # each tick's book
    ask: np.ndarray


def supports_policy(model: LoadedModel) -> bool:
    """Whether this path computes the model's policy on columns (the built-in ones)."""
    return type(model.policy) in (Policy, CostAwarePolicy)


def _targets(model: LoadedModel, chunk: _Chunk, at: np.ndarray, position: float) -> np.ndarray:
    """`model.target_for` of the ticks `at`, all with `position`: the same doubles."""
    policy = model.policy
    signal = chunk.values[at]
    if type(policy) is CostAwarePolicy:
        bid, ask = chunk.bid[at], chunk.ask[at]
        half_spread_bps = (ask - bid) / (bid + ask) * 1e4
        threshold = 2.0 * (model.taker_fee_bps + half_spread_bps) + policy.margin_bps
        wanted = np.where(
            np.abs(signal) <= threshold, position, np.copysign(policy.max_position, signal)
        )
    else:  # Policy; Python's round: numpy's rounds some halves the other way
        limit = policy.max_position
        clipped = np.maximum(-limit, np.minimum(limit, policy.position_per_bps * signal))
        rounded = np.array([round(x, LOT) for x in clipped.tolist()])
        wanted = np.where(np.abs(signal) <= policy.deadband_bps, 0.0, rounded)
    clip = model.max_position
    if clip is not None:
        wanted = np.where(np.abs(wanted) > clip, np.copysign(clip, wanted), wanted)
    return wanted


def _should_send(model: LoadedModel, targets: np.ndarray, last_sent: float | None) -> np.ndarray:
    """`model.should_send` of each target against the same `last_sent`."""
    if last_sent is None:
        if type(model.policy) is CostAwarePolicy:
            return np.asarray(targets != 0.0, dtype=bool)
        return np.ones(len(targets), dtype=bool)
    return np.asarray(np.abs(targets - last_sent) > model.policy.min_step, dtype=bool)
