"""Every service's receiving side (`common.service.Inbox`) on real sockets."""

from __future__ import annotations

import threading
from pathlib import Path

import zmq

from common import sockets, wire
from common.messages import Hello, Watermark
from common.service import Inbox, _more_queued
from tests.conftest import scaled, wait_until
from tests.factories import make_tick


def _pair(ctx: zmq.Context, tmp_path: Path, name: str) -> tuple[zmq.Socket, zmq.Socket]:
    pub = sockets.publisher(ctx, f"ipc://{tmp_path}/{name}", lossless=True)
    sub = sockets.subscriber(ctx, f"ipc://{tmp_path}/{name}", [b""], lossless=True)
    return pub, sub


def _connected(pub: zmq.Socket, sub: zmq.Socket) -> None:
    """Probe until the subscription is through (the slow-joiner problem), then drain."""

    def probe_arrived() -> bool:
        sockets.publish(pub, Hello(source="test", ts_ns=0))
        return sub.poll(10) != 0

    wait_until(probe_arrived, 10, "the subscription")
    while sub.poll(50):
        sub.recv_multipart()


def test_malformed_input_is_counted_by_reason_and_good_messages_still_arrive(
    zmq_ctx: zmq.Context, tmp_path: Path
) -> None:
    """Three frames, bytes that are no message, then a tick: two counted, the tick delivered."""
    pub, sub = _pair(zmq_ctx, tmp_path, "ticks")
    progress = sockets.progress_pusher(zmq_ctx, f"ipc://{tmp_path}/progress")
    inbox = Inbox(zmq_ctx, name="model", ready_addr=f"ipc://{tmp_path}/ready", progress=progress)
    _connected(pub, sub)
    tick = make_tick(seq=7)
    pub.send_multipart([b"tick.X", b"a", b"b"])
    sockets.publish_encoded(pub, b"tick.X", b"\xc1 not msgpack")
    sockets.publish(pub, tick)
    received: list = []

    def tick_arrived() -> bool:
        received.extend(message for message, _ in inbox.messages(sub, "market", 100))
        return bool(received)

    wait_until(tick_arrived, 10, "the tick")
    assert received == [tick]
    assert inbox.malformed == {"framing": 1, "malformed": 1}
    for sock in (pub, sub, progress):
        sock.close()


def test_single_frame_input_counts_bad_framing_and_bad_bytes_and_delivers_the_rest(
    zmq_ctx: zmq.Context, tmp_path: Path
) -> None:
    """The targets socket's side (`Inbox.frames`): three frames, then garbage, then a message."""
    pull = sockets.target_puller(zmq_ctx, f"ipc://{tmp_path}/targets")
    push = sockets.target_pusher(zmq_ctx, f"ipc://{tmp_path}/targets")
    progress = sockets.progress_pusher(zmq_ctx, f"ipc://{tmp_path}/progress")
    inbox = Inbox(zmq_ctx, name="executor", ready_addr=f"ipc://{tmp_path}/ready", progress=progress)
    watermark = Watermark(source="model", tick_seq=7)
    push.send_multipart([b"a", b"b", b"c"])
    push.send(b"\xc1 not msgpack")
    push.send(wire.encode(watermark))
    received: list = []

    def watermark_arrived() -> bool:
        received.extend(inbox.frames(pull))
        return bool(received)

    wait_until(watermark_arrived, 10, "the watermark")
    assert received == [watermark]
    assert inbox.malformed == {"framing": 1, "malformed": 1}
    for sock in (push, pull, progress):
        sock.close()


def test_hello_is_forwarded_and_answered_once_it_came_through_every_input(
    zmq_ctx: zmq.Context, tmp_path: Path
) -> None:
    """The recorder's rule: ready only after probes on all its inputs; each probe passed on."""
    feed_pub = sockets.publisher(zmq_ctx, f"ipc://{tmp_path}/ticks")
    ready = sockets.ready_replier(zmq_ctx, f"ipc://{tmp_path}/ready")
    onward_pub, onward_sub = _pair(zmq_ctx, tmp_path, "onward")
    progress = sockets.progress_pusher(zmq_ctx, f"ipc://{tmp_path}/progress")
    readied: list[bool] = []
    inbox = Inbox(
        zmq_ctx,
        name="recorder",
        ready_addr=f"ipc://{tmp_path}/ready",
        progress=progress,
        hello_on=("ticks", "events"),
        forward_hello=(onward_pub,),
        on_ready=lambda: readied.append(True),
    )
    _connected(onward_pub, onward_sub)
    feed = threading.Thread(  # the feed's side of the handshake, waiting for "recorder"
        target=sockets.wait_for_subscribers,
        args=(feed_pub, ready, ["recorder"]),
        kwargs={"source": "feed", "timeout_s": scaled(10)},
    )
    feed.start()
    payload = wire.encode(Hello(source="feed", ts_ns=1))
    inbox.on_hello("ticks", payload)
    assert not inbox.answered and not readied  # no probe through the events input yet
    assert onward_sub.poll(int(scaled(5) * 1000))
    assert onward_sub.recv_multipart() == [wire.HELLO_TOPIC, payload]
    inbox.on_hello("events", payload)
    feed.join(scaled(10))
    assert inbox.answered and readied == [True] and not feed.is_alive()
    inbox.on_hello("events", payload)  # a later probe is passed on, never answered again
    assert readied == [True]
    for sock in (feed_pub, ready, onward_pub, onward_sub, progress):
        sock.close()


