"""The model stage without sockets: queueing, batches, dropped targets, watermarks, the end."""

from __future__ import annotations

import copy
import dataclasses
import itertools
from pathlib import Path

import msgspec
import numpy as np
import pytest

from common import wire
from common.messages import (
    BATCH_MAX,
    Eos,
    Prediction,
    PredictionBatch,
    RunCounters,
    Target,
    TargetBatch,
    Tick,
    TickBatch,
    Watermark,
)
from common.tickfile import TickFileReader
from services.model.checkpoint import LoadedModel, load_checkpoint
from services.model.columnar import ColumnarDecider, PredictionRow
from services.model.decision import DecisionStack
from services.model.features import FeatureState
from services.model.fused import FusedDecider
from services.model.policy import CostAwarePolicy, Policy
from services.model.service_config import DEFAULT_POLICY
from services.model.stage import WATERMARK_EVERY, ModelStage
from tests.conftest import BUNDLED

NOW_NS = 123
# The batch paths: each must decide as tick by tick (`fused` for our ridge, else `columnar`).
DECIDERS = [FusedDecider, ColumnarDecider]
Decider = type[FusedDecider] | type[ColumnarDecider]


class RecordedOutput:
    """A `StageOutput` that keeps everything in lists; `present` is whether an executor takes."""

    def __init__(self, *, present: bool = True) -> None:
        self.present = present
        self.published: list[Prediction | RunCounters | Eos] = []  # single messages
        self.sent: list[Prediction] = []  # every prediction, alone or in a batch, in order
        self.batches: list[tuple[str, list[Prediction]]] = []
        self.pushed: list[Target | TargetBatch | Watermark | Eos] = []  # as they went out
        self.handled_seqs: list[int] = []
        self.payloads: list[bytes] = []  # the batches' bytes, from the columnar path

    def publish(self, message: Prediction | RunCounters | Eos) -> None:
        self.published.append(message)
        if isinstance(message, Prediction):
            self.sent.append(message)

    def publish_batch(self, symbol: str, predictions: list[Prediction]) -> None:
        self.batches.append((symbol, list(predictions)))
        self.sent += predictions

    def publish_rows(self, symbol: str, rows: list[PredictionRow]) -> None:
        if not rows:  # nothing goes out; kept as `publish_batch` keeps it
            self.batches.append((symbol, []))
        # Through the codec: the rows' bytes must decode to the very predictions.
        for payload in wire.encode_item_batches(PredictionBatch, symbol, rows):
            batch = wire.decode(payload)
            assert isinstance(batch, PredictionBatch)
            self.batches.append((symbol, list(batch.predictions)))
            self.sent += batch.predictions
            self.payloads.append(payload)

    def publish_row(self, symbol: str, row: PredictionRow) -> None:
        # Through the codec: the row's bytes must be the very prediction's.
        payload = wire.encode_item(row)
        prediction = wire.decode(payload)
        assert isinstance(prediction, Prediction) and prediction.symbol == symbol
        assert wire.encode(prediction) == payload
        self.publish(prediction)

    def push(self, message: Target | TargetBatch | Watermark | Eos) -> bool:
        if isinstance(message, TargetBatch):  # through the codec: the batch must be valid
            assert wire.decode(wire.encode(message)) == message
        self.pushed.append(message)
        return self.present

    def handled(self, tick_seq: int) -> None:
        self.handled_seqs.append(tick_seq)

    def predictions(self) -> list[Prediction]:
        """Every prediction in the order it went out, alone or in a batch."""
        return self.sent

    def targets(self) -> list[Target]:
        """Every target pushed, alone or in a batch, in order."""
        targets: list[Target] = []
        for message in self.pushed:
            if isinstance(message, Target):
                targets.append(message)
            elif isinstance(message, TargetBatch):
                targets += message.targets
        return targets

    def watermarks(self) -> list[Watermark]:
        return [m for m in self.pushed if isinstance(m, Watermark)]


