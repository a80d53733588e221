"""The recorder on real sockets: events that came as `EventBatch`es are recorded exactly as
the same events sent one by one."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import zmq

from common import sockets
from common.messages import Eos, Message
from tests.factories import make_fill, make_rejection, one_of_each
from tests.recorder.rig import recorder_and_events


def _record(tmp_path: Path, zmq_ctx: zmq.Context, send: str) -> tuple[list[str], dict]:
    """Run a recorder on the events below, published one by one or batched; its lines, counts."""
    tmp_path.mkdir()
    order, position = one_of_each()[4], one_of_each()[9]
    happened: list[Message] = [
        *[make_rejection(n) for n in range(3)],
        order,
        make_fill(),
        position,
        make_fill(),  # the same fill again (a restarted executor): recorded once
        make_fill(order_id="o-2"),
        *[make_rejection(n) for n in range(3, 5)],
    ]
    with recorder_and_events(tmp_path, zmq_ctx) as (recorder, events):
        if send == "batched":
            sockets.publish_events(events, happened)
        else:
            for event in happened:
                sockets.publish(events, event)
        for source in recorder.config.expect_eos:
            sockets.publish(events, Eos(source=source, last_seq=0, ts_ns=1))
        assert recorder.run(threading.Event()) in (0, 1)
    config = recorder.config
    lines = (config.run_dir / "events.jsonl").read_text().splitlines()
    return lines, json.loads((config.run_dir / "result.json").read_text())["counts"]


def test_batched_events_are_recorded_as_the_same_events_one_by_one(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    one_by_one = _record(tmp_path / "single", zmq_ctx, "single")
    batched = _record(tmp_path / "batched", zmq_ctx, "batched")
    lines, counts = batched
    assert len(lines) == 9 and counts["fills"] == 2 and counts["rejections"] == {"rate_limit": 5}
    assert batched == one_by_one
