"""Socket policy and the readiness handshake, on real loopback sockets."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import zmq

from common import sockets, wire
from common.errors import ConfigError, HandshakeTimeout
from common.messages import Hello, Ready, ReadyAck, Tick
from tests.conftest import scaled
from tests.factories import make_tick, replace


def _endpoint(sock: zmq.Socket) -> str:
    return sock.getsockopt(zmq.LAST_ENDPOINT).decode()


def test_handshake_makes_100k_ticks_lossless_to_a_late_subscriber(zmq_ctx: zmq.Context) -> None:
    """A subscriber that connects after the publisher bound still gets every tick, in order."""
    pub = sockets.publisher(zmq_ctx, "tcp://127.0.0.1:*", lossless=True)
    ready = sockets.ready_replier(zmq_ctx, "tcp://127.0.0.1:*")
    received: list[int] = []
    errors: list[BaseException] = []
    sub_ready = threading.Event()

    def consume() -> None:
        try:
            sub = sockets.subscriber(zmq_ctx, _endpoint(pub), [wire.TICK_PREFIX], lossless=True)
            with sub:
                early = sockets.report_ready(
                    zmq_ctx, sub, _endpoint(ready), "model", timeout_s=scaled(10)
                )
                assert early == []
                sub_ready.set()
                while len(received) < 100_000 and sub.poll(int(scaled(10) * 1000)):
                    _topic, payload = sub.recv_multipart()
                    tick = wire.decode(payload)
                    assert isinstance(tick, Tick)
                    received.append(tick.seq)
        except BaseException as e:  # surfaced in the main thread below
            errors.append(e)

    consumer = threading.Thread(target=consume)
    consumer.start()  # starts after the publisher bound: the slow-joiner case
    try:
        sockets.wait_for_subscribers(pub, ready, ["model"], source="feed", timeout_s=scaled(10))
        base = make_tick()
        topic = wire.tick_topic(base.symbol)
        for seq in range(1, 100_001):
            pub.send(topic, zmq.SNDMORE)
            pub.send(wire.encode(replace(base, seq=seq)))
        consumer.join(scaled(60))
    finally:
        pub.close(linger=0)
        ready.close()
    assert not errors, errors
    assert sub_ready.is_set()
    assert received == list(range(1, 100_001))


def test_handshake_times_out_naming_the_missing_subscriber(zmq_ctx: zmq.Context) -> None:
    """Nobody answering is a HandshakeTimeout that lists who is missing."""
    with (
        sockets.publisher(zmq_ctx, "tcp://127.0.0.1:*") as pub,
        sockets.ready_replier(zmq_ctx, "tcp://127.0.0.1:*") as ready,
    ):
        with pytest.raises(HandshakeTimeout) as caught:
            sockets.wait_for_subscribers(
                pub, ready, ["model", "recorder"], source="feed", timeout_s=0.2
            )
    assert caught.value.missing == ["model", "recorder"]


def test_report_ready_times_out_without_a_publisher(zmq_ctx: zmq.Context, tmp_path: Path) -> None:
    """A subscriber waiting for a publisher that never probes gives up in time."""
    addr = f"ipc://{tmp_path}/absent"
    with sockets.subscriber(zmq_ctx, addr, [wire.TICK_PREFIX]) as sub:
        with pytest.raises(HandshakeTimeout):
            sockets.report_ready(zmq_ctx, sub, f"ipc://{tmp_path}/ready", "model", timeout_s=0.2)


def test_push_to_an_absent_puller_does_not_block(zmq_ctx: zmq.Context, tmp_path: Path) -> None:
    """With no executor bound, every target is refused at once rather than queued."""
    with sockets.target_pusher(zmq_ctx, f"ipc://{tmp_path}/targets") as push:
        results = [sockets.push_nowait(push, b"target") for _ in range(1000)]
    assert results == [False] * 1000


def test_push_reaches_a_puller_that_binds_later(zmq_ctx: zmq.Context, tmp_path: Path) -> None:
    """When the executor comes back, the next target gets through."""
    addr = f"ipc://{tmp_path}/targets"
    with sockets.target_pusher(zmq_ctx, addr) as push:
        assert sockets.push_nowait(push, b"dropped") is False
        with sockets.target_puller(zmq_ctx, addr) as pull:
            delivered = False
            for _ in range(int(scaled(500))):
                if sockets.push_nowait(push, b"next"):
                    delivered = True
                    break
                pull.poll(10)  # wait for the reconnect, bounded
            assert delivered
            assert pull.poll(int(scaled(5) * 1000))
            assert pull.recv() == b"next"


def test_bind_to_a_taken_address_is_a_config_error(zmq_ctx: zmq.Context) -> None:
    """A port already in use is reported as configuration, naming the address."""
    with sockets.publisher(zmq_ctx, "tcp://127.0.0.1:*") as first:
        taken = _endpoint(first)
        with pytest.raises(ConfigError, match=taken):
            sockets.publisher(zmq_ctx, taken)


def test_live_publisher_keeps_a_high_water_mark_and_replay_lifts_it(zmq_ctx: zmq.Context) -> None:
    """Live mode prefers freshness (bounded queue); replay must never drop."""
    with (
        sockets.publisher(zmq_ctx, "tcp://127.0.0.1:*") as live,
        sockets.publisher(zmq_ctx, "tcp://127.0.0.1:*", lossless=True) as replay,
    ):
        assert live.getsockopt(zmq.SNDHWM) == sockets.LIVE_HWM
        assert replay.getsockopt(zmq.SNDHWM) == 0


def _garbage_then_ready(
    ctx: zmq.Context, ready_addr: str, request: list[bytes], replies: list[object]
) -> None:
    """A plain REQ sends `request`; then the real subscriber says ready (its answer is kept too)."""
    with ctx.socket(zmq.REQ) as req:
        req.setsockopt(zmq.LINGER, 0)
        req.connect(ready_addr)
        req.send_multipart(request)
        if req.poll(int(scaled(5) * 1000)):
            reply = req.recv_multipart()
            replies.append(wire.decode(reply[0]) if len(reply) == 1 else reply)
    replies.append(sockets.answer_hello(ctx, ready_addr, "model", timeout_s=scaled(5)))


@pytest.mark.parametrize(
    "request_frames",
    [
        [b"model", b"extra"],  # two frames: unanswered, this once crashed the feed (EFSM)
        [b"model"],  # the old raw name: not a payload
        [b"\xc1"],  # not msgpack
        [wire.encode(Hello(source="model", ts_ns=1))],  # a message, but not a Ready
    ],
)
def test_a_bad_ready_request_is_refused_and_the_handshake_goes_on(
    zmq_ctx: zmq.Context, tmp_path: Path, request_frames: list[bytes]
) -> None:
    """Garbage on the ready socket gets a refusing ReadyAck; the real Ready still counts."""
    ready_addr = f"ipc://{tmp_path}/ready"
    replies: list[object] = []
    with (
        sockets.publisher(zmq_ctx, f"ipc://{tmp_path}/ticks") as pub,
        sockets.ready_replier(zmq_ctx, ready_addr) as ready,
    ):
        peer = threading.Thread(
            target=_garbage_then_ready, args=(zmq_ctx, ready_addr, request_frames, replies)
        )
        peer.start()
        try:
            assert sockets.wait_for_subscribers(
                pub, ready, ["model"], source="feed", timeout_s=scaled(10)
            )
        finally:
            peer.join(scaled(15))
    assert len(replies) == 2, replies
    refusal, answered = replies
    assert isinstance(refusal, ReadyAck)
    assert (refusal.source, refusal.accepted) == ("feed", False)
    assert answered is True


def test_acknowledge_ready_accepts_a_ready_naming_its_source() -> None:
    """The pure core: a one-frame Ready is accepted and names who is ready."""
    name, ack = sockets.acknowledge_ready([wire.encode(Ready(source="recorder"))], "feed")
    assert name == "recorder"
    assert ack == ReadyAck(source="feed", accepted=True)


def test_answer_hello_is_false_when_the_publisher_refuses(
    zmq_ctx: zmq.Context, tmp_path: Path
) -> None:
    """A ReadyAck with accepted=False is not an acknowledgement."""
    ready_addr = f"ipc://{tmp_path}/ready"
    answered: list[bool] = []
    with sockets.ready_replier(zmq_ctx, ready_addr) as ready:
        asker = threading.Thread(
            target=lambda: answered.append(
                sockets.answer_hello(zmq_ctx, ready_addr, "model", timeout_s=scaled(5))
            )
        )
        asker.start()
        try:
            assert ready.poll(int(scaled(5) * 1000))
            assert isinstance(wire.decode(ready.recv()), Ready)
            ready.send(wire.encode(ReadyAck(source="feed", accepted=False, detail="test")))
        finally:
            asker.join(scaled(10))
    assert answered == [False]


def test_recv_message_takes_two_frames_as_bytes_and_skips_any_other_framing_whole(
    zmq_ctx: zmq.Context,
) -> None:
    """One frame or three are None with all their frames read; the next message is intact."""
    with zmq_ctx.socket(zmq.PULL) as pull, zmq_ctx.socket(zmq.PUSH) as push:
        pull.bind("inproc://recv-message")
        push.connect("inproc://recv-message")
        push.send(b"alone")
        push.send_multipart([b"tick.X", b"payload", b"extra", b"more"])
        push.send_multipart([b"tick.X", b"payload"])
        assert pull.poll(int(scaled(5) * 1000))
        assert sockets.recv_message(pull) is None
        assert sockets.recv_message(pull) is None
        message = sockets.recv_message(pull)
        assert message == (b"tick.X", b"payload")
        assert all(type(frame) is bytes for frame in message)
        with pytest.raises(zmq.Again):
            sockets.recv_message(pull, zmq.NOBLOCK)
