"""The recorder: ``python -m services.recorder --run-dir DIR``.

Subscribes to ticks, predictions, execution events and every service's logs,
and writes the run's artifacts in DIR: `ticks.gz` (a tick file, replayable),
`events.jsonl` (decisions and execution events), `run.log` (all services'
log lines) and `result.json` (written atomically when the run ends for any
reason). It joins the feed's readiness handshake only once a probe has
reached it on every data socket, so nothing upstream starts before it can
record. It finishes on `eos` from every source in `--expect-eos`, or on
SIGINT/SIGTERM (exit reason `interrupted`). Never on the hot path: it only
listens.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, TextIO

import zmq

from common import sockets, wire
from common.errors import ConfigError, JournalCorrupt, WireError
from common.flow import ProgressReporter
from common.journal import JOURNAL_FILES, fill_identity, read_journal
from common.logs import format_log_frames, setup_logging, utc_now_text
from common.messages import Eos, Fill, Hello, Prediction, PredictionBatch, Tick, TickBatch
from common.signals import install_stop_flag, stay_until_stopped
from common.tickfile import TickFileWriter, new_header
from services.recorder.artifacts import RunRecord, event_line, write_json_atomically
from services.recorder.recorder_config import RecorderConfig

log = logging.getLogger("services.recorder")

POLL_MS = 100


class Recorder:
    def __init__(
        self,
        ctx: zmq.Context,
        config: RecorderConfig,
        socks: dict[str, zmq.Socket],
        progress: ProgressReporter,
    ) -> None:
        self.ctx, self.config, self.socks = ctx, config, socks
        self.progress = progress  # tells a replaying feed how far we are
        self.record = RunRecord()
        self.started_ns = time.time_ns()
        self.eos_from: set[str] = set()
        # One copy per fill, by its identity (a live order can fill twice between two ticks).
        self.fills_seen: set[tuple[str, int, int]] = set()
        self.hello_on: set[str] = set()
        self.answered = False
        folder = config.run_dir
        header = new_header(config.venue, config.symbols, "paper-live run", self.started_ns)
        # Level 1: the recorder must keep up with a fast replay; size matters less.
        self.ticks_file = TickFileWriter(folder / "ticks.gz", header, compresslevel=1)
        self.events_file: TextIO = open(folder / "events.jsonl", "w")
        self.run_log: TextIO = open(folder / "run.log", "a")
        self.run_log.write(
            f"[recorder] {utc_now_text(self.started_ns)} run {folder.name}: mode {config.mode}, "
            f"executor {config.executor_class}, venue {config.venue}, "
            f"symbols {','.join(config.symbols)}\n"
        )

    def run(self, stop: threading.Event) -> str:
        poller = zmq.Poller()
        for sock in self.socks.values():
            poller.register(sock, zmq.POLLIN)
        names = {sock: name for name, sock in self.socks.items()}
        while not stop.is_set():
            for sock, _ in poller.poll(POLL_MS):
                self._drain(names[sock], sock)
            self.progress.idle()
            if self.eos_from >= set(self.config.expect_eos):
                self._drain("logs", self.socks["logs"])  # the last words of the services
                return "completed"
        return "interrupted"

    def _drain(self, name: str, sock: zmq.Socket) -> None:
        for _ in range(1024):
            try:
                if name == "logs":
                    line = format_log_frames(sock.recv_multipart(zmq.NOBLOCK))
                    if line is not None:
                        self.run_log.write(line + "\n")
                    continue
                message = sockets.recv_message(sock, zmq.NOBLOCK)
            except zmq.Again:
                return
            if message is None:
                self.record.malformed += 1  # not [topic, payload]
                continue
            self._on_message(name, message[1], time.time_ns())

    def _on_message(self, name: str, payload: bytes, arrival_ns: int) -> None:
        try:
            message = wire.decode(payload)
        except WireError:
            self.record.malformed += 1
            return
        if isinstance(message, Tick):
            self._on_tick(message, payload, arrival_ns)
        elif isinstance(message, TickBatch):
            for tick in message.ticks:  # each tick as if it had come alone
                self._on_tick(tick, wire.encode(tick), arrival_ns)
        elif isinstance(message, Prediction):
            self._on_prediction(message)
        elif isinstance(message, PredictionBatch):
            for prediction in message.predictions:
                self._on_prediction(prediction)
        elif isinstance(message, Eos):
            self.eos_from.add(message.source)
            self.record.on_eos(arrival_ns)
        elif isinstance(message, Hello):
            self._on_hello(name)
        elif isinstance(message, Fill) and fill_identity(message) in self.fills_seen:
            return
        else:
            if isinstance(message, Fill):
                self.fills_seen.add(fill_identity(message))
            self.record.on_event(message, arrival_ns)
            self.events_file.write(event_line(message) + "\n")

    def _on_tick(self, tick: Tick, payload: bytes, arrival_ns: int) -> None:
        self.progress.handled(tick.seq)
        self.record.on_tick(tick, arrival_ns)
        self.ticks_file.write_encoded(payload)

    def _on_prediction(self, prediction: Prediction) -> None:
        if self.record.on_prediction(prediction):
            self.events_file.write(event_line(prediction) + "\n")

    def _on_hello(self, socket_name: str) -> None:
        self.hello_on.add(socket_name)
        if not self.answered and self.hello_on >= {"ticks", "predictions", "events"}:
            self.progress.joined()
            self.answered = sockets.answer_hello(
                self.ctx, self.config.ready, self.config.name, timeout_s=2.0
            )

    def reconcile_with_journal(self) -> None:
        """Add fills the executor journaled but that never reached us.

        A kill -9 can land between the executor's journal write and the
        message leaving its socket, and a restarted executor's first events
        can go out before this subscriber reconnects: the journal has them.
        """
        fills: list[Fill] = []
        for name in JOURNAL_FILES.values():  # paper's and live's book (a hot swap has both)
            try:
                fills += read_journal(self.config.run_dir / name).fills
            except JournalCorrupt as e:
                log.error("cannot reconcile with the journal: %s", e)
        missing = [f for f in fills if fill_identity(f) not in self.fills_seen]
        for fill in missing:
            self._on_message("journal", wire.encode(fill), time.time_ns())
        if missing:
            self.run_log.write(f"[recorder] {len(missing)} fills recovered from the journal\n")

    def finish(self, exit_reason: str) -> dict[str, Any]:
        self.reconcile_with_journal()
        self.ticks_file.close()
        self.events_file.close()
        config: dict[str, Any] = {}
        if self.config.config_json is not None and self.config.config_json.is_file():
            config = json.loads(self.config.config_json.read_text())
        result = self.record.result(
            run_id=self.config.run_dir.name,
            mode=self.config.mode,
            executor=self.config.executor_class,
            config=config,
            started_at=utc_now_text(self.started_ns),
            ended_at=utc_now_text(),
            exit_reason=exit_reason,
            eos_from=sorted(self.eos_from),
        )
        write_json_atomically(self.config.run_dir / "result.json", result)
        self.run_log.write(f"[recorder] result.json written: {exit_reason}\n")
        self.run_log.close()
        return result


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = RecorderConfig.from_args(argv, os.environ)
        config.run_dir.mkdir(parents=True, exist_ok=True)
    except (ConfigError, OSError) as e:
        print(f"recorder: {e}", file=sys.stderr)
        return 2
    stop = install_stop_flag()
    with zmq.Context() as ctx:
        try:
            with (
                sockets.log_collector(ctx, config.logs) as logs,
                sockets.subscriber(ctx, config.ticks, [b""], lossless=True) as ticks,
                sockets.subscriber(ctx, config.predictions, [b""], lossless=True) as predictions,
                sockets.subscriber(ctx, config.events, [b""], lossless=True) as events,
                sockets.progress_pusher(ctx, config.progress) as progress,
            ):
                log_socket = setup_logging("recorder", ctx, config.logs)
                recorder = Recorder(
                    ctx,
                    config,
                    {"ticks": ticks, "predictions": predictions, "events": events, "logs": logs},
                    ProgressReporter(progress, config.name),
                )
                reason = "crashed"  # what result.json says if run() raises
                try:
                    reason = recorder.run(stop)
                finally:
                    result = recorder.finish(reason)
                    if log_socket is not None:
                        log_socket.close()
                print(
                    f"recorder: {result['exit_reason']}: {config.run_dir / 'result.json'}",
                    file=sys.stderr,
                )
                stay_until_stopped(stop, config.stay_after_eos)
                return 0
        except ConfigError as e:
            print(f"recorder: {e}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
