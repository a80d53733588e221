"""Every ZeroMQ socket the project uses is built here, with its whole policy.

| builder           | type | end     | high-water mark     | linger      | other              |
|-------------------|------|---------|---------------------|-------------|--------------------|
| `publisher`       | PUB  | bind    | none* / 10k         | 30 s* / 2 s | eos gets out       |
| `subscriber`      | SUB  | connect | none* / 10k         | 0           | topic prefixes     |
| `target_pusher`   | PUSH | connect | none* / 16          | 30 s* / 0   | IMMEDIATE, NOBLOCK |
| `target_puller`   | PULL | bind    | none* / 1000        | 0           |                    |
| `log_publisher`   | PUB  | connect | 10k                 | 1 s         | `common.logs`      |
| `log_collector`   | SUB  | bind    | none                | 0           | all topics         |
| `progress_puller` | PULL | bind    | default             | 0           | replay flow control |
| `progress_pusher` | PUSH | connect | 16                  | 0           | IMMEDIATE, NOBLOCK |

(* lossless, i.e. a replay; otherwise the second figure.)

Why: PUB drops at its mark and SUB does too, so a lossless replay lifts both;
live mode keeps a mark and prefers fresh data. A PUSH blocks when no peer can
take a message, so targets go out with `IMMEDIATE` (never queued for an absent
executor) and `NOBLOCK` (a refused target is dropped and counted; the next one
supersedes it). Long-lived ends bind; the executor binds the targets PULL so it
can be restarted. Transient sockets close with a bounded linger so a dead peer
never hangs shutdown. A lossless sender lingers longer: a stage that finishes
first (the model, after its eos) must not throw away what a slower, living peer
has still to read (the last targets, the eos itself); a dead peer's queue is
dropped at once whatever the linger.

Who may connect: an ipc socket's file is made 0600 in a folder created 0700,
so only this user reaches it; a tcp socket is a CURVE socket whenever the
process called `use_curve` (every service does when given `--curve-keys`, and
refuses tcp without it unless told `--insecure-tcp`): see `common.curve`.

Readiness (no sleeps against the slow-joiner problem): before data flows, a
publisher sends `Hello` probes; each expected subscriber, once it has received
one, sends a `Ready` naming itself on a REQ/REP side channel (`ready_addr`), so
its data path is proven, not assumed. Only then does the publisher send data.
Both directions are one-frame wire payloads: the REQ sends `Ready(source)`, the
REP answers every request with a `ReadyAck` (a REP must answer what it
received, or it can never receive again). A request that is not one decodable
`Ready` frame (garbage, another message, several frames) gets
`ReadyAck(accepted=False)`, is logged and does not count; the handshake goes on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeAlias

import zmq

if TYPE_CHECKING:
    ZSocket: TypeAlias = zmq.Socket[bytes]
    ZContext: TypeAlias = zmq.Context[ZSocket]

from common import ipc_folder, wire
from common.curve import CountingAuthenticator, CurveKeys
from common.errors import ConfigError, HandshakeTimeout, WireError
from common.messages import Hello, Message, Ready, ReadyAck

log = logging.getLogger(__name__)

LIVE_HWM: Final = 10_000
TARGET_SEND_HWM: Final = 16
TARGET_RECV_HWM: Final = 1_000
PUB_LINGER_MS: Final = 2_000
LOSSLESS_LINGER_MS: Final = 30_000
LOG_LINGER_MS: Final = 1_000
HELLO_INTERVAL_S: Final = 0.02
# pyzmq's compiled send, under its Python `Socket.send` (`sender`).
_send_frame: Final = zmq.backend.Socket.send
# The CURVE keys (and authenticator) of each context that uses them: `use_curve`.
_CURVE: Final[weakref.WeakKeyDictionary[ZContext, tuple[CurveKeys, CountingAuthenticator]]] = (
    weakref.WeakKeyDictionary()
)


def publisher(ctx: ZContext, addr: str, *, lossless: bool = False) -> ZSocket:
    """Bind a PUB socket; `lossless` lifts the high-water mark (replay)."""
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.SNDHWM, 0 if lossless else LIVE_HWM)
    sock.setsockopt(zmq.LINGER, LOSSLESS_LINGER_MS if lossless else PUB_LINGER_MS)
    return _bind(sock, addr)


def subscriber(
    ctx: ZContext, addr: str, topics: Iterable[bytes], *, lossless: bool = False
) -> ZSocket:
    """Connect a SUB socket to `addr`, subscribed to each topic prefix."""
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.RCVHWM, 0 if lossless else LIVE_HWM)
    sock.setsockopt(zmq.LINGER, 0)
    for prefix in topics:
        sock.setsockopt(zmq.SUBSCRIBE, prefix)
    return _connect(sock, addr)


def target_pusher(ctx: ZContext, addr: str, *, lossless: bool = False) -> ZSocket:
    """Connect the model's PUSH to the executor; use `push_nowait` to send.

    `lossless` (replay) lifts the mark so a connected but busy executor still
    gets every target; with no executor connected, targets are refused either way.
    """
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.IMMEDIATE, 1)
    sock.setsockopt(zmq.SNDHWM, 0 if lossless else TARGET_SEND_HWM)
    sock.setsockopt(zmq.LINGER, LOSSLESS_LINGER_MS if lossless else 0)
    return _connect(sock, addr)


def target_puller(ctx: ZContext, addr: str, *, lossless: bool = False) -> ZSocket:
    """Bind the executor's PULL (the executor binds so it can restart).

    `lossless`: no mark. At a mark, ZeroMQ stops reading the connection, and
    when the model then exits, whatever was still unread in it is dropped.
    """
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.RCVHWM, 0 if lossless else TARGET_RECV_HWM)
    sock.setsockopt(zmq.LINGER, 0)
    return _bind(sock, addr)


def log_publisher(ctx: ZContext, addr: str) -> ZSocket:
    """Connect a service's log XPUB to the collector (the recorder binds).

    An XPUB sends what a PUB sends, and also receives the collector's
    subscription: `common.logs.CollectorHandler` holds records back until then.
    """
    sock = ctx.socket(zmq.XPUB)
    sock.setsockopt(zmq.SNDHWM, LIVE_HWM)
    sock.setsockopt(zmq.LINGER, LOG_LINGER_MS)
    return _connect(sock, addr)


def log_collector(ctx: ZContext, addr: str) -> ZSocket:
    """Bind the SUB that every service's log records arrive on."""
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    return _bind(sock, addr)


