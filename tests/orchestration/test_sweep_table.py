"""The comparison: a row's figures are the run's result.json, only for a done run; the curve."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from orchestration.sweep.combinations import Combination, TickSource
from orchestration.sweep.plot import comparison_page, equity_curve
from orchestration.sweep.table import row, top_lines, write_csv

RESULT = {
    "exit_reason": "completed",
    "complete": True,
    "pnl": {"realized": 1.5, "unrealized": -0.25, "fees": 3.0, "total": -1.75},
    "max_drawdown": 2.0,
    "counts": {"ticks": 1000, "orders": 7, "fills": 6, "rejections": {"rate_limit": 2, "risk": 1}},
    "throughput": {"ticks_per_s": 5000.0},
    "account": {"ending_equity": 9998.25},
    "fidelity": {"slippage_bps": {"p50": 0.5, "p99": 3.0}, "note": "text is left out"},
}


def _combination(value: float) -> Combination:
    point = (("max-position", value),)
    return Combination(
        TickSource(Path("/d/day.ticks"), 0, 1000), Path("/s"), Path("/m.skops"), point, point
    )


def test_row_of_a_done_run_carries_its_result_figures() -> None:
    """PnL, fees, drawdown, counts, each rejection reason and numeric fidelity figures."""
    found = row(_combination(0.01), {"state": "done", "reason": "completed"}, RESULT)
    assert found["setting.max-position"] == 0.01
    assert found["ticks"] == "day.ticks[0:1000]"
    assert (found["pnl_total"], found["fees"], found["max_drawdown"]) == (-1.75, 3.0, 2.0)
    assert (found["orders"], found["fills"], found["rejections"]) == (7, 6, 3)
    assert found["rejections.rate_limit"] == 2
    assert found["fidelity.slippage_bps.p99"] == 3.0
    assert "fidelity.note" not in found


def test_row_of_a_run_not_done_has_no_figures() -> None:
    """A failed run shows its state and reason, never the numbers of half a run."""
    found = row(
        _combination(0.01), {"state": "failed", "reason": "incomplete: interrupted"}, RESULT
    )
    assert found["state"] == "failed"
    assert "pnl_total" not in found


def test_csv_has_every_column_and_top_lines_rank_by_pnl(tmp_path: Path) -> None:
    """Rows with different rejection reasons share one header; the best PnL prints first."""
    better = {**RESULT, "pnl": {**RESULT["pnl"], "total": 4.0}, "counts": {"rejections": {}}}
    rows = [
        row(_combination(0.01), {"state": "done"}, RESULT),
        row(_combination(0.05), {"state": "done"}, better),
        row(_combination(0.1), {"state": "failed", "reason": "x"}, None),
    ]
    write_csv(tmp_path / "t.csv", rows)
    with open(tmp_path / "t.csv") as f:
        read = list(csv.DictReader(f))
    assert [r["state"] for r in read] == ["done", "done", "failed"]
    assert read[0]["rejections.risk"] == "1" and read[1]["rejections.risk"] == ""
    lines = top_lines(rows, 5)
    assert len(lines) == 3  # the header and the two done runs
    assert "+4.0000" in lines[1] and "0.05" in lines[1]


def test_equity_curve_sums_the_symbols_latest_equity(tmp_path: Path) -> None:
    """The run's PnL at each Position event: every symbol's newest equity, added up."""
    events = tmp_path / "events.jsonl"
    lines = [
        {"type": "Position", "symbol": "A", "equity": -1.0, "ts_ns": 1_000_000_000},
        {"type": "Fill", "symbol": "A", "ts_ns": 1_500_000_000},
        {"type": "Position", "symbol": "B", "equity": 2.0, "ts_ns": 2_000_000_000},
        {"type": "Position", "symbol": "A", "equity": 0.5, "ts_ns": 4_000_000_000},
    ]
    events.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert equity_curve(events) == ([0.0, 1.0, 3.0], [-1.0, 1.0, 2.5])
    rows = [row(_combination(0.01), {"state": "done"}, RESULT)]
    page = comparison_page("[grid]\nmax-position = [0.01] # <spec>", rows, tmp_path)
    assert "&lt;spec&gt;" in page and "PnL through each run" in page
