"""The recorder's end of a run, on real sockets: a service's lines sent after its eos are
kept, and a turn an error cut short is still written."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import zmq

from common import sockets
from common.messages import Eos, Hello
from common.service import Inbox
from services.recorder.__main__ import Recorder
from services.recorder.recorder_config import RecorderConfig
from tests.factories import make_rejection
from tests.recorder.rig import recorder_and_events, recorder_inputs, through

SUMMARY = b"2026-12-07T00:00:00.000Z INFO services.executor: executor done: 3 orders"


def test_a_summary_logged_right_after_the_last_eos_reaches_run_log(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """The executor logs its summary after its eos: the run's log still has it."""
    config, socks = recorder_inputs(tmp_path, zmq_ctx)
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
    through(lambda: sockets.publish(events, Hello(source="t", ts_ns=0)), socks["events"], "events")
    through(lambda: service_log.send_multipart([b"probe.INFO", b"x"]), logs, "the log socket")
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


def test_a_turn_cut_short_by_an_error_still_reaches_events_jsonl(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """The recorder writes a turn's lines at its end: when handling a message raises
    mid-turn, the lines already counted are written by `finish`, so events.jsonl
    holds what result.json counts."""
    with recorder_and_events(tmp_path, zmq_ctx) as (recorder, events):
        on_message, handled = recorder.dispatch.on_message, []

        def fails_on_the_third(message: object, payload: bytes, arrival_ns: int) -> bool:
            if len(handled) == 2:
                raise RuntimeError("a bug in the recorder")
            handled.append(message)
            return on_message(message, payload, arrival_ns)  # type: ignore[arg-type]

        recorder.dispatch.on_message = fails_on_the_third  # type: ignore[method-assign]
        for n in range(3):  # sent before the loop runs: all three in its first turn
            sockets.publish(events, make_rejection(n))
        with pytest.raises(RuntimeError, match="a bug"):
            recorder.run(threading.Event())
    run_dir = recorder.config.run_dir
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    result = json.loads((run_dir / "result.json").read_text())
    assert result["exit_reason"] == "crashed"
    assert len(lines) == sum(result["counts"]["rejections"].values()) == 2
