"""The comparison table: one row per combination, its figures taken from the run's result.json.

Pure (`row`, `columns`, `top_lines`) plus the CSV writer. Figures come only
from a `done` run's result.json (so the table equals the runs' own files);
a run that is not done has its state and reason, and empty figures, never
numbers of a half run. Rejections get a column per reason seen in any run,
and `fidelity.*` columns hold whatever numeric figures a result.json carries
under `fidelity`. CSV only: Parquet would bring pyarrow (~40 MB) for a table
of hundreds of rows.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from orchestration.sweep.combinations import Combination

LEADING: Final = ("run_id", "state", "reason", "ticks", "checkpoint")
FIGURES: Final = (
    "pnl_total",
    "pnl_realized",
    "pnl_unrealized",
    "fees",
    "max_drawdown",
    "ending_equity",
    "ticks_replayed",
    "orders",
    "fills",
    "rejections",
    "ticks_per_s",
    "exit_reason",
)


def row(
    combination: Combination, state: dict[str, Any] | None, result: dict[str, Any] | None
) -> dict[str, Any]:
    """One combination's row; figures only when its state is done."""
    out: dict[str, Any] = {
        "run_id": combination.run_id,
        "state": (state or {}).get("state", "pending"),
        "reason": (state or {}).get("reason", ""),
        "ticks": combination.ticks.label,
        "checkpoint": combination.checkpoint.name,
    }
    out |= {f"setting.{flag}": value for flag, value in combination.grid_point}
    if out["state"] != "done" or result is None:
        return out
    pnl = result.get("pnl") or {}
    counts = result.get("counts") or {}
    rejections = counts.get("rejections") or {}
    out |= {
        "pnl_total": pnl.get("total"),
        "pnl_realized": pnl.get("realized"),
        "pnl_unrealized": pnl.get("unrealized"),
        "fees": pnl.get("fees"),
        "max_drawdown": result.get("max_drawdown"),
        "ending_equity": (result.get("account") or {}).get("ending_equity"),
        "ticks_replayed": counts.get("ticks"),
        "orders": counts.get("orders"),
        "fills": counts.get("fills"),
        "rejections": sum(rejections.values()),
        "ticks_per_s": (result.get("throughput") or {}).get("ticks_per_s"),
        "exit_reason": result.get("exit_reason"),
    }
    out |= {f"rejections.{reason}": n for reason, n in sorted(rejections.items())}
    out |= {f"fidelity.{name}": value for name, value in _numbers(result.get("fidelity"), "")}
    return out


def columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Every column any row has: identity, settings, figures, then rejections and fidelity."""
    seen = dict.fromkeys(name for r in rows for name in r)
    settings = sorted(n for n in seen if n.startswith("setting."))
    extra = sorted(n for n in seen if n.startswith(("rejections.", "fidelity.")))
    return [*LEADING, *settings, *FIGURES, *extra]


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns(rows), restval="")
        writer.writeheader()
        writer.writerows(rows)
    partial.replace(path)


def top_lines(rows: Sequence[dict[str, Any]], n: int) -> list[str]:
    """The best `n` finished runs by total PnL, as aligned text lines."""
    done = [r for r in rows if r["state"] == "done" and r.get("pnl_total") is not None]
    best = sorted(done, key=lambda r: r["pnl_total"], reverse=True)[:n]
    if not best:
        return ["no finished run to compare"]
    settings = [c for c in columns(rows) if c.startswith("setting.")]
    head = [
        "run_id",
        "ticks",
        "checkpoint",
        *settings,
        "pnl_total",
        "fees",
        "max_drawdown",
        "fills",
        "rejections",
    ]
    cells = [[_text(r.get(name), money=name in FIGURES) for name in head] for r in best]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    lines = ["  ".join(h.removeprefix("setting.").ljust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths)) for cell in cells]
    return lines


def _text(value: Any, *, money: bool) -> str:
    if money and isinstance(value, float):
        return f"{value:+.4f}" if abs(value) < 1e6 else f"{value:.4g}"
    return "" if value is None else str(value)


def _numbers(value: Any, prefix: str) -> Iterable[tuple[str, float]]:
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield prefix, value
    elif isinstance(value, dict):
        for name, inner in sorted(value.items()):
            yield from _numbers(inner, f"{prefix}.{name}" if prefix else str(name))
