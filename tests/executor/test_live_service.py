"""The executor process in live mode, every opt-in given, against the fake Kraken REST.

The same service a trader starts: live gate, start-up reconciliation, a
target turned into a venue order, its fill journaled and published, and a
restart that refuses an account whose balance the journal cannot explain.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import zmq

from common import sockets, wire
from common.messages import Eos, Fill, Position
from tests.conftest import scaled, wait_until
from tests.executor.test_service import EventProbe, _executor_args, _target
from tests.factories import make_tick
from tests.fakes.kraken_rest import FakeKrakenRest
from tests.processes import services

KEY = "service-test-key"
SECRET = base64.b64encode(os.urandom(64)).decode()


@pytest.fixture
def fake() -> Iterator[FakeKrakenRest]:
    with FakeKrakenRest(KEY, SECRET) as server:
        yield server


def _live_env(fake: FakeKrakenRest, provider: str, secret: str = SECRET) -> dict[str, str]:
    return {
        **os.environ,
        "ENABLE_REAL_LIVE_EXECUTOR": "1",
        "CONFIRM_LIVE": "1",
        "LIVE_EXECUTOR_PROVIDER": provider,
        "EXCHANGE_API_KEY": KEY,
        "EXCHANGE_API_SECRET": secret,
        "EXCHANGE_BASE_URL": fake.url,
        "PLR_VENUE_RATE_LIMIT_MS": "1",
        "PLR_ORDER_DEADLINE_S": "2",
        "PLR_SYMBOLS": "BTC/USD",
    }


def _live_args(folder: Path) -> list[str]:
    return [*_executor_args(folder), "--no-paper-mode", "--live-executor"]


@pytest.mark.parametrize("provider", ["ccxt", "krakenex"])
def test_live_executor_trades_a_target_at_the_venue_and_refuses_a_changed_account(
    provider: str, fake: FakeKrakenRest, tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """Target -> one venue order -> its fill; a restart after foreign trading refuses to start."""
    now = time.time_ns()
    tick = make_tick(seq=1, recv_ts_ns=now, bid=59_999.0, ask=60_001.0, bid_size=1, ask_size=1)
    with (
        sockets.publisher(zmq_ctx, f"ipc://{tmp_path}/ticks", lossless=True) as pub,
        sockets.ready_replier(zmq_ctx, f"ipc://{tmp_path}/ready") as ready,
        sockets.target_pusher(zmq_ctx, f"ipc://{tmp_path}/targets") as push,
        services(tmp_path) as group,
    ):
        group.start(
            "live", "services.executor", _live_args(tmp_path), env=_live_env(fake, provider)
        )
        probe = EventProbe(zmq_ctx, tmp_path)
        probe.start()
        sockets.wait_for_subscribers(
            pub, ready, ["executor", "probe"], source="test", timeout_s=scaled(30)
        )
        pub.send_multipart([wire.topic(tick), wire.encode(tick)])
        target = wire.encode(_target("live-a", 0.01, tick))
        wait_until(lambda: sockets.push_nowait(push, target), 10, "the live executor's PULL")
        wait_until(lambda: len(probe.of(Fill)) == 1, 20, "the venue's fill")
        push.send(wire.encode(Eos(source="model", last_seq=1, ts_ns=time.time_ns())))
        assert group.wait("live") == 0
        probe.join(scaled(10))
        output = group.output("live")

        fake.balances["XXBT"] += Decimal("0.5")  # someone else bought on this account
        group.start(
            "again", "services.executor", _live_args(tmp_path), env=_live_env(fake, provider)
        )
        assert group.wait("again") == 1
        refusal = group.output("again").strip().splitlines()[-1]
    [fill] = probe.of(Fill)
    assert (fill.qty, fill.price) == (pytest.approx(0.01), 60_000.0)
    assert probe.of(Position)[-1].qty == pytest.approx(0.01)
    [booked] = fake.orders.values()
    assert booked["cl_ord_id"] == fill.order_id
    assert "LiveOrderExecutor" in output and f"LIVE via {provider}" in output
    assert "refusing to trade" in refusal and "BTC/USD" in refusal
    journal = (tmp_path / "run" / "executor-live.journal").read_text()
    assert journal.count('["Fill"') == 1 and "venue_balance_baseline" in journal
    assert not (tmp_path / "run" / "executor.journal").exists()  # paper's book untouched
    for text in (output, refusal, journal):
        assert SECRET not in text and KEY not in text


def test_credentials_the_venue_refuses_stop_the_start_with_one_line(
    fake: FakeKrakenRest, tmp_path: Path
) -> None:
    """A wrong secret: exit 1 at reconciliation, naming Kraken's error, never the secret."""
    wrong = base64.b64encode(os.urandom(64)).decode()
    with services(tmp_path) as group:
        env = _live_env(fake, "krakenex", secret=wrong)
        group.start("live", "services.executor", _live_args(tmp_path), env=env)
        assert group.wait("live") == 1
        output = group.output("live")
    assert "EAPI:Invalid signature" in output.strip().splitlines()[-1]
    assert wrong not in output and KEY not in output
    assert sum(entry["method"] == "AddOrder" for entry in fake.log) == 0


def test_live_refuses_a_lossless_replay_and_a_non_loopback_exchange_url(
    fake: FakeKrakenRest, tmp_path: Path
) -> None:
    """Live orders on replayed data, or to a URL that is neither Kraken nor loopback: exit 2."""
    with services(tmp_path) as group:
        group.start(
            "lossless",
            "services.executor",
            [*_live_args(tmp_path), "--lossless"],
            env=_live_env(fake, "ccxt"),
        )
        env = {**_live_env(fake, "ccxt"), "EXCHANGE_BASE_URL": "http://203.0.113.7:8080"}
        group.start("remote", "services.executor", _live_args(tmp_path), env=env)
        assert group.wait("lossless") == 2 and group.wait("remote") == 2
        assert "--lossless" in group.output("lossless")
        assert "loopback" in group.output("remote")
    assert fake.log == []
