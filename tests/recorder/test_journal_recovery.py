"""The recorder's end of a run against the executor's journal: what was journaled but never
published (a kill -9 between the journal's write and the socket) still reaches events.jsonl."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import msgspec
import zmq

from common import sockets
from common.journal import JOURNAL_FILES, SESSION_STARTED, Journal
from common.messages import Eos, RiskEvent
from tests.conftest import small_filesystem
from tests.factories import T0_NS, make_cancel, make_fill, make_order, make_rejection
from tests.recorder.rig import recorder_and_events

SESSION_MARK = RiskEvent(kind=SESSION_STARTED, symbol=None, detail="paper", ts_ns=T0_NS)
BREAKER = RiskEvent(kind="circuit_breaker_tripped", symbol=None, detail="loss", ts_ns=T0_NS + 9)
PUBLISHED = [make_order(1), make_rejection(2), make_fill(order_id="o-1", ts_ns=T0_NS + 3)]
# The last turn before a kill -9: journaled, never sent.
NEVER_SENT = [
    make_order(4),
    make_rejection(5, ts_ns=T0_NS + 5),
    make_fill(order_id="o-4", ts_ns=T0_NS + 6),
    make_cancel(order_id="o-4", ts_ns=T0_NS + 7),
    BREAKER,
]
JOURNALED = [*PUBLISHED, *NEVER_SENT]


def _identity(event: dict[str, object]) -> tuple[object, ...]:
    """An event line's class, order, kind and time."""
    return (event["type"], event.get("order_id"), event.get("kind"), event["ts_ns"])


def test_journaled_events_that_never_arrived_are_written_once_at_the_end(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """Orders, rejections, cancels, fills and risk events the journal has and the socket
    never brought are added to events.jsonl once; the journal's session marks are not."""
    with recorder_and_events(tmp_path, zmq_ctx) as (recorder, events):
        config = recorder.config
        journal = Journal(config.run_dir / JOURNAL_FILES["paper"])
        journal.append_many([SESSION_MARK, *JOURNALED])
        journal.close()
        sockets.publish_events(events, PUBLISHED)
        for source in config.expect_eos:
            sockets.publish(events, Eos(source=source, last_seq=0, ts_ns=1))
        assert recorder._receive(threading.Event()) == "completed"
        recorder.finish("completed")

    lines = (config.run_dir / "events.jsonl").read_text().splitlines()
    written = sorted(_identity(json.loads(line)) for line in lines)
    assert written == sorted(_identity(_as_line(event)) for event in JOURNALED)


def _as_line(event: msgspec.Struct) -> dict[str, object]:
    return {"type": type(event).__name__, **msgspec.structs.asdict(event)}


def test_on_a_full_disk_events_that_arrived_are_not_counted_again(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """events.jsonl stopped taking lines (ENOSPC, for real): what arrived was counted
    though not written, so it must not look missing and be counted twice."""
    with (
        small_filesystem(tmp_path / "run", "size=64k") as run_dir,
        recorder_and_events(tmp_path, zmq_ctx) as (recorder, events),
    ):
        journal = Journal(run_dir / JOURNAL_FILES["paper"])
        journal.append_many([SESSION_MARK, *JOURNALED])
        journal.close()
        _fill(run_dir / "filler")
        sockets.publish_events(events, PUBLISHED)
        for source in recorder.config.expect_eos:
            sockets.publish(events, Eos(source=source, last_seq=0, ts_ns=1))
        assert recorder._receive(threading.Event()) == "completed"
        recorder.finish("completed")
        assert recorder.events_file.failed is not None
    record = recorder.dispatch.record
    assert (record.orders, dict(record.rejections), record.fills) == (1, {"rate_limit": 1}, 2)


def _fill(path: Path) -> None:
    """Write until the filesystem is full."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            return
