"""A supported paper -> live -> paper swap of the executor during one run (issue 14).

One runner run on live market data (the fake Kraken WS, paced by the test),
its executor swapped to live against the fake Kraken REST and back to paper
with `python -m orchestration.swap`, while the feed, model and recorder keep
running. result.json's sessions are checked against the fake venue's own
records.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import psutil
import pytest

from common.tickfile import iter_ticks
from orchestration.control import SWAP_VARIABLES
from services.model.bundle import ModelBundle
from services.model.features import FEATURE_NAMES
from services.model.policy import Policy
from services.model.ridge import RidgeModel
from services.model.train import save
from tests.conftest import PROJECT_ROOT, scaled, wait_until
from tests.fakes.kraken_rest import FakeKrakenRest
from tests.fakes.kraken_ws import FakeKrakenServer
from tests.processes import start_runner

KEY = "swap-test-key"
SECRET = base64.b64encode(os.urandom(64)).decode()
MAX_POSITION = 0.002


@pytest.fixture(scope="module")
def busy_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model that trades the fake's book: its target follows the top-of-book imbalance.

    The recording's model barely moves on the fixture's quiet book (its 232
    ticks hold one trade's worth of signal); this one sends a target every
    few ticks, so each phase of the swap sees orders.
    """
    weights = np.zeros(len(FEATURE_NAMES))
    weights[FEATURE_NAMES.index("imbalance")] = 1000.0  # bps per unit of imbalance
    model = RidgeModel()
    model.mean_, model.scale_ = np.zeros(len(weights)), np.ones(len(weights))
    model.coef_, model.weights_, model.bias_ = weights.copy(), weights, -997.5  # its median
    policy = Policy(
        position_per_bps=MAX_POSITION / 5,
        deadband_bps=0.0,
        max_position=MAX_POSITION,
        min_step=0.00015,
    )
    out = tmp_path_factory.mktemp("busy-model") / "busy.skops"
    save(ModelBundle(model, FEATURE_NAMES, policy, 50, {"purpose": "swap test"}), out)
    return out


def _without_live(environ: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k not in SWAP_VARIABLES}


def _swap(folder: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.swap", str(folder), *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=scaled(200),
    )


def _journal(path: Path, kind: str) -> list[list]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith(f'["{kind}"')]


def _feed_until(ws: FakeKrakenServer, done: Callable[[], bool], what: str) -> None:
    """Let the fake send book updates a few at a time until `done` holds."""
    while not done():
        if ws.sent_updates >= len(ws.updates):
            wait_until(done, 30, f"{what} (the fixture's updates all sent)")
            return
        ws.allow(4)
        wait_until(lambda: ws.allowance == 0 or ws.sent_updates >= len(ws.updates), 30, "updates")


def _services(runner: subprocess.Popen[bytes]) -> dict[str, int]:
    found = {}
    for child in psutil.Process(runner.pid).children():
        try:
            for part in child.cmdline():
                if part.startswith("services."):
                    found[part.removeprefix("services.")] = child.pid
        except psutil.Error:
            continue
    return found


@pytest.fixture
def venues() -> Iterator[tuple[FakeKrakenServer, FakeKrakenRest]]:
    with (
        FakeKrakenServer(paced=True) as ws,
        FakeKrakenRest(KEY, SECRET, mark_price="29430.0") as rest,
    ):
        rest.balances["XXBT"] = Decimal("0.01")  # the model sells too: the account has some
        yield ws, rest


