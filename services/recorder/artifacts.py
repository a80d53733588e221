"""What a run leaves behind: the events log and the `result.json` numbers. Pure.

`RunRecord` is fed every message the recorder receives (with its arrival
time on the recorder's clock) and produces `events.jsonl` lines and the
result. Latency figures: `tick_to_order` is wall clock on this one machine
(the tick's arrival here -> the order for it arriving here, through model and
executor); `order_to_fill` is the paper executor's event time (its latency
model and partial fills).
"""

from __future__ import annotations

import json
import operator
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import starmap
from pathlib import Path
from typing import Any, Final

import msgspec
import numpy as np

from common.messages import (
    Fill,
    OrderCancelled,
    OrderRejected,
    OrderSubmitted,
    Position,
    Prediction,
    RiskEvent,
    RunCounters,
    Tick,
)
from common.recent import RecentIds
from services.recorder.meanings import COUNT_MEANINGS, LATENCY_PACED, LATENCY_QUEUEING

REJECTION_REASONS: Final = ("malformed", "unauthenticated", "unexpected_source")

_RING = 1 << 16  # tick arrival times kept for latency, by seq


_json: Final = msgspec.json.Encoder()


def event_line(message: Any) -> str:
    """One `events.jsonl` line: the message's fields by name (not `v`), after its `type`."""
    return _json.encode(as_event(message)).decode()


def events_of_one_kind(messages: Sequence[Any]) -> Iterator[msgspec.Struct]:
    """`as_event` of each of messages all of one class (a batch's decisions).

    The class's shape is looked up once and every struct is built inside
    `starmap`, not by a Python call per message: about half the cost per line
    (a linear model's replay writes a decision line for every other tick).
    """
    shape, values = _shape_of(type(messages[0]))
    return starmap(shape, map(values, messages))


def encode_events(events: Sequence[msgspec.Struct]) -> bytes:
    """The `events.jsonl` lines of `as_event` structs, in one encoder call (a call costs
    about as much as a short line: many lines at once, not one by one)."""
    return _json.encode_lines(events)


def as_event(message: Any) -> msgspec.Struct:
    """What `events.jsonl` writes of a message, as a struct for the JSON encoder."""
    # msgspec's JSON encoder, not `json.dumps`: a fast replay writes tens of
    # thousands of lines a second. A plain struct per message class (its fields
    # bar `v`, tagged `type` = the class name, which msgspec writes first) gives
    # the bytes `{"type": name, **asdict(message) - v}` gave, at about half the
    # cost of building that dict (tests/recorder/test_batched_dispatch.py compares them).
    shape, values = _shape_of(type(message))
    return shape(*values(message))


_EventShape = tuple[type[msgspec.Struct], Callable[[Any], tuple[Any, ...]]]
_EVENT_SHAPES: Final[dict[type, _EventShape]] = {}


def _shape_of(kind: type) -> _EventShape:
    shape = _EVENT_SHAPES.get(kind)
    if shape is None:
        shape = _EVENT_SHAPES[kind] = _event_shape(kind)
    return shape


def _event_shape(kind: type) -> _EventShape:
    names = [f.name for f in msgspec.structs.fields(kind) if f.name != "v"]
    shape = msgspec.defstruct(
        kind.__name__, [(name, Any) for name in names], tag_field="type", tag=kind.__name__
    )
    getter = operator.attrgetter(*names)  # a tuple of the values, if more than one
    return shape, getter if len(names) > 1 else (lambda message: (getter(message),))


