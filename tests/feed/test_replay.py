"""Replay through the feed process: complete and in order for a late subscriber."""

from __future__ import annotations

from pathlib import Path

import zmq

from common import sockets, wire
from common.messages import Eos, Tick
from common.tickfile import TickFileReader
from tests.conftest import PROJECT_ROOT, scaled
from tests.processes import services

BUNDLED = PROJECT_ROOT / "data" / "binance_btcusdt_spot_2024-08-08_10min.ticks.gz"


def test_replay_at_speed_zero_reaches_a_late_subscriber_complete(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """The subscriber starts after the feed; the handshake makes the replay lossless."""
    with services(tmp_path) as group:
        group.start(
            "feed",
            "services.feed",
            [
                "--replay",
                str(BUNDLED),
                "--speed",
                "0",
                "--expect",
                "probe",
                "--pub",
                f"ipc://{tmp_path}/ticks",
                "--ready",
                f"ipc://{tmp_path}/ready",
                "--logs",
                f"ipc://{tmp_path}/logs",
            ],
        )
        received: list[Tick] = []
        eos = None
        with sockets.subscriber(
            zmq_ctx, f"ipc://{tmp_path}/ticks", [wire.TICK_PREFIX, wire.EOS_TOPIC], lossless=True
        ) as sub:
            sockets.report_ready(
                zmq_ctx, sub, f"ipc://{tmp_path}/ready", "probe", timeout_s=scaled(30)
            )
            while eos is None and sub.poll(int(scaled(30) * 1000)):
                message = wire.decode(sub.recv_multipart()[1])
                if isinstance(message, Tick):
                    received.append(message)
                elif isinstance(message, Eos):
                    eos = message
        assert group.wait("feed") == 0
    with TickFileReader(BUNDLED) as reader:
        recorded = list(reader)
    assert [t.seq for t in received] == list(range(1, 85_176))
    assert received == recorded  # bit for bit, timestamps included
    assert eos is not None and eos.last_seq == 85_175


def test_replay_of_a_missing_file_is_exit_2_before_any_socket(tmp_path: Path) -> None:
    """A wrong path fails fast with one line."""
    with services(tmp_path) as group:
        group.start("feed", "services.feed", ["--replay", str(tmp_path / "nope.ticks")])
        assert group.wait("feed") == 2
        assert "cannot open" in group.output("feed")
