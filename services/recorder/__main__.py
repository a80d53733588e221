"""The recorder: ``python -m services.recorder --run-dir DIR``.

Subscribes to ticks, predictions, execution events and every service's logs,
and writes the run's artifacts in DIR: `ticks.gz` (a tick file, replayable),
`events.jsonl` (decisions and execution events), `run.log` (all services'
log lines) and `result.json` (written atomically when the run ends for any
reason). It joins the feed's readiness handshake only once a probe has
reached it on every data socket, so nothing upstream starts before it can
record (with several `--predictions` addresses, one per model process: a
probe through each). It finishes on `eos` from every source in `--expect-eos`, or on
SIGINT/SIGTERM (exit reason `interrupted`). Never on the hot path: it only
listens. Resumed (`--resume`), it appends to the run's files and never
overwrites them (`resumed.py`); a resumed replay starts again from tick 1,
and what ticks.gz already holds is not written again.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import zmq

from common import sockets
from common.alerts import AlertSender
from common.errors import ConfigError
from common.logs import format_log_frames, utc_now_text
from common.messages import EventBatch
from common.metrics import serve_metrics
from common.service import Inbox, ServiceSpec, serve
from common.tickfile import TickFileWriter, new_header
from services.recorder.alerting import RunAlerts
from services.recorder.artifacts import RunRecord, write_json_atomically
from services.recorder.dashboard import serve_dashboard
from services.recorder.dashboard_state import DashboardState
from services.recorder.dispatch import Dispatch
from services.recorder.metrics import RecorderMetrics
from services.recorder.outputs import GuardedFile
from services.recorder.reconcile import found_in_events, journal_entries
from services.recorder.recorder_config import RecorderConfig
from services.recorder.resumed import continue_ticks, recorded_fills
from services.recorder.run_summary import summary_lines

if TYPE_CHECKING:
    ZSocket: TypeAlias = zmq.Socket[bytes]
    ZContext: TypeAlias = zmq.Context[ZSocket]

log = logging.getLogger("services.recorder")

POLL_MS: Final = 100
FRAMES_PER_TURN: Final = 1024
# run.log, events.jsonl and ticks.gz reach the disk at least this often, so a
# person or a tool can watch a run as it goes (a flush per line would cost a
# fast replay; buffered, a quiet run's files stayed empty for minutes).
FLUSH_EVERY_S: Final = 1.0
# After the last eos, the services' last log lines (sent just before their eos, on
# the log socket) are waited for until it is this quiet, and never longer than LAST_WORDS_S.
LAST_WORDS_QUIET_S: Final = 0.1
LAST_WORDS_S: Final = 1.0


class Recorder:
    """Moves bytes from the sockets to the `Dispatch` and run.log; writes result.json at the end."""

    def __init__(
        self, config: RecorderConfig, inbox: Inbox, socks: dict[str, ZSocket], logs: ZSocket
    ) -> None:
        self.config, self.inbox, self.socks, self.logs = config, inbox, socks, logs
        self.started_ns = time.time_ns()
        folder = config.run_dir
        header = new_header(config.venue, config.symbols, "paper-live run", self.started_ns)
        # Level 1: the recorder must keep up with a fast replay; size matters less.
        # Each survives a full disk: one line names the file, the run goes on (outputs.py).
        fills: set[tuple[str, int, int, float]] = set()
        if config.resume:
            ticks = continue_ticks(folder, header)
            fills = recorded_fills(folder)
        else:
            ticks = TickFileWriter(folder / "ticks.gz", header, compresslevel=1)
        self.ticks_file = GuardedFile(folder / "ticks.gz", ticks)
        # Binary: event lines come from the JSON encoder as UTF-8 bytes, written as they are.
        events_mode = "ab" if config.resume else "wb"
        self.events_file = GuardedFile(
            folder / "events.jsonl", open(folder / "events.jsonl", events_mode)
        )
        self.run_log = GuardedFile(folder / "run.log", open(folder / "run.log", "a"))
        self._note(
            f"run {folder.name}: mode {config.mode}, executor {config.executor_class}, "
            f"venue {config.venue}, symbols {','.join(config.symbols)}",
            self.started_ns,
        )
        # A resumed replay sends the file again from tick 1: what is held is not written twice.
        recorded_ticks = ticks.count if config.resume and config.replay is not None else 0
        if config.resume:
            self._note(
                f"run resumed at tick {ticks.count + 1}: ticks.gz holds {ticks.count:,} ticks, "
                f"events.jsonl {len(fills):,} fills; appending"
            )
        self.dispatch = Dispatch(
            RunRecord(),
            write_ticks=self.ticks_file.write_encoded_many,
            write_events=self.events_file.write,
            on_tick_seq=inbox.progress.handled,
            expect_eos=frozenset(config.expect_eos),
            recorded_ticks=recorded_ticks,
            recorded_fills=fills,
        )

        self.alerts = run_alerts(config)
        # Kept only while served: with --disable-metrics nothing would ever read them.
        self.metrics: RecorderMetrics | None = None
        self.dashboard: DashboardState | None = None
        if not config.disable_metrics:
            self.metrics = RecorderMetrics(self.dispatch.record, folder)
            self.dashboard = DashboardState(
                self.dispatch.record, run_id=folder.name, settings=dashboard_settings(config)
            )
            serve_dashboard(self.dashboard, host=config.metrics_host, port=config.dashboard_port)
            serve_metrics(
                self.metrics.collect,
                host=config.metrics_host,
                port=config.metrics_port,
                allow_remote=config.allow_remote,
            )

    def run(self, stop: threading.Event) -> int:
        reason = "crashed"  # what result.json says if the loop raises
        try:
            reason = self._receive(stop)
        finally:
            result = self.finish(reason)
        if result is None:
            return 1
        print(
            f"recorder: {result['exit_reason']}: {self.config.run_dir / 'result.json'}",
            file=sys.stderr,
        )
        return 1 if result.get("incomplete_artifacts") else 0

    def _receive(self, stop: threading.Event) -> str:
        poller = zmq.Poller()
        for sock in (*self.socks.values(), self.logs):
            poller.register(sock, zmq.POLLIN)
        names = {sock: name for name, sock in self.socks.items()}
        next_flush = time.monotonic() + FLUSH_EVERY_S
        # Locals: the loop below runs once per message (one per tick, unbatched).
        dispatch, metrics, dashboard = self.dispatch, self.metrics, self.dashboard
        alerts, messages, clock_ns = self.alerts, self.inbox.messages, time.time_ns
        expect_eos = set(self.config.expect_eos)
        while not stop.is_set():
            for sock, _ in poller.poll(POLL_MS):
                if sock is self.logs:
                    self._drain_logs()
                    continue
                for received, payload in messages(sock, names[sock], FRAMES_PER_TURN):
                    arrival_ns = clock_ns()
                    # An `EventBatch`'s events each as if it had come alone.
                    for message in received.events if type(received) is EventBatch else (received,):
                        recorded = dispatch.on_message(message, payload, arrival_ns)
                        if metrics is not None:
                            metrics.on_message(message, arrival_ns)
                        if recorded and dashboard is not None:  # a resent fill is shown once
                            dashboard.on_message(message, arrival_ns)
                        if alerts is not None:
                            alerts.on_message(message, time.monotonic())
                dispatch.write_pending()  # the turn's ticks and event lines, in one write each
            self.inbox.progress.idle()
            if alerts is not None:
                alerts.check(time.monotonic())
            if time.monotonic() >= next_flush:
                self.flush_files()
                next_flush = time.monotonic() + FLUSH_EVERY_S
            if dispatch.eos_from >= expect_eos:
                self._drain_last_words()
                return "completed"
        return "interrupted"

    def flush_files(self) -> None:
        """Put what was written so far on disk, whole lines and a tick file that reads cleanly."""
        self.run_log.flush()
        self.events_file.flush()
        self.ticks_file.flush()  # ends a gzip member

    def _drain_last_words(self) -> None:
        """The services' last lines (their summaries, logged just before their eos, but on
        another socket, so still in flight now and then): taken until the log socket has
        been quiet `LAST_WORDS_QUIET_S`, at most `LAST_WORDS_S`.

        One drain at the last eos kept them only when they happened to be in
        already: the faster the recorder, the more often a summary was lost.
        """
        deadline = time.monotonic() + LAST_WORDS_S
        while True:
            self._drain_logs()
            left = deadline - time.monotonic()
            if left <= 0 or not self.logs.poll(int(min(LAST_WORDS_QUIET_S, left) * 1000)):
                return

    def _drain_logs(self) -> None:
        for _ in range(FRAMES_PER_TURN):
            try:
                line = format_log_frames(self.logs.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                return
            if line is None:
                self.inbox.count_malformed("log_frames")
            else:
                self.run_log.write(line + "\n")
                if self.dashboard is not None:
                    self.dashboard.on_log(line[1 : line.index("]")], time.time_ns())

    def _note(self, text: str, now_ns: int | None = None) -> None:
        """A line of the recorder's own, straight into run.log, stamped like every other."""
        self.run_log.write(f"[recorder] {utc_now_text(now_ns)} INFO {log.name}: {text}\n")

    def reconcile_with_journal(self) -> None:
        """Add what the executor journaled and published but never reached us (`reconcile.py`).

        Never in the way of result.json: a journal or events.jsonl that cannot
        be read leaves what it holds unrecovered, and says so.
        """
        try:
            entries, complete = journal_entries(self.config.run_dir)
            recovered = self.dispatch.recover(entries, self._found_in_events, look_up=not complete)
        except OSError as e:
            log.error("cannot reconcile with the journal: %s", e)
            return
        if recovered:
            kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(recovered.items()))
            self._note(f"{recovered.total()} events recovered from the journal ({kinds})")

    def _found_in_events(self, wanted: set[tuple[object, ...]]) -> set[tuple[object, ...]]:
        self.events_file.flush()  # what it holds is read back: a write may fail here too
        if self.events_file.failed is not None:
            # It took no line since it failed, though the events were counted: adding
            # them again would count them twice, and the file would drop them anyway.
            return wanted
        return found_in_events(self.config.run_dir / "events.jsonl", wanted)

    def finish(self, exit_reason: str) -> dict[str, Any] | None:
        """Close the artifacts and write result.json; None if it could not be written."""
        # A turn an error cut short: what it counted reaches the files too.
        self.dispatch.write_pending()
        if self.alerts is not None:
            self.alerts.close()  # what the run's last messages raised goes out first
        self.reconcile_with_journal()
        self.ticks_file.close()
        self.events_file.close()
        config: dict[str, Any] = {}
        if self.config.config_json is not None and self.config.config_json.is_file():
            config = json.loads(self.config.config_json.read_text())
        rejected = self.inbox.rejected() | {"unexpected_source": self.dispatch.unexpected_source}
        self.dispatch.record.rejected = {reason: n for reason, n in rejected.items() if n}
        result = self.dispatch.record.result(
            run_id=self.config.run_dir.name,
            mode=self.config.mode,
            executor=self.config.executor_class,
            config=config,
            started_at=utc_now_text(self.started_ns),
            ended_at=utc_now_text(),
            exit_reason=exit_reason,
            eos_from=sorted(self.dispatch.eos_from),
        )
        lost = {
            f.path.name: f.failed
            for f in (self.ticks_file, self.events_file, self.run_log)
            if f.failed is not None
        }
        if lost:
            result["incomplete_artifacts"] = lost
        try:
            write_json_atomically(self.config.run_dir / "result.json", result)
        except OSError as e:
            log.error("cannot write %s: %s", self.config.run_dir / "result.json", e.strerror or e)
            self.run_log.close()
            return None
        for line in summary_lines(result):
            self._note(line)
        self._note(f"result.json written: {exit_reason}")
        if self.dashboard is not None:
            self.dashboard.ended = exit_reason
        self.run_log.close()
        return result


