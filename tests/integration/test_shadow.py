"""Shadow mode end to end: the runner, every live opt-in, the fake Kraken feed and venue."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.linear_model import LinearRegression

from common.journal import JOURNAL_FILES, SHADOW_JOURNAL, read_entries
from common.messages import Fill, OrderSubmitted, Side
from orchestration.ledger import quote_marks
from orchestration.shadow_fidelity import fidelity
from services.model.bundle import ModelBundle
from services.model.checkpoint import write_checkpoint
from services.model.plugins import PluginRef
from tests.conftest import FIXTURES, PROJECT_ROOT, scaled, wait_until
from tests.fakes.foresight import (
    LAG,
    book_states,
    planned_orders,
    quote_ticks_through,
    reported_price,
)
from tests.fakes.kraken_market import RecordedMarket
from tests.fakes.kraken_rest import FakeKrakenRest
from tests.fakes.kraken_ws import FakeKrakenServer

KEY = "shadow-key"
SECRET = base64.b64encode(b"s" * 64).decode()


@pytest.fixture
def peeking_checkpoint(tmp_path: Path) -> Path:
    """The peeking plug-in model (tests/fixtures/plugins/peeking_model.py): its one feature
    is its decision, so the estimator is the identity (a regression fitted on y = x)."""
    identity = LinearRegression().fit([[-1.0], [0.0], [1.0]], [-1.0, 0.0, 1.0])
    bundle = ModelBundle(
        identity,
        ("foresight",),
        PluginRef("peeking_model:Policy"),
        1,
        features=PluginRef("peeking_model:Features"),
    )
    path = tmp_path / "peeking.skops"
    write_checkpoint(bundle, path)
    return path


def test_a_zero_latency_paper_twin_is_optimistic_on_every_order_of_a_shadow_run(
    tmp_path: Path, peeking_checkpoint: Path
) -> None:
    """--shadow with `--latency-ms 0`: the mean price difference is negative (paper optimistic),
    and result.json's per-order table is what the live and twin journals say.

    Why the sign must be negative, with no luck involved: the fake feed is paced
    by this test, one planned order at a time. The model (a plug-in that peeks at
    the recording, tests/fakes/foresight.py) buys only at book states from which
    the touch ask steps up within `LAG` updates, by more than the venue's rounding
    of the cost (from which the live executor learns its price). The paper twin,
    at latency 0, fills on the very book the order was decided on (the feed sends
    nothing more until the order is at the venue). The fake venue's book runs
    `LAG` updates ahead of the feed's (the live path's delay, made exact): its
    market order meets the dearer ask. So every order's paper price is the lower
    one: a negative difference on each, and their mean.
    """
    plan = planned_orders()
    assert set(plan.values()) == {"buy"} and len(plan) >= 4  # the recording's ask steps up
    last_order = max(plan)
    with FakeKrakenServer(paced=True) as ws:
        market = RecordedMarket(
            {"BTC/USD": (ws.init, ws.updates)}, position=lambda: ws.sent_updates + LAG
        )
        with FakeKrakenRest(KEY, SECRET, market=market) as rest:
            env = {
                **os.environ,
                "WS_DISABLE_HEALTH_SERVER": "1",
                "ENABLE_REAL_LIVE_EXECUTOR": "1",
                "CONFIRM_LIVE": "1",
                "LIVE_EXECUTOR_PROVIDER": "krakenex",
                "EXCHANGE_API_KEY": KEY,
                "EXCHANGE_API_SECRET": SECRET,
                "EXCHANGE_BASE_URL": rest.url,
                # The feed goes silent between this test's steps, on purpose: not a stale
                # market for the executor's risk check, nor a dead connection for the feed.
                "PLR_STALE_AFTER_MS": "60000",
                "PLR_STALE_AFTER_S": "60",
                "PLR_WATCHDOG_S": "120",
            }
            argv = [
                sys.executable,
                "-m",
                "orchestration.paper_live",
                *("--ckpt", str(peeking_checkpoint)),
                *("--plugin-path", str(FIXTURES / "plugins")),
                *("--address-dir", str(tmp_path)),
                *("--artifacts-dir", str(tmp_path / "artifacts")),
                *("--use-ws", "--ws-url", ws.url),
                # The run ends a few updates after the last order's venue book.
                *("--max-ticks", str(quote_ticks_through(last_order + LAG + 5))),
                *("--no-paper-mode", "--live-executor", "--shadow"),
                *("--latency-ms", "0", "--latency-jitter-ms", "0"),
                *("--rate-limit-tier", "off", "--max-position", "1"),
            ]
            runner = subprocess.Popen(
                argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            try:
                sent = 0
                for booked, position in enumerate(sorted(plan), start=1):
                    ws.allow(position - sent)  # the feed reaches the planned book, and stops
                    sent = position
                    wait_until(
                        lambda n=booked: len(rest.orders) >= n or runner.poll() is not None,
                        scaled(30),
                        f"order {booked} at the venue",
                    )
                    assert runner.poll() is None, runner.communicate()[0].decode()
                ws.allow(len(ws.updates) - sent)
                output = runner.communicate(timeout=scaled(120))[0].decode()
            finally:
                if runner.poll() is None:
                    runner.kill()
                    runner.wait()
    assert runner.returncode == 0, output
    [folder] = (tmp_path / "artifacts").iterdir()
    result = json.loads((folder / "result.json").read_text())
    live = read_entries(folder / JOURNAL_FILES["live"])
    twin = read_entries(folder / SHADOW_JOURNAL)
    orders = [e for e in live if isinstance(e, OrderSubmitted)]
    assert len(orders) == len(plan) and {o.side for o in orders} == {Side.BUY}
    assert {o.qty for o in orders} == {0.00005}  # BTC/USD's minimum, whatever the target

    shadow = result["shadow"]
    assert shadow["complete"] and shadow["twin_missing"] == []
    price = shadow["aggregate"]["price_diff_bps"]
    assert price["count"] == len(plan)
    assert price["mean"] < 0 and price["ci95"][1] < 0  # paper optimistic, every order
    assert all(row["price_diff_bps"] < 0 for row in shadow["orders"])
    # The per-order table is the journals' own account, figure for figure.
    assert shadow == json.loads(
        json.dumps(fidelity(live, twin, quote_marks(folder / "ticks.gz")[1]) | _torn(shadow))
    )
    states = book_states()
    for row in shadow["orders"]:
        live_fills = [e for e in live if isinstance(e, Fill) and e.order_id == row["order_id"]]
        twin_fills = [e for e in twin if isinstance(e, Fill) and e.order_id == row["order_id"]]
        assert [f.price for f in live_fills] == [row["live"]["avg_price"]]
        assert [f.price for f in twin_fills] == [row["paper"]["avg_price"]]
    decided = {states[p].asks[0][0] for p in plan}
    met = {reported_price(states[p + LAG].asks[0][0]) for p in plan}
    assert {row["paper"]["avg_price"] for row in shadow["orders"]} == decided
    assert {row["live"]["avg_price"] for row in shadow["orders"]} == met
    assert (result["mode"], result["executor"]) == ("live", "ShadowLiveExecutor")
    assert f"shadow, paper minus live over {len(plan)} orders: price -" in output
    page = (folder / "report.html").read_text()  # the report's shadow tables: every order
    assert page.count("<section class='shadow'>") == 1
    assert all(row["order_id"] in page for row in shadow["orders"])


def _torn(section: dict[str, object]) -> dict[str, object]:
    return {"twin_journal_torn": section["twin_journal_torn"]}