def assert_no_tick_passed_before_its_target(pushed: list[object]) -> None:
    """No watermark (nor a batch's `through`) says a tick is done before that tick's target
    went out: an executor following the model would apply later ticks before acting on it."""
    done = -1  # the executor's watermark: every tick up to it is decided
    for message in pushed:
        targets = message.targets if isinstance(message, TargetBatch) else [message]
        for target in targets:
            if isinstance(target, Target):
                assert target.tick_seq > done
                done = target.tick_seq
        if isinstance(message, TargetBatch):
            assert message.through >= done
            done = message.through
        elif isinstance(message, Watermark):
            done = max(done, message.tick_seq)


@pytest.fixture(scope="module")
def model(trained_checkpoint: Path) -> LoadedModel:
    return load_checkpoint(trained_checkpoint, None, DEFAULT_POLICY)


@pytest.fixture(scope="module")
def ticks() -> list[Tick]:
    """The recording's first ticks: past the features' warm-up, with decisions in them."""
    with TickFileReader(BUNDLED) as reader:
        return list(itertools.islice(reader, 3000))


def _stage(
    model: LoadedModel,
    output: RecordedOutput,
    *,
    batch_max: int = 8,
    lossless: bool = False,
    name: str = "model",
    columnar: bool = True,
    decider: Decider | None = None,
) -> ModelStage:
    """`decider`: this batch path in place of the stage's own choice."""
    stack = DecisionStack(model, ttl_ms=5000, id_prefix="t")
    stage = ModelStage(
        stack,
        output,
        lambda: NOW_NS,
        name=name,
        batch_max=batch_max,
        lossless=lossless,
        columnar=columnar,
    )
    if decider is not None:
        stage._columnar = decider(stack)
    return stage


def _batches(ticks: list[Tick], size: int) -> list[TickBatch]:
    return [
        TickBatch(symbol=ticks[0].symbol, ticks=ticks[start : start + size])
        for start in range(0, len(ticks), size)
    ]


def test_single_ticks_queue_until_batch_max_then_go_out_in_order(
    model: LoadedModel, ticks: list[Tick]
) -> None:
    """Ticks wait for `batch_max`, go out in tick order, and `flush` decides the rest."""
    output = RecordedOutput()
    stage = _stage(model, output, batch_max=4)
    warm, rest = ticks[:200], ticks[200:206]
    for tick in warm:
        stage.on_tick(tick)
    stage.flush()
    decided = len(output.handled_seqs)
    published = len(output.predictions())
    # Flow control hears once per decided queue: every tick up to the last one.
    assert output.handled_seqs[-1] == warm[-1].seq

    for tick in rest[:3]:
        stage.on_tick(tick)
    assert len(output.handled_seqs) == decided  # queued, not decided yet
    assert len(output.predictions()) == published

    stage.on_tick(rest[3])
    assert output.handled_seqs[decided:] == [rest[3].seq]
    assert [p.tick_seq for p in output.predictions()[published:]] == [t.seq for t in rest[:4]]

    stage.on_tick(rest[4])
    stage.on_tick(rest[5])
    assert len(output.predictions()) == published + 4
    stage.flush()
    assert [p.tick_seq for p in output.predictions()[published:]] == [t.seq for t in rest]
    assert output.handled_seqs[-1] == rest[-1].seq
    assert output.handled_seqs == sorted(set(output.handled_seqs))


@pytest.mark.parametrize(
    ("decider", "size"),
    [(None, 256), *((decider, size) for decider in DECIDERS for size in (256, 37))],
)
def test_tick_batch_gives_the_same_decisions_as_single_ticks_via_publish_batch(
    model: LoadedModel, ticks: list[Tick], decider: Decider | None, size: int
) -> None:
    """A TickBatch yields the very predictions, targets and order of its ticks sent one by one,
    decided tick by tick, fused or as columns."""
    columnar = decider is not None
    single = RecordedOutput()
    one_by_one = _stage(model, single, batch_max=8, columnar=False)
    for tick in ticks:
        one_by_one.on_tick(tick)
    one_by_one.flush()

    batched = RecordedOutput()
    # Each batch is decided in chunks of 8: one estimator call each.
    stage = _stage(model, batched, batch_max=8, columnar=columnar, decider=decider)
    batches = _batches(ticks, size)
    for batch in batches:
        stage.on_batch(batch)

    assert batched.published == []  # predictions went out as batches only
    assert len(batched.batches) == len(batches)
    assert {symbol for symbol, _ in batched.batches} == {ticks[0].symbol}
    from_batches = [p for _, predictions in batched.batches for p in predictions]
    assert len(from_batches) > 1000  # past warm-up: real predictions
    assert from_batches == single.predictions()
    assert batched.targets() == single.targets()
    assert_no_tick_passed_before_its_target(batched.pushed)
    assert len(batched.targets()) > 10  # decisions were really made
    # Flow control hears once per decided queue or batch, after its targets went out.
    assert single.handled_seqs == [t.seq for t in ticks[7::8]]
    assert batched.handled_seqs == [batch.ticks[-1].seq for batch in batches]
    if columnar:
        assert batched.payloads == [
            wire.encode_batches(PredictionBatch, symbol, [wire.encode(p) for p in predictions])[0]
            for symbol, predictions in batched.batches
            if predictions
        ]
    assert stage.stack.counters == one_by_one.stack.counters