def test_waiting_messages_block_for_the_first_then_take_only_what_is_queued(
    zmq_ctx: zmq.Context, tmp_path: Path
) -> None:
    """`wait=True`: nothing before RCVTIMEO is no messages; then the first ends the wait, and
    whatever was queued behind it follows, without waiting again."""
    pub, sub = _pair(zmq_ctx, tmp_path, "ticks")
    progress = sockets.progress_pusher(zmq_ctx, f"ipc://{tmp_path}/progress")
    inbox = Inbox(zmq_ctx, name="model", ready_addr=f"ipc://{tmp_path}/ready", progress=progress)
    _connected(pub, sub)
    sub.setsockopt(zmq.RCVTIMEO, 20)
    assert list(inbox.messages(sub, "market", 10, wait=True)) == []
    sub.setsockopt(zmq.RCVTIMEO, int(scaled(5) * 1000))
    ticks = [make_tick(seq=seq) for seq in (1, 2, 3)]
    for tick in ticks:
        sockets.publish(pub, tick)
    received = [message for message, _ in inbox.messages(sub, "market", 10, wait=True)]
    while len(received) < len(ticks):  # the last ones may still be on their way
        received += [message for message, _ in inbox.messages(sub, "market", 10, wait=True)]
    assert received == ticks
    sockets.publish(pub, ticks[0])
    assert [m for m, _ in inbox.messages(sub, "market", 10, wait=True)] == [ticks[0]]
    for sock in (pub, sub, progress):
        sock.close()


def test_more_queued_says_what_the_socket_events_say_empty_queued_and_drained(
    zmq_ctx: zmq.Context,
) -> None:
    """The cheap probe (`zmq_poll`, no wait) agrees with `ZMQ_EVENTS` in every state."""
    # inproc: a message sent is queued at the subscriber when `send` returns, so
    # "the second is still queued" is a fact here, not a race with an I/O thread.
    pub = sockets.publisher(zmq_ctx, "inproc://more-queued", lossless=True)
    sub = sockets.subscriber(zmq_ctx, "inproc://more-queued", [b""], lossless=True)
    _connected(pub, sub)

    def agrees(expected: bool) -> None:
        events: int = sub.get(zmq.EVENTS)  # type: ignore[assignment]
        assert _more_queued(sub) is expected
        assert bool(events & zmq.POLLIN) is expected

    agrees(False)
    sockets.publish(pub, make_tick(seq=1))
    sockets.publish(pub, make_tick(seq=2))
    agrees(True)
    sub.recv_multipart()
    agrees(True)  # the second is still queued
    sub.recv_multipart()
    agrees(False)
    for sock in (pub, sub):
        sock.close()


def test_hello_is_answered_only_once_every_output_the_service_needs_has_its_peer(
    zmq_ctx: zmq.Context, tmp_path: Path
) -> None:
    """The model's rule in a lossless replay: not ready before its targets PUSH is connected
    to the executor (with IMMEDIATE, a target sent before that is refused, and was dropped:
    a slow connect lost a replay's first 62 targets). The next probe asks again."""
    ready = sockets.ready_replier(zmq_ctx, f"ipc://{tmp_path}/ready")
    feed_pub = sockets.publisher(zmq_ctx, f"ipc://{tmp_path}/ticks")
    progress = sockets.progress_pusher(zmq_ctx, f"ipc://{tmp_path}/progress")
    targets = sockets.target_pusher(zmq_ctx, f"ipc://{tmp_path}/targets", lossless=True)
    opened = [ready, feed_pub, progress, targets]
    try:
        inbox = Inbox(
            zmq_ctx,
            name="model",
            ready_addr=f"ipc://{tmp_path}/ready",
            progress=progress,
            needs_peer=(targets,),
        )
        payload = wire.encode(Hello(source="feed", ts_ns=1))
        inbox.on_hello("market", payload)
        assert not inbox.answered  # no executor bound yet: nobody would take a target
        opened.append(sockets.target_puller(zmq_ctx, f"ipc://{tmp_path}/targets", lossless=True))
        assert targets.poll(int(scaled(5) * 1000), zmq.POLLOUT)  # the connection is made
        feed = threading.Thread(
            target=sockets.wait_for_subscribers,
            args=(feed_pub, ready, ["model"]),
            kwargs={"source": "feed", "timeout_s": scaled(10)},
        )
        feed.start()
        inbox.on_hello("market", payload)
        feed.join(scaled(10))
        assert inbox.answered and not feed.is_alive()
    finally:
        for sock in opened:
            sock.close()