def dashboard_settings(config: RecorderConfig) -> dict[str, Any]:
    """The run's settings for the page: the runner's config.json (public), else the recorder's."""
    settings: dict[str, Any] = {
        "mode": config.mode,
        "executor": config.executor_class,
        "venue": config.venue,
        "symbols": ",".join(config.symbols),
    }
    if config.config_json is not None and config.config_json.is_file():
        try:
            settings |= json.loads(config.config_json.read_text())
        except (OSError, ValueError) as e:
            log.warning("dashboard: cannot read %s: %s", config.config_json, e)
    return settings


def run_alerts(config: RecorderConfig) -> RunAlerts | None:
    if config.alert_webhook is None:
        return None
    sender = AlertSender(
        config.alert_webhook.reveal(),
        run_id=config.run_dir.name,
        min_interval_s=config.alert_interval_s,
        telegram_chat_id=config.alert_telegram_chat_id,
    )
    return RunAlerts(sender, feed_down_after_s=config.alert_feed_down_s)


def _configure(argv: Sequence[str] | None, environ: Mapping[str, str]) -> RecorderConfig:
    config = RecorderConfig.from_args(argv, environ)
    try:
        config.run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--run-dir {config.run_dir}: {e.strerror}") from None
    return config


def data_inputs(config: RecorderConfig) -> dict[str, str]:
    """One SUB per data address, by name: `predictions` is one per model process when several.

    One socket per address, not one socket connected to all: the readiness
    probe must come through each, and the probes every model forwards are
    the same bytes, so only the socket it arrived on tells them apart.
    """
    inputs = {"ticks": config.ticks}
    several = len(config.predictions) > 1
    for address in config.predictions:
        inputs[f"predictions {address}" if several else "predictions"] = address
    inputs["events"] = config.events
    return inputs


def _open(ctx: ZContext, config: RecorderConfig, resources: ExitStack) -> Recorder:
    logs = resources.enter_context(sockets.log_collector(ctx, config.logs))
    socks = {
        name: resources.enter_context(sockets.subscriber(ctx, address, [b""], lossless=True))
        for name, address in data_inputs(config).items()
    }
    progress = resources.enter_context(sockets.progress_pusher(ctx, config.progress))
    # It says ready only once probes came through every data socket (each
    # model's predictions included): nothing upstream starts before it can record.
    inbox = Inbox(
        ctx, name=config.name, ready_addr=config.ready, progress=progress, hello_on=tuple(socks)
    )
    return Recorder(config, inbox, socks, logs)


SPEC: Final = ServiceSpec(name="recorder", configure=_configure, open=_open)


def main(argv: Sequence[str] | None = None) -> int:
    return serve(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
