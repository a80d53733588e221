"""The outbox's log lines: every fill visible, rejections summarised, numbers as words."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from common.errors import JournalWriteFailed
from common.journal import Journal, read_entries
from common.messages import (
    Fill,
    Liquidity,
    Message,
    OrderRejected,
    Position,
    RejectReason,
    RiskEvent,
    Side,
)
from services.executor.engine import ExecutionEngine
from services.executor.metrics import ExecutorMetrics
from services.executor.outbox import LINE_HOLD_S, PER_LINE, REJECTIONS_IN_FULL, Outbox
from services.executor.paper import PaperOrderExecutor
from services.executor.risk import RiskEngine
from tests.conftest import small_filesystem
from tests.executor.test_paper_and_positions import LOOSE, PAIRS
from tests.factories import make_cancel, make_rejection


class Clock:
    def __init__(self) -> None:
        self.now_s = 1_000.0

    def __call__(self) -> float:
        return self.now_s


SENT: list[Message] = []


def _outbox(tmp_path: Path, clock: Clock) -> tuple[Outbox, Journal]:
    journal = Journal(tmp_path / "executor.journal")
    SENT.clear()
    return Outbox(journal, SENT.extend, clock=clock), journal


def _rejection(n: int, reason: RejectReason) -> OrderRejected:
    return make_rejection(n, side=None, qty=0.0, reason=reason, detail="drawdown", ts_ns=n)


def _fill_and_position(n: int, position: float) -> list[Message]:
    fill = Fill(
        order_id=f"ord-{n}",
        symbol="BTC/USD",
        side=Side.BUY,
        qty=0.001,
        price=60_000.0 + n,
        fee=0.25,
        liquidity=Liquidity.TAKER,
        tick_seq=n,
        ts_ns=n,
    )
    after = Position(
        symbol="BTC/USD",
        qty=position,
        avg_price=60_000.0,
        realized_pnl=0.0,
        unrealized_pnl=0.0,
        fees=0.25 * n,
        equity=0.0,
        ts_ns=n,
    )
    return [fill, after]


def _lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def test_a_flood_of_rejections_is_a_few_lines_with_every_reason_and_its_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The first few of each reason in full; the rest as one count per reason per interval."""
    clock = Clock()
    outbox, journal = _outbox(tmp_path, clock)
    caplog.set_level(logging.INFO, logger="services.executor")
    for n in range(4_379):
        clock.now_s += 0.001  # 4.4 s of rejections, in bursts of one
        outbox.emit([_rejection(n, RejectReason.CIRCUIT_BREAKER)])
    outbox.emit([_rejection(n, RejectReason.RATE_LIMIT) for n in range(5_000, 5_071)])
    clock.now_s += 20.0
    outbox.emit([])  # an idle turn: the interval is over
    outbox.close()
    journal.close()
    warnings = _lines(caplog, logging.WARNING)
    assert len(warnings) <= 2 * REJECTIONS_IN_FULL + 4
    assert any("o-0" in line for line in warnings)  # the first shown in full
    held = {"circuit_breaker": 4_379 - REJECTIONS_IN_FULL, "rate_limit": 71 - REJECTIONS_IN_FULL}
    for reason, count in held.items():
        assert any(reason in line and f"{count:,}" in line for line in warnings), reason
    assert not any("RejectReason" in line for line in warnings)
    assert sum(isinstance(e, OrderRejected) for e in SENT) == 4_379 + 71  # each still published