def test_tick_batch_after_queued_single_ticks_decides_the_queued_ones_first(
    model: LoadedModel, ticks: list[Tick]
) -> None:
    """Single ticks still queued are decided before a TickBatch that arrives after them."""
    output = RecordedOutput()
    stage = _stage(model, output, batch_max=8)
    for tick in ticks[:203]:  # 3 left in the queue
        stage.on_tick(tick)
    stage.on_batch(TickBatch(symbol=ticks[0].symbol, ticks=ticks[203:210]))

    assert output.handled_seqs[-2:] == [ticks[202].seq, ticks[209].seq]
    # The queued three's predictions went out before the batch's.
    assert [p.tick_seq for p in output.predictions()][-10:] == [t.seq for t in ticks[200:210]]
    assert [p.tick_seq for p in output.batches[-1][1]] == [t.seq for t in ticks[203:210]]


def test_target_nobody_takes_is_counted_as_dropped_and_offered_again(
    model: LoadedModel, ticks: list[Tick]
) -> None:
    """A refused target counts in `dropped_targets`, is not marked sent, and decisions go on."""
    present = RecordedOutput(present=True)
    taken = _stage(model, present, batch_max=1)
    for tick in ticks[:400]:
        taken.on_tick(tick)
    assert taken.dropped_targets == 0

    absent = RecordedOutput(present=False)
    stage = _stage(model, absent, batch_max=1)
    for tick in ticks[:400]:
        stage.on_tick(tick)
    refused = absent.targets()
    assert refused
    assert stage.dropped_targets == len(refused)
    # Never marked sent: every prediction wants the position again, not only real moves.
    assert [t.tick_seq for t in refused] == [p.tick_seq for p in absent.predictions()]
    assert len(refused) > len(present.targets())

    absent.present = True  # the executor arrives: the next target is taken
    stage.on_tick(ticks[400])
    stage.on_tick(ticks[401])
    assert absent.targets()[len(refused)].tick_seq == ticks[400].seq
    assert stage.dropped_targets == len(refused)


@pytest.mark.parametrize("lossless", [True, False])
def test_watermark_every_n_ticks_without_target_only_when_lossless(
    model: LoadedModel, ticks: list[Tick], lossless: bool
) -> None:
    """Lossless: a Watermark every WATERMARK_EVERY ticks that made no target; otherwise none
    (ticks decided alone: a step of several folds them, see the TargetBatch tests)."""
    output = RecordedOutput()
    stage = _stage(model, output, batch_max=1, lossless=lossless)
    for tick in ticks:
        stage.on_tick(tick)
    stage.flush()

    with_target = {t.tick_seq for t in output.targets()}
    expected = [t.seq for t in ticks if t.seq % WATERMARK_EVERY == 0 and t.seq not in with_target]
    assert expected  # the recording has such ticks
    assert with_target & {t.seq for t in ticks if t.seq % WATERMARK_EVERY == 0}
    if lossless:
        assert [w.tick_seq for w in output.watermarks()] == expected
        assert {w.source for w in output.watermarks()} == {"model"}
        # In tick order among the targets: each comes after the targets of earlier ticks.
        order = [m.tick_seq for m in output.pushed if isinstance(m, Target | Watermark)]
        assert len(order) == len(output.pushed)
        assert order == sorted(order)
    else:
        assert output.watermarks() == []


