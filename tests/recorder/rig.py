"""A recorder in this process on real ipc sockets, for the tests of how a run ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import zmq

from common import sockets
from common.messages import Hello
from common.service import Inbox
from services.recorder.__main__ import Recorder, data_inputs
from services.recorder.recorder_config import RecorderConfig
from tests.conftest import wait_until


def through(send: Callable[[], object], sub: zmq.Socket, what: str) -> None:
    """Send probes until one arrives (the slow-joiner problem), then drain."""

    def arrived() -> bool:
        send()
        return sub.poll(10) != 0

    wait_until(arrived, 10, what)
    while sub.poll(50):
        sub.recv_multipart()


def recorder_inputs(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> tuple[RecorderConfig, dict[str, zmq.Socket]]:
    """A recorder's configuration on ipc in `tmp_path`, and its subscribed input sockets."""
    env = {
        f"PLR_{name}_ADDR": f"ipc://{tmp_path}/{name.lower()}"
        for name in ("TICKS", "PREDICTIONS", "EVENTS", "READY", "PROGRESS", "LOGS")
    }
    config = RecorderConfig.from_args(
        ["--run-dir", str(tmp_path / "run"), "--disable-metrics"], env
    )
    config.run_dir.mkdir(exist_ok=True)  # a test may mount a small filesystem there first
    socks = {
        name: sockets.subscriber(zmq_ctx, address, [b""], lossless=True)
        for name, address in data_inputs(config).items()
    }
    return config, socks


@contextmanager
def recorder_and_events(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> Iterator[tuple[Recorder, zmq.Socket]]:
    """A `Recorder` whose events socket is joined, and the publisher that reaches it."""
    config, socks = recorder_inputs(tmp_path, zmq_ctx)
    events = sockets.publisher(zmq_ctx, config.events, lossless=True)
    logs = sockets.log_collector(zmq_ctx, config.logs)
    progress = sockets.progress_pusher(zmq_ctx, config.progress)
    try:
        through(
            lambda: sockets.publish(events, Hello(source="t", ts_ns=0)), socks["events"], "events"
        )
        inbox = Inbox(zmq_ctx, name="recorder", ready_addr=config.ready, progress=progress)
        yield Recorder(config, inbox, socks, logs), events
    finally:
        for sock in (*socks.values(), events, logs, progress):
            sock.close()
