"""The recorder's end of a run, on real sockets: a service's lines sent after its eos are kept."""

from __future__ import annotations

import threading
from pathlib import Path

import zmq

from common import sockets
from common.messages import Eos, Hello
from common.service import Inbox
from services.recorder.__main__ import Recorder, data_inputs
from services.recorder.recorder_config import RecorderConfig
from tests.conftest import wait_until

SUMMARY = b"2026-12-07T00:00:00.000Z INFO services.executor: executor done: 3 orders"


def _through(send: object, sub: zmq.Socket, what: str) -> None:
    """Send probes until one arrives (the slow-joiner problem), then drain."""

    def arrived() -> bool:
        send()  # type: ignore[operator]
        return sub.poll(10) != 0

    wait_until(arrived, 10, what)
    while sub.poll(50):
        sub.recv_multipart()


def test_a_summary_logged_right_after_the_last_eos_reaches_run_log(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """The executor logs its summary after its eos: the run's log still has it."""
    env = {
        f"PLR_{name}_ADDR": f"ipc://{tmp_path}/{name.lower()}"
        for name in ("TICKS", "PREDICTIONS", "EVENTS", "READY", "PROGRESS", "LOGS")
    }
    config = RecorderConfig.from_args(
        ["--run-dir", str(tmp_path / "run"), "--disable-metrics"], env
    )
    config.run_dir.mkdir()
    socks = {
        name: sockets.subscriber(zmq_ctx, address, [b""], lossless=True)
        for name, address in data_inputs(config).items()
    }
    events = sockets.publisher(zmq_ctx, config.events, lossless=True)
    logs = sockets.log_collector(zmq_ctx, config.logs)
    service_log = sockets.log_publisher(zmq_ctx, config.logs)
    progress = sockets.progress_pusher(zmq_ctx, config.progress)
    try:
        _record_a_late_summary(config, socks, events, logs, service_log, progress, zmq_ctx)
    finally:
        for sock in (*socks.values(), events, logs, service_log, progress):
            sock.close()
    assert f"[executor] {SUMMARY.decode()}" in (config.run_dir / "run.log").read_text()


def _record_a_late_summary(
    config: RecorderConfig,
    socks: dict[str, zmq.Socket],
    events: zmq.Socket,
    logs: zmq.Socket,
    service_log: zmq.Socket,
    progress: zmq.Socket,
    zmq_ctx: zmq.Context,
) -> None:
    """Eos from every stage; the executor's summary arrives just after the logs were drained."""
    _through(lambda: sockets.publish(events, Hello(source="t", ts_ns=0)), socks["events"], "events")
    _through(lambda: service_log.send_multipart([b"probe.INFO", b"x"]), logs, "the log socket")
    inbox = Inbox(zmq_ctx, name="recorder", ready_addr=config.ready, progress=progress)
    recorder = Recorder(config, inbox, socks, logs)

    # The executor's order of things: its eos goes out, then it logs its summary,
    # which arrives here just after the recorder has taken what the log socket held.
    drain, sent = recorder._drain_logs, []

    def drain_then_summary_arrives() -> None:
        drain()
        if recorder.dispatch.eos_from >= set(config.expect_eos) and not sent:
            sent.append(service_log.send_multipart([b"executor.INFO", SUMMARY]))

    recorder._drain_logs = drain_then_summary_arrives  # type: ignore[method-assign]
    for source in config.expect_eos:
        sockets.publish(events, Eos(source=source, last_seq=0, ts_ns=1))
    assert recorder._receive(threading.Event()) == "completed"
    recorder.finish("completed")