def test_every_fill_is_logged_with_its_order_id_price_fee_and_the_position_after(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Fills one batch at a time, fast: they share lines, yet each one is there in full."""
    clock = Clock()
    outbox, journal = _outbox(tmp_path, clock)
    caplog.set_level(logging.INFO, logger="services.executor")
    for n in range(1, 41):
        clock.now_s += 0.01  # 40 fills in 0.4 s, each from its own batch of events
        outbox.emit(_fill_and_position(n, n * 0.001))
    outbox.close()
    journal.close()
    lines = _lines(caplog, logging.INFO)
    for n in range(1, 41):
        [line] = [line for line in lines if f"ord-{n} " in line]
        assert f"{60_000 + n}" in line and "0.25" in line  # price and fee
    assert len(lines) <= 40 // PER_LINE + 1
    assert any("ord-40 " in line and "0.04" in line for line in lines)  # the position after


def test_a_lone_fill_is_logged_within_a_second_without_waiting_for_company(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A quiet live run: a fill reaches run.log on the next turn after LINE_HOLD_S."""
    clock = Clock()
    outbox, journal = _outbox(tmp_path, clock)
    caplog.set_level(logging.INFO, logger="services.executor")
    outbox.emit(_fill_and_position(7, -0.5))
    clock.now_s += LINE_HOLD_S / 2
    outbox.emit([])
    assert not any("ord-7 " in line for line in _lines(caplog, logging.INFO))
    clock.now_s += LINE_HOLD_S / 2
    outbox.emit([])  # the executor's idle turn
    journal.close()
    [line] = [line for line in _lines(caplog, logging.INFO) if "ord-7 " in line]
    assert "-0.5" in line


def test_a_risk_event_names_its_numbers_as_words_not_a_dict(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The breaker's line: its kind and each value by name, no Python reprs."""
    outbox, journal = _outbox(tmp_path, Clock())
    caplog.set_level(logging.INFO, logger="services.executor")
    outbox.emit(
        [
            RiskEvent(
                kind="circuit_breaker_tripped",
                symbol=None,
                values={"equity": -252.03, "max_loss": 250.0},
                detail="drawdown reached --max-loss",
                ts_ns=1,
            )
        ]
    )
    journal.close()
    [line] = _lines(caplog, logging.ERROR)
    assert "circuit_breaker_tripped" in line and "-252.03" in line and "max_loss 250" in line
    assert "{" not in line


def test_metrics_read_the_outboxs_rejection_and_cancel_counts(tmp_path: Path) -> None:
    """Counted once, by the outbox: /metrics serves the same counts by reason."""
    engine = ExecutionEngine(
        RiskEngine(LOOSE), PaperOrderExecutor(PAIRS, latency_ms=0, taker_fee_bps=0)
    )
    metrics = ExecutorMetrics(engine, mode="paper mode")
    journal = Journal(tmp_path / "executor.journal")
    outbox = Outbox(journal, metrics.observe(SENT.extend), clock=Clock())
    metrics.read_refusals(outbox)
    cancel = make_cancel()
    reasons = [RejectReason.CIRCUIT_BREAKER] * 5 + [RejectReason.RATE_LIMIT] * 2
    outbox.emit([_rejection(n, reason) for n, reason in enumerate(reasons)] + [cancel])
    outbox.emit(_fill_and_position(20, 0.001))
    served = {
        (family.name, sample.labels.get("reason") or sample.labels.get("symbol")): sample.value
        for family in metrics.collect()
        if family.name in ("executor_rejections", "executor_cancels", "executor_fills")
        for sample in family.samples
        if sample.name.endswith("_total")
    }
    assert served == {
        ("executor_rejections", "circuit_breaker"): 5,
        ("executor_rejections", "rate_limit"): 2,
        ("executor_cancels", "ioc"): 1,
        ("executor_fills", "BTC/USD"): 1,
    }
    assert outbox.rejections == {"circuit_breaker": 5, "rate_limit": 2}


def test_an_emit_the_journal_cannot_take_whole_is_neither_published_nor_sent_on(
    tmp_path: Path,
) -> None:
    """A full disk mid-emit: none of its events are published, no staged order goes out,
    and the journal keeps exactly the emits published before it."""
    published: list[Message] = []
    handed_over: list[int] = []
    with small_filesystem(tmp_path / "tiny", "size=4k") as folder:
        journal = Journal(folder / "executor.journal")
        outbox = Outbox(
            journal, published.extend, lambda: handed_over.append(len(published)), clock=Clock()
        )
        emits = 0
        with pytest.raises(JournalWriteFailed):
            for start in range(0, 1_000, 5):
                outbox.emit(
                    [_rejection(n, RejectReason.RATE_LIMIT) for n in range(start, start + 5)]
                )
                emits += 1
        journal.close()
        in_journal = read_entries(journal.path)
    assert emits > 0
    assert len(published) == len(in_journal) == 5 * emits
    assert handed_over == [5 * n for n in range(1, emits + 1)]  # never after the failed write