def progress_puller(ctx: ZContext, addr: str) -> ZSocket:
    """Bind the PULL a replaying feed reads its subscribers' progress on (`common.flow`)."""
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.LINGER, 0)
    return _bind(sock, addr)


def progress_pusher(ctx: ZContext, addr: str) -> ZSocket:
    """Connect the PUSH a subscriber reports progress on; with no feed there, reports vanish."""
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.SNDHWM, TARGET_SEND_HWM)
    sock.setsockopt(zmq.IMMEDIATE, 1)
    sock.setsockopt(zmq.LINGER, 0)
    return _connect(sock, addr)


def publish(sock: ZSocket, message: Message) -> None:
    """Send one message as ``[topic, payload]`` on a PUB socket.

    Two `send` calls rather than `send_multipart`: same framing, a fraction of
    the cost (ARCHITECTURE.md, performance facts).
    """
    publish_encoded(sock, wire.topic(message), wire.encode(message))


def publish_events(sock: ZSocket, events: Sequence[Message]) -> None:
    """Publish messages in order, each run of execution events of one topic as one message.

    `wire.event_frames` says how; a subscriber reads the same events in the same order.
    """
    for topic, payload in wire.event_frames(events):
        publish_encoded(sock, topic, payload)


def publish_encoded(sock: ZSocket, topic: bytes, payload: bytes) -> None:
    """`publish` for a payload already in wire bytes (a replay's file, a forwarded probe)."""
    _send_frame(sock, topic, zmq.SNDMORE)
    _send_frame(sock, payload)


def sender(sock: ZSocket) -> Callable[..., object]:
    """`sock.send(frame, flags)` for a loop that sends a frame or two per tick.

    pyzmq's `Socket.send` is a Python layer (routing ids, groups) that passes
    its arguments on by keyword: half of a small frame's sending cost (about
    0.55 of 1.1 us measured). Its base, pyzmq's compiled `send`, is what it
    ends in for a plain bytes frame.
    """
    return _send_frame.__get__(sock)  # type: ignore[no-any-return]


def recv_message(sock: ZSocket, flags: int = 0) -> tuple[bytes, bytes] | None:
    """Receive one ``[topic, payload]`` message; None (all its frames read) if not two frames.

    Two `recv` calls, each frame's `more` flag telling the framing: what
    `recv_multipart` gives, at a fraction of its cost (it builds a list, and
    asks `RCVMORE` through `getsockopt`, which converts the option to an enum
    on every call: that cost ~1.5 us a message, more than the frames' copies).
    Raises `zmq.Again` with `zmq.NOBLOCK` when nothing is queued.
    """
    topic = sock.recv(flags, copy=False)
    if not topic.more:
        return None
    payload = sock.recv(copy=False)
    if payload.more:
        while sock.recv(copy=False).more:
            pass
        return None
    return topic.bytes, payload.bytes


def push_nowait(sock: ZSocket, payload: bytes) -> bool:
    """Send one frame without blocking; False when no peer could take it."""
    try:
        sock.send(payload, zmq.NOBLOCK)
    except zmq.Again:
        return False
    return True


