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
from common.messages import Eos, Hello, OrderSubmitted, RiskEvent, Side
from common.service import Inbox
from services.recorder.__main__ import Recorder
from tests.factories import T0_NS, make_cancel, make_fill, make_rejection
from tests.recorder.test_last_words import _recorder_inputs, _through


def _order(n: int) -> OrderSubmitted:
    return OrderSubmitted(
        order_id=f"o-{n}",
        target_id=f"t-{n}",
        symbol="BTC/USD",
        side=Side.BUY,
        qty=0.5,
        ref_price=61837.75,
        tick_seq=n,
        ts_ns=T0_NS + n,
    )


SESSION_MARK = RiskEvent(kind=SESSION_STARTED, symbol=None, detail="paper", ts_ns=T0_NS)
BREAKER = RiskEvent(kind="circuit_breaker_tripped", symbol=None, detail="loss", ts_ns=T0_NS + 9)
PUBLISHED = [_order(1), make_rejection(2), make_fill(order_id="o-1", ts_ns=T0_NS + 3)]
# The last turn before a kill -9: journaled, never sent.
NEVER_SENT = [
    _order(4),
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
    config, socks = _recorder_inputs(tmp_path, zmq_ctx)
    journal = Journal(config.run_dir / JOURNAL_FILES["paper"])
    journal.append_many([SESSION_MARK, *PUBLISHED, *NEVER_SENT])
    journal.close()
    events = sockets.publisher(zmq_ctx, config.events, lossless=True)
    logs = sockets.log_collector(zmq_ctx, config.logs)
    progress = sockets.progress_pusher(zmq_ctx, config.progress)
    try:
        _through(
            lambda: sockets.publish(events, Hello(source="t", ts_ns=0)), socks["events"], "events"
        )
        inbox = Inbox(zmq_ctx, name="recorder", ready_addr=config.ready, progress=progress)
        recorder = Recorder(config, inbox, socks, logs)
        sockets.publish_events(events, PUBLISHED)
        for source in config.expect_eos:
            sockets.publish(events, Eos(source=source, last_seq=0, ts_ns=1))
        assert recorder._receive(threading.Event()) == "completed"
        recorder.finish("completed")
    finally:
        for sock in (*socks.values(), events, logs, progress):
            sock.close()

    lines = (config.run_dir / "events.jsonl").read_text().splitlines()
    written = sorted(_identity(json.loads(line)) for line in lines)
    assert written == sorted(_identity(_as_line(event)) for event in JOURNALED)
    assert "5 events recovered from the journal" in (config.run_dir / "run.log").read_text()


def _as_line(event: msgspec.Struct) -> dict[str, object]:
    return {"type": type(event).__name__, **msgspec.structs.asdict(event)}
