"""How a run ends: the stop order, and the result.json that is true whatever happened.

Stop order: feed, model, executor, then the recorder last, each given time to
finish before the next is told: the feed's `eos` lets the others drain, and
the recorder must still be listening when the executor journals and
publishes its last fill. One still running `--stop-timeout` after its
SIGTERM is killed and named (`killed`): the run is then incomplete.

Then the runner, the last process alive, settles `result.json`: the money
(sessions, fills, positions, fees, PnL, per mode) is recomputed from the
executor journals, the book of record (`orchestration.ledger`); the counts the
recorder kept are kept when it wrote a result, and when it did not (it died),
the result says so and holds the journals' figures alone. The order counts
(orders, rejections, targets) come from the journals too: a resumed
replay's recorder hears only what was decided after the resume. `complete` is true
only when the recorder finished normally, no service failed, the run was not
interrupted and every stage saw every tick.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from common.errors import JournalCorrupt
from common.logs import utc_now_text
from orchestration.account_book import account_section
from orchestration.ledger import money, quote_marks
from orchestration.shadow_fidelity import shadow_section
from services.recorder.artifacts import write_json_atomically

STOP_ORDER: Final = ("feed", "model", "executor", "recorder")
# As long as a swap waits for the executor it stops (`handover.STOP_WAIT_S`): a
# live one lets the orders it already sent settle and disarms the dead-man switch.
DEFAULT_STOP_TIMEOUT_S: Final = 90.0


def stop_in_order(
    procs: dict[str, subprocess.Popen[bytes]], stopped: set[str], timeout_s: float
) -> list[str]:
    """SIGTERM each running service in `STOP_ORDER`, waiting for each before the next.

    One still running `timeout_s` after its SIGTERM is killed: a service that
    never reads its stop flag (a deadlocked plug-in) would otherwise keep the
    runner, and result.json, waiting forever. Returns the names killed.
    `stopped` collects the names signalled: their exit by our signal is not a failure.
    """
    killed: list[str] = []
    for name in STOP_ORDER:
        proc = procs.get(name)
        if proc is None or proc.poll() is not None:
            continue
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGCONT)  # a stopped (SIGSTOP, ^Z) service must run to act on it
        stopped.add(name)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            killed.append(name)
    return killed


def failures(
    procs: dict[str, subprocess.Popen[bytes]], stopped: set[str], killed: Sequence[str] = ()
) -> list[str]:
    """Services that failed: a non-zero exit, unless by the SIGTERM (`stopped`) or the
    SIGKILL (`killed`, by `stop_in_order`) we sent; anyone else's SIGKILL is a failure."""
    return [
        name
        for name, proc in procs.items()
        if proc.poll() not in (None, 0)
        and not (name in stopped and proc.returncode == -signal.SIGTERM)
        and not (name in killed and proc.returncode == -signal.SIGKILL)
    ]


def settle_result(
    folder: Path,
    *,
    failed: list[str],
    hung: list[str] | None = None,
    killed: list[str] | None = None,
    interrupted: bool,
    expected_ticks: int | None,
) -> dict[str, Any]:
    """Write result.json from the journals (and the recorder's counts if it wrote them).

    When even that write fails (a full disk), the result is returned with
    `unwritten` saying why, and the file, if any, is the recorder's own.
    """
    path = folder / "result.json"
    recorded: dict[str, Any] | None = None
    if path.is_file():
        try:
            recorded = json.loads(path.read_text())
        except (OSError, ValueError):
            recorded = None
    result = recorded if recorded is not None else _without_recorder(folder)
    try:
        first, last = quote_marks(folder / "ticks.gz")
        ledger = money(folder, last)
        result["account"] = account_section(folder, first, last)
        shadow = shadow_section(folder, last)  # a shadow run: paper's distance from live
        if shadow is not None:
            result["shadow"] = shadow
    except JournalCorrupt as e:
        ledger = None
        result["journal_error"] = str(e)
    if ledger is not None:
        _apply_ledger(result, ledger)
    result["exit_reason"] = _exit_reason(recorded, failed, hung or [], interrupted)
    if killed:  # did not stop when told: never a run that ended well
        result["killed"] = killed
    result["complete"] = _complete(
        result, recorded, failed + (hung or []) + (killed or []), interrupted, expected_ticks
    )
    try:
        write_json_atomically(path, result)
    except OSError as e:  # a full disk: the caller says so, and shows the figures anyway
        result["unwritten"] = f"cannot write {path}: {e.strerror or e}"
    return result


def _without_recorder(folder: Path) -> dict[str, Any]:
    return {
        "run_id": folder.name,
        "recorded_by": "runner (the recorder wrote no result: only the journals' figures)",
        "counts": {},
        "ended_at": utc_now_text(),
    }


def _apply_ledger(result: dict[str, Any], ledger: dict[str, Any]) -> None:
    found = result["sessions"] = ledger["sessions"]
    if found:
        # The limits the run ends under (each session keeps its own), and what
        # traded, not what the run started as (a swap changes it).
        result["risk_limits"] = found[-1]["risk_limits"]
        result["mode"] = "+".join(dict.fromkeys(s["mode"] for s in found))
        result["executor"] = "+".join(dict.fromkeys(s["executor"].split(" ")[0] for s in found))
    result["by_mode"] = ledger["by_mode"]
    modes = list(ledger["by_mode"])
    counts = result.setdefault("counts", {})
    counts["fills"] = sum(book["fills"] for book in ledger["by_mode"].values())
    counts |= ledger["counts"]  # orders, rejections, targets: what the executors decided
    if len(modes) == 1:  # one kind of money: the headline figures are its own
        only = ledger["by_mode"][modes[0]]
        result["pnl"] = only["pnl"]
        result["positions"] = only["positions"]
    else:  # paper and live money are never added up: see by_mode
        result["pnl"] = None
        result["positions"] = None
    result["book_of_record"] = "the executor journals (money recomputed from them at the end)"


def _exit_reason(
    recorded: dict[str, Any] | None, failed: list[str], hung: list[str], interrupted: bool
) -> str:
    if interrupted:
        return "interrupted"
    if failed:
        return "service_failed: " + ", ".join(failed)
    if hung:  # still running past the drain deadline after the feed ended: stopped
        return "service_hung: " + ", ".join(hung)
    if recorded is None:
        return "recorder_failed: no result.json from the recorder"
    return str(recorded.get("exit_reason", "unknown"))


def _complete(
    result: dict[str, Any],
    recorded: dict[str, Any] | None,
    failed: list[str],
    interrupted: bool,
    expected_ticks: int | None,
) -> bool:
    if recorded is None or failed or interrupted or result["exit_reason"] != "completed":
        return False
    counts = result.get("counts", {})
    seen = counts.get("ticks_seen", {})
    ticks = counts.get("ticks")
    if expected_ticks is not None and ticks != expected_ticks:
        return False
    return all(n == ticks for n in seen.values())