def wait_for_subscribers(
    pub: ZSocket,
    ready: ZSocket,
    expected: Sequence[str],
    *,
    source: str,
    timeout_s: float,
    stop: threading.Event | None = None,
) -> bool:
    """Send `Hello` on `pub` until every name in `expected` has said ready.

    Args:
        pub: the data publisher (already bound).
        ready: a bound REP socket (see `ready_replier`); every request on it
            gets a `ReadyAck`, a refusal when it is not a `Ready`.
        expected: subscriber names, e.g. ``["model", "recorder"]``.
        source: this publisher's name, carried in the probe.
        timeout_s: how long to wait in all.
        stop: when set (SIGINT/SIGTERM), give up at once.

    Returns:
        True when all are ready, False when `stop` was set first.

    Raises:
        HandshakeTimeout: naming the subscribers that never answered.
    """
    missing = set(expected)
    deadline = time.monotonic() + timeout_s
    poller = zmq.Poller()
    poller.register(ready, zmq.POLLIN)
    while missing:
        if stop is not None and stop.is_set():
            return False
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            raise HandshakeTimeout(sorted(missing), timeout_s)
        publish(pub, Hello(source=source, ts_ns=time.time_ns()))
        # The poll paces the probes and returns at once when a peer answers.
        if poller.poll(int(min(HELLO_INTERVAL_S, remaining_s) * 1000)):
            # Every frame of the request is read before the reply: a REP that
            # answers with frames still unread fails (EFSM) and is stuck.
            name, ack = acknowledge_ready(ready.recv_multipart(), source)
            ready.send(wire.encode(ack))
            if name is None:
                log.warning("ready request refused: %s", ack.detail)
            else:
                missing.discard(name)
    return True


def acknowledge_ready(request: Sequence[bytes], source: str) -> tuple[str | None, ReadyAck]:
    """Read one request's frames from the ready socket; return who is ready and the reply.

    Returns:
        The subscriber's name, or None when the request is not one `Ready`
        frame, with the `ReadyAck` to send back either way.
    """
    if len(request) != 1:
        return None, ReadyAck(
            source=source, accepted=False, detail=f"{len(request)} frames, expected 1"
        )
    try:
        message = wire.decode(request[0])
    except WireError as e:
        return None, ReadyAck(source=source, accepted=False, detail=str(e))
    if not isinstance(message, Ready):
        return None, ReadyAck(
            source=source, accepted=False, detail=f"{type(message).__name__}, expected Ready"
        )
    return message.source, ReadyAck(source=source, accepted=True)


def ready_replier(ctx: ZContext, addr: str) -> ZSocket:
    """Bind the REP socket subscribers report ready on."""
    sock = ctx.socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 0)
    return _bind(sock, addr)


def report_ready(
    ctx: ZContext, sub: ZSocket, ready_addr: str, name: str, *, timeout_s: float
) -> list[tuple[bytes, bytes]]:
    """Wait for a `Hello` on `sub`, then tell the publisher `name` is ready.

    `sub` is subscribed to `hello` for the duration. Any other frames that
    arrive first are returned, in order, so the caller loses nothing.

    Raises:
        HandshakeTimeout: no probe, or no answer on `ready_addr`, in time.
    """
    deadline = time.monotonic() + timeout_s
    early: list[tuple[bytes, bytes]] = []
    sub.setsockopt(zmq.SUBSCRIBE, wire.HELLO_TOPIC)
    try:
        while not _received_hello(sub, deadline, early):
            if time.monotonic() >= deadline:
                raise HandshakeTimeout([f"hello for {name}"], timeout_s)
    finally:
        sub.setsockopt(zmq.UNSUBSCRIBE, wire.HELLO_TOPIC)
    if not answer_hello(ctx, ready_addr, name, timeout_s=max(_ms_until(deadline) / 1000, 0.001)):
        raise HandshakeTimeout([f"ready reply for {name}"], timeout_s)
    return early


def answer_hello(ctx: ZContext, ready_addr: str, name: str, *, timeout_s: float) -> bool:
    """Send `Ready(name)` to the publisher at `ready_addr`; True once it accepted it.

    A service calls this when a `Hello` reaches its subscriber in its own loop.
    False when no reply came in time, or the reply is not an accepting `ReadyAck`.
    """
    with ctx.socket(zmq.REQ) as req:
        req.setsockopt(zmq.LINGER, 0)
        _connect(req, ready_addr)
        req.send(wire.encode(Ready(source=name)))
        if not req.poll(int(timeout_s * 1000)):
            return False
        reply = req.recv_multipart()
    try:
        ack = wire.decode(reply[0]) if len(reply) == 1 else None
    except WireError:
        ack = None
    return isinstance(ack, ReadyAck) and ack.accepted