class RunRecord:
    def __init__(self) -> None:
        self.ticks = 0
        self.predictions = 0
        self.model_id: str | None = None
        self.orders = 0
        self.fills = 0
        self.targets = 0  # distinct targets the executor ordered or refused
        self._recent_targets = RecentIds(4_096)  # an order and its remainder's rejection
        self.rejections: Counter[str] = Counter()
        self.cancels: Counter[str] = Counter()  # by reason
        self.fills_by_liquidity: Counter[str] = Counter({"maker": 0, "taker": 0})
        self.positions: dict[str, Position] = {}
        self.per_symbol: dict[str, SymbolTally] = {}
        self.risk_events: list[RiskEvent] = []
        self.counters: dict[str, dict[str, int]] = {}
        self.rejected: dict[str, int] = {}  # the recorder's own refused input, by reason
        self._peak_equity = 0.0
        self.max_drawdown = 0.0
        # Lists, not numpy arrays: written for every tick, and a numpy element
        # write costs several times a list's.
        self._tick_seq = [-1] * _RING
        self._tick_arrival = [0] * _RING
        self._order_ts: dict[str, int] = {}
        self.tick_to_order_ns: list[int] = []
        self.order_to_fill_ns: list[int] = []
        self._last_decision: dict[str, float] = {}
        self.first_tick_ns: int | None = None  # arrival here, for the run's throughput
        self.last_eos_ns: int | None = None
        self._event_counts: dict[type, Callable[[Any, SymbolTally | None, int | None], None]] = {
            OrderSubmitted: self._on_order,
            OrderRejected: self._on_rejection,
            OrderCancelled: self._on_cancel,
            Fill: self._on_fill,
            Position: self._on_position,
            RiskEvent: self._on_risk_event,
            RunCounters: self._on_counters,
        }

    def on_tick(self, tick: Tick, arrival_ns: int) -> None:
        if self.first_tick_ns is None:
            self.first_tick_ns = arrival_ns
        self.ticks += 1
        slot = tick.seq % _RING
        self._tick_seq[slot], self._tick_arrival[slot] = tick.seq, arrival_ns

    def on_ticks(self, ticks: Sequence[Tick], arrival_ns: int) -> None:
        """`on_tick` for each of a batch's ticks, in one loop (a batched replay's hot path)."""
        if self.first_tick_ns is None:
            self.first_tick_ns = arrival_ns
        self.ticks += len(ticks)
        seqs, arrivals = self._tick_seq, self._tick_arrival
        for tick in ticks:
            seq = tick.seq
            slot = seq % _RING
            seqs[slot], arrivals[slot] = seq, arrival_ns

    def on_eos(self, arrival_ns: int) -> None:
        self.last_eos_ns = arrival_ns

    def throughput(self) -> dict[str, float | None]:
        """Ticks/s from the first tick's arrival to the last stage's eos (every stage done)."""
        if self.first_tick_ns is None or self.last_eos_ns is None:
            return {"wall_s": None, "ticks_per_s": None}
        wall_s = max(self.last_eos_ns - self.first_tick_ns, 1) / 1e9
        return {"wall_s": round(wall_s, 3), "ticks_per_s": round(self.ticks / wall_s, 1)}

    def on_prediction(self, prediction: Prediction) -> bool:
        """Count it; True when it is a decision (the wanted position changed)."""
        self.predictions += 1
        self.model_id = prediction.model_id
        changed = self._last_decision.get(prediction.symbol) != prediction.target_position
        self._last_decision[prediction.symbol] = prediction.target_position
        return changed

    def decisions(self, symbol: str, predictions: Sequence[Prediction]) -> list[Prediction]:
        """`on_prediction` for each of a batch's predictions (all of `symbol`), in one loop;
        the decisions among them, in order."""
        self.predictions += len(predictions)
        self.model_id = predictions[-1].model_id
        last = self._last_decision.get(symbol)
        decisions = []
        for prediction in predictions:
            target = prediction.target_position
            if target != last:
                decisions.append(prediction)
            last = target
        self._last_decision[symbol] = predictions[-1].target_position  # a batch is never empty
        return decisions

    def on_event(self, event: Any, arrival_ns: int | None) -> None:
        """Count an execution event (any other message: its symbol's tally only).

        `arrival_ns` None: recovered from the journal, it never arrived (no latency).
        """
        symbol = getattr(event, "symbol", None)
        tally = None
        if symbol is not None:  # every event naming a symbol gets its tally, even a cancel
            tally = self.per_symbol.get(symbol)
            if tally is None:
                tally = self.per_symbol[symbol] = SymbolTally()
        # One dict lookup by exact class (messages are final), not an isinstance chain:
        # a chatty model's run sends thousands of rejections, each the 2nd test of 7.
        count = self._event_counts.get(type(event))
        if count is not None:
            count(event, tally, arrival_ns)

    def _on_order(
        self, event: OrderSubmitted, tally: SymbolTally | None, arrival_ns: int | None
    ) -> None:
        self.orders += 1
        if tally is not None:
            tally.orders += 1
        self.targets += self._recent_targets.add(event.target_id)
        self._order_ts[event.order_id] = event.ts_ns
        slot = event.tick_seq % _RING
        if arrival_ns is not None and self._tick_seq[slot] == event.tick_seq:
            self.tick_to_order_ns.append(arrival_ns - self._tick_arrival[slot])

    def _on_rejection(self, event: OrderRejected, tally: SymbolTally | None, _: int | None) -> None:
        self.targets += self._recent_targets.add(event.target_id)
        reason = str(event.reason)
        self.rejections[reason] += 1
        if tally is not None:
            tally.rejections[reason] += 1

    def _on_cancel(self, event: OrderCancelled, _tally: SymbolTally | None, _: int | None) -> None:
        self.cancels[str(event.reason)] += 1

    def _on_fill(self, event: Fill, tally: SymbolTally | None, _: int | None) -> None:
        self.fills += 1
        self.fills_by_liquidity[str(event.liquidity)] += 1
        if tally is not None:
            tally.fills += 1
        submitted = self._order_ts.get(event.order_id)
        if submitted is not None:
            self.order_to_fill_ns.append(event.ts_ns - submitted)

    def _on_position(self, event: Position, tally: SymbolTally | None, _: int | None) -> None:
        self.positions[event.symbol] = event
        if tally is not None:
            tally.max_abs_position = max(tally.max_abs_position, abs(event.qty))
        equity = sum(p.equity for p in self.positions.values())
        self._peak_equity = max(self._peak_equity, equity)
        self.max_drawdown = max(self.max_drawdown, self._peak_equity - equity)

    def _on_risk_event(self, event: RiskEvent, _tally: SymbolTally | None, _: int | None) -> None:
        self.risk_events.append(event)

    def _on_counters(self, event: RunCounters, _tally: SymbolTally | None, _: int | None) -> None:
        self.counters[event.source] = dict(event.counters)

    def result(self, **run: Any) -> dict[str, Any]:
        positions = self.positions.values()
        realized = sum(p.realized_pnl for p in positions)
        unrealized = sum(p.unrealized_pnl for p in positions)
        fees = sum(p.fees for p in positions)
        # Every model process's counters (only a model counts dropped targets),
        # summed: a split deployment runs several, each under its own `--name`.
        models = [c for c in self.counters.values() if "dropped_targets" in c]
        trips = [e for e in self.risk_events if e.kind == "circuit_breaker_tripped"]
        return {
            **run,
            "model_id": self.model_id,
            "counts": {
                "ticks": self.ticks,
                # Per stage: a lossless replay has the same number everywhere.
                "ticks_seen": {
                    source: counters["ticks"]
                    for source, counters in sorted(self.counters.items())
                    if "ticks" in counters
                },
                "predictions": self.predictions,
                "targets": self.targets,
                "targets_sent_by_model": _total(models, "targets"),
                "targets_already_met": self.counters.get("executor", {}).get("targets_met"),
                "orders": self.orders,
                "fills": self.fills,
                "rejections": dict(sorted(self.rejections.items())),
                "cancels": dict(sorted(self.cancels.items())),
                "fills_by_liquidity": dict(self.fills_by_liquidity),
                "dropped_targets": _total(models, "dropped_targets"),
                "malformed_messages": {
                    source: counters.get("malformed", 0)
                    for source, counters in self.counters.items()
                }
                | {"recorder": self.rejected.get("malformed", 0)},
                # Input refused by reason, per service: malformed, from a peer
                # that failed authentication, or from a source that may not send it.
                "rejected_input": {
                    source: {
                        reason: counters[reason]
                        for reason in REJECTION_REASONS
                        if counters.get(reason)
                    }
                    for source, counters in sorted(self.counters.items())
                }
                | {"recorder": self.rejected},
            },
            "pnl": {
                "realized": realized,
                "unrealized": unrealized,
                "fees": fees,
                "total": realized + unrealized - fees,
            },
            "count_meanings": COUNT_MEANINGS,
            "max_drawdown": self.max_drawdown,
            "positions": {
                p.symbol: {
                    "qty": p.qty,
                    "avg_price": p.avg_price,
                    "realized_pnl": p.realized_pnl,
                    "unrealized_pnl": p.unrealized_pnl,
                    "fees": p.fees,
                    "equity": p.equity,
                }
                for p in positions
            },
            # Per symbol: what was ordered, filled and refused, and the largest
            # position held (its limits are under risk_limits).
            "per_symbol": {
                symbol: {
                    "orders": tally.orders,
                    "fills": tally.fills,
                    "rejections": dict(sorted(tally.rejections.items())),
                    "max_abs_position": tally.max_abs_position,
                }
                for symbol, tally in sorted(self.per_symbol.items())
            },
            "circuit_breaker": {
                "tripped": bool(trips),
                "activations": len(trips),
                "events": [msgspec.to_builtins(msgspec.structs.asdict(e)) for e in trips],
            },
            "throughput": self.throughput(),
            "latency_us": {
                "measures": LATENCY_QUEUEING if self._full_speed_replay() else LATENCY_PACED,
                "tick_to_order": _percentiles(self.tick_to_order_ns),
                "order_to_fill": _percentiles(self.order_to_fill_ns),
            },
        }

    def _full_speed_replay(self) -> bool:
        return bool(self.counters.get("feed", {}).get("full_speed_replay"))


@dataclass
class SymbolTally:
    orders: int = 0
    fills: int = 0
    rejections: Counter[str] = field(default_factory=Counter)
    max_abs_position: float = 0.0


def _total(counters: list[dict[str, int]], key: str) -> int | None:
    """`key` summed over `counters`; None when no such source reported (e.g. the model died)."""
    return sum(c.get(key, 0) for c in counters) if counters else None


def _percentiles(samples_ns: list[int]) -> dict[str, float | int | None]:
    if not samples_ns:
        return {"p50": None, "p99": None, "max": None, "samples": 0}
    values = np.asarray(samples_ns, dtype=np.float64) / 1e3
    return {
        "p50": round(float(np.percentile(values, 50)), 1),
        "p99": round(float(np.percentile(values, 99)), 1),
        "max": round(float(values.max()), 1),
        "samples": len(samples_ns),
    }


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    """Write to a temporary file, fsync, rename: a reader sees the old file or the whole new one."""
    partial = path.with_name(path.name + ".partial")
    try:
        with open(partial, "w") as f:
            json.dump(data, f, indent=2, default=str)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)  # a full disk keeps no half file, and gets its space back
        raise