def test_finish_flushes_the_queue_then_sends_counters_and_eos(
    model: LoadedModel, ticks: list[Tick]
) -> None:
    """The end decides queued ticks, then publishes RunCounters and Eos, and pushes Eos,
    both named after the model process (one of a split deployment's several)."""
    output = RecordedOutput(present=False)
    stage = _stage(model, output, batch_max=8, name="model-a")
    fed = ticks[:203]  # 3 left in the queue
    for tick in fed:
        stage.on_tick(tick)
    assert output.handled_seqs[-1] == fed[199].seq

    counters = stage.finish({"malformed": 5, "unauthenticated": 1})

    assert output.handled_seqs[-1] == fed[-1].seq
    *predictions, run_counters, eos = output.published
    assert all(isinstance(p, Prediction) for p in predictions)
    assert [p.tick_seq for p in output.predictions()][-3:] == [t.seq for t in fed[-3:]]
    assert isinstance(run_counters, RunCounters)
    assert run_counters.source == "model-a"
    assert run_counters.counters == counters
    assert counters["malformed"] == 5 and counters["unauthenticated"] == 1
    assert counters["dropped_targets"] == stage.dropped_targets == len(output.targets()) > 0
    assert counters["ticks"] == len(fed)
    assert eos == Eos(source="model-a", last_seq=fed[-1].seq, ts_ns=NOW_NS)
    assert stage.last_seq == fed[-1].seq
    assert output.pushed[-1] == eos
    assert sum(isinstance(m, Eos) for m in output.pushed) == 1


@pytest.mark.parametrize("decider", DECIDERS)
@pytest.mark.parametrize("clip", [None, 0.004])
def test_cost_aware_policy_on_columns_decides_as_tick_by_tick(
    model: LoadedModel, ticks: list[Tick], clip: float | None, decider: Decider
) -> None:
    """The cost-aware policy (no fee, so it trades), clipped or not: the same targets either way."""
    trading = dataclasses.replace(
        model,
        policy=CostAwarePolicy(max_position=0.01, margin_bps=0.05, min_step=0.001),
        taker_fee_bps=0.0,
        max_position=clip,
    )
    single = RecordedOutput()
    one_by_one = _stage(trading, single, batch_max=8, lossless=True, columnar=False)
    for tick in ticks:
        one_by_one.on_tick(tick)
    one_by_one.flush()
    batched = RecordedOutput()
    stage = _stage(trading, batched, batch_max=8, lossless=True, decider=decider)
    for batch in _batches(ticks, 64):
        stage.on_batch(batch)

    assert type(stage._columnar) is decider
    assert batched.targets() == single.targets()
    assert_no_tick_passed_before_its_target(batched.pushed)
    assert len(batched.targets()) > 10
    assert [p for _, ps in batched.batches for p in ps] == single.predictions()
    assert stage.stack.counters == one_by_one.stack.counters


class _NonFiniteWhere:
    """The ridge's predictions, but nan or inf where a feature says so: decided per row."""

    def __init__(self, estimator: object) -> None:
        self.estimator = estimator

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        values = np.asarray(self.estimator.predict(matrix), dtype=float)  # type: ignore[attr-defined]
        imbalance = matrix[:, 4]
        return np.where(imbalance > 0.6, np.nan, np.where(imbalance < -0.6, -np.inf, values))


_FUSED_VARIANTS = ["linear_clipped", "linear_every_step", "cost_aware_from_flat"]


def _variants(model: LoadedModel) -> dict[str, LoadedModel]:
    """Models that take each branch the columnar walk has, against the per-tick decisions."""
    return {
        # Clipped below the policy's own limit: `LoadedModel.target_for`'s clip.
        "linear_clipped": dataclasses.replace(model, max_position=0.003),
        # Any move is sent (min_step 0), no deadband: signals at their smallest.
        "linear_every_step": dataclasses.replace(
            model,
            policy=Policy(position_per_bps=0.0007, deadband_bps=0.0, max_position=0.02, min_step=0),
        ),
        "non_finite": dataclasses.replace(model, estimator=_NonFiniteWhere(model.estimator)),
        # Holds flat before the first target: flat is not sent while nothing was.
        "cost_aware_from_flat": dataclasses.replace(
            model,
            policy=CostAwarePolicy(max_position=0.01, margin_bps=0.3, min_step=0.0),
            taker_fee_bps=0.0,
        ),
    }