def _received_hello(sub: ZSocket, deadline: float, early: list[tuple[bytes, bytes]]) -> bool:
    if not sub.poll(_ms_until(deadline)):
        return False
    parts = sub.recv_multipart()
    if len(parts) != 2:
        return False  # not our framing; the caller's decoder will count it later
    topic, payload = parts
    if topic != wire.HELLO_TOPIC:
        early.append((topic, payload))
        return False
    try:
        return isinstance(wire.decode(payload), Hello)
    except WireError:
        return False


def _ms_until(deadline: float) -> int:
    return max(0, int((deadline - time.monotonic()) * 1000))


def use_curve(ctx: ZContext, keys: CurveKeys) -> CountingAuthenticator:
    """Make every tcp socket built on `ctx` from now on a CURVE socket; start its authenticator.

    Binding ends become CURVE servers, connecting ends CURVE clients of the
    deployment's server key; the returned authenticator admits only the
    client keys in `keys.authorized` (the caller stops it before the context ends).
    """
    authenticator = CountingAuthenticator(ctx)
    authenticator.start()
    authenticator.configure_curve(domain="*", location=str(keys.authorized))
    _CURVE[ctx] = (keys, authenticator)
    return authenticator


def refused_peers(ctx: ZContext) -> int:
    """How many peers failed CURVE authentication on `ctx`'s sockets so far."""
    entry = _CURVE.get(ctx)
    return entry[1].denied if entry is not None else 0


def _bind(sock: ZSocket, addr: str) -> ZSocket:
    try:
        _secure(sock, addr, server=True)
        ipc_path = _held_ipc_path(addr)
        if ipc_path is not None:
            _bind_private_ipc(sock, ipc_path)
        else:
            sock.bind(addr)
    except ConfigError:
        sock.close(linger=0)
        raise
    except (zmq.ZMQError, OSError) as e:
        sock.close(linger=0)
        raise ConfigError(f"cannot bind {addr}: {e}") from e
    return sock


def _held_ipc_path(addr: str) -> Path | None:
    """The real path of an `ipc://` address's socket file, its folder held private
    (made if missing); None for other transports.

    The socket is bound or connected at this path, not the address's own: a
    symlink on the way is followed once, while checked, and never again.

    Raises:
        ConfigError: an abstract socket (`ipc://@name`): it has no file, so
            nothing stops another local user from connecting or binding it;
            or a folder another user could write in (`ipc_folder.hold_private`).
    """
    if not addr.startswith("ipc://"):
        return None
    if addr.startswith("ipc://@"):
        raise ConfigError(
            f"{addr}: an abstract ipc socket is open to every local user; "
            "use a file address (ipc:///path) or tcp with CURVE keys"
        )
    path = Path(addr.removeprefix("ipc://"))
    return ipc_folder.hold_private(path.parent) / path.name


def _bind_private_ipc(sock: ZSocket, path: Path) -> None:
    # Only this user may connect: the folder is this user's alone (`_held_ipc_path`),
    # and the socket file is born 0600. ZeroMQ creates it with the process umask
    # (often 0755); a chmod after the bind left a moment where it was not. The
    # umask is the process's, so it is restored at once (binds happen at start-up).
    old_umask = os.umask(0o177)
    try:
        sock.bind(f"ipc://{path}")
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)  # whatever umask a platform's ZeroMQ ignores


def _secure(sock: ZSocket, addr: str, *, server: bool) -> None:
    entry = _CURVE.get(sock.context)
    if entry is None or not addr.startswith("tcp://"):
        return  # ipc: the folder and file modes keep other users out
    keys = entry[0]
    if server:
        sock.curve_secretkey = keys.server_secret
        sock.curve_publickey = keys.server_public
        sock.curve_server = True
    else:
        sock.curve_secretkey = keys.client_secret
        sock.curve_publickey = keys.client_public
        sock.curve_serverkey = keys.server_public


def _connect(sock: ZSocket, addr: str) -> ZSocket:
    try:
        _secure(sock, addr, server=False)
        ipc_path = _held_ipc_path(addr)  # the folder this user's alone, before any connection
        sock.connect(addr if ipc_path is None else f"ipc://{ipc_path}")
    except ConfigError:
        sock.close(linger=0)
        raise
    except (zmq.ZMQError, OSError) as e:
        sock.close(linger=0)
        raise ConfigError(f"cannot connect to {addr}: {e}") from e
    return sock


def control_replier(ctx: ZContext, addr: str) -> ZSocket:
    """Bind a runner's control REP (an ipc file: only the run's user can connect)."""
    sock = ctx.socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 0)
    return _bind(sock, addr)


def control_requester(ctx: ZContext, addr: str) -> ZSocket:
    """Connect a REQ to a runner's control socket (one request, one reply)."""
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    return _connect(sock, addr)