def test_paper_live_paper_swap_keeps_the_other_services_and_books_each_session(
    busy_checkpoint: Path, tmp_path: Path, venues: tuple[FakeKrakenServer, FakeKrakenRest]
) -> None:
    """Three sessions in result.json; live's orders, fills and fees are the venue's own."""
    ws, rest = venues
    env = {**_without_live(dict(os.environ)), "WS_DISABLE_HEALTH_SERVER": "1"}
    live_env = {
        **env,
        "ENABLE_REAL_LIVE_EXECUTOR": "1",
        "CONFIRM_LIVE": "1",
        "LIVE_EXECUTOR_PROVIDER": "krakenex",
        "EXCHANGE_API_KEY": KEY,
        "EXCHANGE_API_SECRET": SECRET,
        "EXCHANGE_BASE_URL": rest.url,
    }
    folder = tmp_path / "artifacts" / "swap-run"
    paper_journal, live_journal = folder / "executor.journal", folder / "executor-live.journal"
    args = ("--use-ws", "--ws-url", ws.url, "--run-id", "swap-run")
    runner = start_runner(
        tmp_path, busy_checkpoint, *args, "--max-position", str(MAX_POSITION), env=env
    )
    try:
        wait_until(lambda: (folder / "runner.json").exists(), 60, "the runner's control socket")
        wait_until(lambda: len(_services(runner)) == 4, 30, "the four services")
        first = _services(runner)
        _feed_until(ws, lambda: len(_journal(paper_journal, "Fill")) >= 2, "paper fills")

        refused = _swap(folder, "--to", "live", "--no-paper-mode", "--live-executor", env=env)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.count("\n") == 1 and "ENABLE_REAL_LIVE_EXECUTOR=1" in refused.stderr
        assert _services(runner)["executor"] == first["executor"]  # untouched

        swap_ns = time.time_ns()
        to_live = _swap(folder, "--to", "live", "--no-paper-mode", "--live-executor", env=live_env)
        assert to_live.returncode == 0, to_live.stderr + to_live.stdout
        assert to_live.stdout.count("\n") == 1
        _feed_until(ws, lambda: len(rest.orders) >= 2, "live orders at the venue")

        to_paper = _swap(folder, "--to", "paper", env=env)
        assert to_paper.returncode == 0, to_paper.stderr + to_paper.stdout
        paper_before = len(_journal(paper_journal, "Fill"))
        _feed_until(
            ws, lambda: len(_journal(paper_journal, "Fill")) >= paper_before + 2, "paper again"
        )
        last = _services(runner)
        runner.send_signal(signal.SIGINT)
        output = runner.communicate(timeout=scaled(120))[0].decode(errors="replace")
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert runner.returncode == 1, output  # interrupted: a live run never "completes"
    assert {k: v for k, v in last.items() if k != "executor"} == {
        k: v for k, v in first.items() if k != "executor"
    }
    assert last["executor"] != first["executor"]
    assert not (folder / "runner.json").exists()

    result = json.loads((folder / "result.json").read_text())
    assert [s["mode"] for s in result["sessions"]] == ["paper", "live", "paper"]
    assert (result["mode"], result["executor"]) == (
        "paper+live",
        "PaperOrderExecutor+LiveOrderExecutor",
    )
    live = result["sessions"][1]
    submitted = {order[2] for order in _journal(live_journal, "OrderSubmitted")}
    refused = [entry for entry in _journal(live_journal, "OrderRejected") if entry[2] in submitted]
    assert refused == []  # none refused at the venue: the fake's minimums are the engine's
    booked = list(rest.orders.values())
    filled = [order for order in booked if Decimal(order["vol_exec"]) > 0]
    assert live["orders"] == len(booked) >= 2
    assert live["fills"] == len(filled)
    venue_fees = float(sum(Decimal(order["fee"]) for order in filled))
    assert live["fees"] == pytest.approx(venue_fees, abs=1e-4)
    assert result["by_mode"]["live"]["pnl"]["fees"] == pytest.approx(venue_fees, abs=1e-4)
    assert result["by_mode"]["live"]["fills"] == len(filled)
    live_fills = _journal(live_journal, "Fill")
    assert {fill[2] for fill in live_fills} == {order["cl_ord_id"] for order in filled}
    paper_fills = _journal(paper_journal, "Fill")
    paper = result["by_mode"]["paper"]
    assert paper["fills"] == len(paper_fills) == sum(s["fills"] for s in result["sessions"][::2])
    assert paper["pnl"]["fees"] == pytest.approx(sum(fill[7] for fill in paper_fills))
    assert result["counts"]["fills"] == len(paper_fills) + len(live_fills)
    assert result["pnl"] is None  # paper and live money are never added up

    # No live order for a target computed before the swap: every one is from a later tick.
    received_ns = {tick.seq: tick.recv_ts_ns for tick in iter_ticks(folder / "ticks.gz")}
    live_orders = _journal(live_journal, "OrderSubmitted")
    assert live_orders and all(received_ns[order[8]] > swap_ns for order in live_orders)

    log = (folder / "run.log").read_text()
    assert "[runner]" in log and "LiveOrderExecutor" in log
    for artifact in folder.iterdir():
        text = artifact.read_text(errors="replace") if artifact.suffix != ".gz" else ""
        assert SECRET not in text and KEY not in text

    gone = _swap(folder, "--to", "paper", env=env)
    assert gone.returncode == 1 and "not a running run" in gone.stderr