@pytest.mark.parametrize("present", [True, False])
@pytest.mark.parametrize(
    ("variant", "decider"),
    [
        *((variant, decider) for variant in _FUSED_VARIANTS for decider in DECIDERS),
        ("non_finite", ColumnarDecider),  # not our ridge's values: never fused
    ],
)
def test_columnar_walk_decides_every_branch_as_tick_by_tick(
    model: LoadedModel, ticks: list[Tick], variant: str, decider: Decider, present: bool
) -> None:
    """Each branch of the columnar walk (clip, no deadband, non-finite values, holding flat),
    with an executor or with none (each batch's targets dropped, `last_sent` put back): the
    predictions' doubles, targets and counters of the per-tick path. With no executor, the
    per-tick decisions of the same batches: within a step, a held target counts as sent."""
    chosen = _variants(model)[variant]
    single = RecordedOutput(present=present)
    # The stack's own `decide`, tick by tick.
    one_by_one = _stage(
        chosen, single, batch_max=1 if present else 16, lossless=True, columnar=False
    )
    if present:
        for tick in ticks:
            one_by_one.on_tick(tick)
    else:
        for batch in _batches(ticks, 64):
            one_by_one.on_batch(batch)

    batched = RecordedOutput(present=present)
    stage = _stage(chosen, batched, batch_max=16, lossless=True)
    own_choice = ColumnarDecider if variant == "non_finite" else FusedDecider
    assert type(stage._columnar) is own_choice
    stage._columnar = decider(stage.stack)
    for batch in _batches(ticks, 64):  # 4 chunks each, the first ones still warming up
        stage.on_batch(batch)

    assert [p for _, ps in batched.batches for p in ps] == single.predictions()
    assert batched.targets() == single.targets()
    assert_no_tick_passed_before_its_target(batched.pushed)
    assert len(batched.targets()) > 5
    assert stage.stack.counters == one_by_one.stack.counters
    assert stage.dropped_targets == one_by_one.dropped_targets
    assert stage.dropped_targets == (0 if present else len(batched.targets()))
    assert stage.stack.last_sent == one_by_one.stack.last_sent
    assert stage.stack.books == one_by_one.stack.books
    [state], [reference] = stage.stack.states.values(), one_by_one.stack.states.values()
    for slot in FeatureState.__slots__:  # the features go on from where tick by tick would
        assert getattr(state, slot) == getattr(reference, slot)
    if variant == "non_finite":
        assert stage.stack.counters.non_finite_predictions > 100


def _overflowing(model: LoadedModel) -> LoadedModel:
    """Our ridge with weights so large that its values overflow to inf (and inf - inf: nan)."""
    estimator = copy.copy(model.estimator)
    estimator.weights_ = np.array([1e308, -1e308] * 3 + [1e308])
    estimator.__dict__.pop("_row_weights", None)
    return dataclasses.replace(model, estimator=estimator)


@pytest.mark.parametrize("present", [True, False])
@pytest.mark.parametrize("variant", [*_FUSED_VARIANTS, "overflowing"])
def test_a_tick_decided_alone_by_the_fused_step_decides_as_the_stack(
    model: LoadedModel, ticks: list[Tick], variant: str, present: bool
) -> None:
    """Ticks decided one at a time (paced or live) with our ridge go `FusedDecider.decide_one`:
    each `Prediction` (its bytes: `RecordedOutput.publish_row`), target, watermark and
    counter of the stack's own path, with an executor or with none (every target dropped)."""
    chosen = _overflowing(model) if variant == "overflowing" else _variants(model)[variant]
    outputs, stages = [], []
    for columnar in (False, True):
        output = RecordedOutput(present=present)
        stage = _stage(chosen, output, batch_max=1, lossless=True, columnar=columnar)
        for tick in ticks:
            stage.on_tick(tick)
        outputs.append(output)
        stages.append(stage)
    (reference, output), (per_tick, stage) = outputs, stages

    assert type(stage._columnar) is FusedDecider
    assert output.published == reference.published  # each a `Prediction`, as the stack's
    assert output.pushed == reference.pushed
    assert output.handled_seqs == reference.handled_seqs == [tick.seq for tick in ticks]
    assert stage.stack.counters == per_tick.stack.counters
    assert stage.dropped_targets == per_tick.dropped_targets
    assert stage.stack.last_sent == per_tick.stack.last_sent
    assert stage.stack.books == per_tick.stack.books
    if variant == "overflowing":
        assert stage.stack.counters.non_finite_predictions > 100
    else:
        assert len(output.targets()) > 5
        assert stage.dropped_targets == (0 if present else len(output.targets()))


def test_a_tick_decided_alone_after_queued_ones_comes_after_them(
    model: LoadedModel, ticks: list[Tick]
) -> None:
    """`decide_alone` is `on_tick` then `flush`: alone when nothing is queued, else after
    the queued ticks (their predictions first, in order)."""
    outputs = []
    for alone in (False, True):
        output = RecordedOutput()
        stage = _stage(model, output, batch_max=16, lossless=True)
        for i, tick in enumerate(ticks[:900]):
            if alone and i % 5 in (0, 4):  # after a flush, or after three queued ticks
                stage.decide_alone(tick)
            else:
                stage.on_tick(tick)
                if i % 5 == 4:
                    stage.flush()
        stage.flush()
        outputs.append(output)
    reference, output = outputs
    assert output.predictions() == reference.predictions()
    assert output.targets() == reference.targets()
    assert [p.tick_seq for p in output.predictions()] == sorted(
        p.tick_seq for p in output.predictions()
    )


@pytest.mark.parametrize("decider", DECIDERS)
@pytest.mark.parametrize("present", [True, False])
@pytest.mark.parametrize("run", [7, 1])
def test_queued_single_ticks_as_columns_decide_and_publish_as_tick_by_tick(
    model: LoadedModel, ticks: list[Tick], present: bool, run: int, decider: Decider
) -> None:
    """Queued single ticks of two symbols in runs of uneven length (14 and 7 ticks: columns
    and tick by tick; or alternating every tick): each `Prediction` (its bytes), target,
    watermark and counter of the per-tick path, in order."""
    mixed = [
        msgspec.structs.replace(tick, symbol="ETH/USD") if (i // run) % 3 == 2 else tick
        for i, tick in enumerate(ticks)
    ]
    reference = RecordedOutput(present=present)
    per_tick = _stage(model, reference, batch_max=16, lossless=True, columnar=False)
    output = RecordedOutput(present=present)
    stage = _stage(model, output, batch_max=16, lossless=True, decider=decider)
    for stage_, sink in ((per_tick, reference), (stage, output)):
        for i, tick in enumerate(mixed):
            stage_.on_tick(tick)
            if i % 41 == 0:  # the socket ran dry: a short queue, or a tick alone
                stage_.flush()
        stage_.flush()
        assert sink.handled_seqs[-1] == mixed[-1].seq

    assert type(stage._columnar) is decider
    assert output.predictions() == reference.predictions()
    assert {p.symbol for p in output.predictions()} == {ticks[0].symbol, "ETH/USD"}
    assert output.pushed == reference.pushed
    assert len(output.targets()) > 10
    assert stage.stack.counters == per_tick.stack.counters
    assert stage.dropped_targets == per_tick.dropped_targets
    assert stage.last_seq == per_tick.last_seq


@pytest.mark.parametrize("columnar", [True, False])
def test_a_step_deciding_several_ticks_pushes_one_message_at_its_end(
    model: LoadedModel, ticks: list[Tick], columnar: bool
) -> None:
    """Each batch's targets and watermarks leave as one message: none when it has neither,
    its last watermark alone, its one target as a `Target`, else one `TargetBatch` done
    through the batch's last tick."""
    output = RecordedOutput()
    stage = _stage(model, output, batch_max=16, lossless=True, columnar=columnar)
    reference = RecordedOutput()
    per_tick = _stage(model, reference, batch_max=1, lossless=True)
    for tick in ticks:
        per_tick.on_tick(tick)
    kinds = set()
    for batch in _batches(ticks, 20):
        before = len(output.pushed)
        stage.on_batch(batch)
        seqs = range(batch.ticks[0].seq, batch.ticks[-1].seq + 1)
        targets = [t for t in reference.targets() if t.tick_seq in seqs]
        marks = [w.tick_seq for w in reference.watermarks() if w.tick_seq in seqs]
        pushed = output.pushed[before:]
        if not targets and not marks:
            assert pushed == []
        elif not targets:
            assert pushed == [Watermark(source="model", tick_seq=marks[-1])]
        elif len(targets) == 1 and not [m for m in marks if m > targets[0].tick_seq]:
            assert pushed == targets
        else:
            through = batch.ticks[-1].seq
            assert pushed == [TargetBatch(source="model", targets=targets, through=through)]
        kinds.add(type(pushed[0]) if pushed else None)
    assert kinds == {None, Watermark, Target, TargetBatch}  # the ticks reach every case
    assert output.targets() == reference.targets()
    assert all(isinstance(m, Target | Watermark) for m in reference.pushed)  # alone: unchanged


@pytest.mark.parametrize("columnar", [True, False])
def test_a_refused_step_counts_each_target_dropped_and_puts_last_sent_back(
    model: LoadedModel, ticks: list[Tick], columnar: bool
) -> None:
    """No executor takes the step's message: every target in it counts as dropped, and
    `last_sent` is again what the executor has, so the next step offers the position again."""
    trading = _variants(model)["linear_every_step"]
    output = RecordedOutput()
    stage = _stage(trading, output, batch_max=16, lossless=True, columnar=columnar)
    batches = _batches(ticks, 64)
    for batch in batches[:10]:
        stage.on_batch(batch)
    taken = dict(stage.stack.last_sent)
    assert taken and stage.dropped_targets == 0

    output.present = False
    before = len(output.targets())
    stage.on_batch(batches[10])
    refused = output.targets()[before:]
    assert len(refused) > 1 and isinstance(output.pushed[-1], TargetBatch)
    assert stage.dropped_targets == len(refused)
    assert stage.stack.last_sent == taken

    # The same batch again, as if the executor had been there: the very same decisions.
    again = RecordedOutput()
    replay = _stage(trading, again, batch_max=16, lossless=True, columnar=columnar)
    for batch in batches[:11]:
        replay.on_batch(batch)
    assert again.targets()[before:] == refused

    fresh = RecordedOutput(present=False)  # and with nothing ever taken: nothing is kept
    never = _stage(trading, fresh, batch_max=16, lossless=True, columnar=columnar)
    for batch in batches[:10]:
        never.on_batch(batch)
    assert never.stack.last_sent == {}
    assert never.dropped_targets == len(fresh.targets()) > 10


def test_a_step_past_batch_max_targets_or_with_falling_seqs_splits_into_valid_messages(
    model: LoadedModel, ticks: list[Tick]
) -> None:
    """More targets than a `TargetBatch` holds, or seqs that fall back (a restarted feed):
    the step pushes several messages, each one the codec accepts, with the targets of
    tick by tick in order."""
    trading = _variants(model)["linear_every_step"]
    restarted = [msgspec.structs.replace(t, seq=t.seq - 900) for t in ticks[1600:2000]]
    queued = ticks[:1600] + restarted  # seqs 1..1600, then 701..1100
    reference = RecordedOutput()
    per_tick = _stage(trading, reference, batch_max=1, lossless=True)
    output = RecordedOutput()  # its `push` decodes every TargetBatch
    stage = _stage(trading, output, batch_max=len(queued), lossless=True)
    for stage_ in (per_tick, stage):
        for tick in queued:
            stage_.on_tick(tick)
        stage_.flush()

    batches = [m for m in output.pushed if isinstance(m, TargetBatch)]
    assert max(len(b.targets) for b in batches) == BATCH_MAX
    assert len(batches) > len(reference.targets()) // BATCH_MAX  # split at the fall too
    assert output.targets() == reference.targets()
    # The first target after the fall starts a message; up to there no tick passed its target.
    seqs = [t.tick_seq for t in reference.targets()]
    first_after_fall = next(i for i in range(1, len(seqs)) if seqs[i] < seqs[i - 1])
    starts: dict[int, int] = {}  # a message's first target's position -> the message's
    count = 0
    for position, message in enumerate(output.pushed):
        if isinstance(message, Target | TargetBatch):
            starts[count] = position
            count += 1 if isinstance(message, Target) else len(message.targets)
    assert first_after_fall in starts
    assert_no_tick_passed_before_its_target(output.pushed[: starts[first_after_fall]])
