"""The one shape of a service process, and the one way it receives.

Every `services/*/__main__.py` is a `ServiceSpec` handed to `serve`:

1. `configure(argv, environ)` builds the config and checks everything that
   can be wrong before a socket exists (a `ConfigError` or another of the
   spec's `usage_errors`): exit 2 with one line, `<service>: <problem>`.
2. SIGINT/SIGTERM only set a stop flag; one `zmq.Context`; the log socket.
3. `open(ctx, config, resources)` opens the sockets (each registered on the
   `ExitStack`, so they close in reverse, with bounded linger, however the
   run ends) and returns the service's loop.
4. glibc's mmap threshold is fixed (`common.allocator`: freed large buffers
   leave resident memory); the start-up's objects are frozen out of the garbage collector
   (`gc.freeze`), young objects are collected less often
   (`GC_YOUNG_THRESHOLD`), then `loop.run(stop)` is the only `while` loop; its
   return value is the exit code. With `--stay-after-eos` the process then waits for SIGTERM
   (Procfile runners stop everyone when one process exits).
5. A `StartupFailed` raised while opening (e.g. the venue refused the live
   executor's reconciliation) is exit 1 with one line.

`Inbox` is every service's receiving side: it takes `[topic, payload]`
messages (or single frames) off a socket without blocking (or, for a
service with one input, waiting for the first up to the socket's
`RCVTIMEO`), decodes them,
counts malformed input by reason (with a rate-limited warning), answers the
readiness `Hello` (forwarding it downstream first) and owns the service's
replay `ProgressReporter`. Only what is left, the service's own messages,
reaches the loop.
"""

from __future__ import annotations

import gc
import itertools
import logging
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Generic, Protocol, TypeAlias, TypeVar

import zmq

from common import sockets, wire
from common.allocator import fix_mmap_threshold
from common.config import ServiceSettings
from common.curve import load_keys
from common.errors import ConfigError, PipelineError, WireError
from common.flow import ProgressReporter
from common.logs import RateLimited, setup_logging
from common.messages import Hello, Message
from common.signals import install_stop_flag, stay_until_stopped

if TYPE_CHECKING:
    ZSocket: TypeAlias = zmq.Socket[bytes]
    ZContext: TypeAlias = zmq.Context[ZSocket]

log = logging.getLogger(__name__)

HELLO_REPLY_TIMEOUT_S = 2.0
# Allocations between two collections of the youngest generation (CPython's
# default is 700). A loop's objects die young by reference counting; what a
# collection scans is mostly still in use: in a batched replay the executor
# spent 34 ms of 844 in 208 collections, 10 ms in 5 at this threshold.
GC_YOUNG_THRESHOLD = 20_000
_POLLIN: Final = int(zmq.POLLIN)


class StartupFailed(PipelineError):
    """The service could not start for a reason found only at run time (exit 1)."""


class Loop(Protocol):
    def run(self, stop: threading.Event) -> int:
        """Run until done or `stop` is set; return the exit code."""
        ...


class ServiceConfig(Protocol):
    @property
    def logs(self) -> str: ...

    @property
    def curve_keys(self) -> Path | None: ...

    @property
    def stay_after_eos(self) -> bool: ...


ConfigT = TypeVar("ConfigT", bound=ServiceConfig)


@dataclass
class Prepared:
    """A service's config and what was checked with it before any socket (a model, a journal).

    A service whose `configure` returns more than its config subclasses this,
    so `serve` still finds the settings it needs (`ServiceConfig`).
    """

    config: ServiceSettings

    @property
    def logs(self) -> str:
        return self.config.logs

    @property
    def stay_after_eos(self) -> bool:
        return self.config.stay_after_eos

    @property
    def curve_keys(self) -> Path | None:
        return self.config.curve_keys


@dataclass(frozen=True)
class ServiceSpec(Generic[ConfigT]):
    """What makes one service: its name, how it is configured, how it opens its loop."""

    name: str  # the stderr prefix, the log topic, the handshake default
    configure: Callable[[Sequence[str] | None, Mapping[str, str]], ConfigT]
    open: Callable[[ZContext, ConfigT, ExitStack], Loop]
    usage_errors: tuple[type[Exception], ...] = (ConfigError,)


def serve(
    spec: ServiceSpec[ConfigT],
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run one service process from its spec; return its exit code (0, 1 or 2)."""
    try:
        config = spec.configure(argv, os.environ if environ is None else environ)
        keys = load_keys(config.curve_keys) if config.curve_keys is not None else None
    except spec.usage_errors as e:
        return _fail(spec.name, e, 2)
    stop = install_stop_flag()
    fix_mmap_threshold()  # before the buffers of the run (see common/allocator.py)
    with zmq.Context() as ctx:
        # Before any socket: every tcp socket of this context is then a CURVE one.
        authenticator = sockets.use_curve(ctx, keys) if keys is not None else None
        log_socket = setup_logging(spec.name, ctx, config.logs)
        try:
            with ExitStack() as resources:
                loop = spec.open(ctx, config, resources)
                # Start-up's objects (the imports, a model) never become garbage:
                # out of the collector's way, so no full collection while data
                # flows scans them again (one pass over them: 55-100 ms in the
                # model on the loaded 2-core box).
                gc.collect()
                gc.freeze()
                gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
                code = loop.run(stop)
                stay_until_stopped(stop, config.stay_after_eos)
                return code
        except spec.usage_errors as e:  # e.g. an address already bound
            return _fail(spec.name, e, 2)
        except StartupFailed as e:
            log.error("%s", e)
            return _fail(spec.name, e, 1)
        finally:
            if log_socket is not None:
                log_socket.close()
            if authenticator is not None:
                authenticator.stop()


def _fail(name: str, error: Exception, code: int) -> int:
    print(f"{name}: {error}", file=sys.stderr)
    return code


def _more_queued(sock: ZSocket) -> bool:
    """Asked after a first message: one is often all there is (a paced rate, a batched
    replay's wake-ups, an execution event), and asking is cheaper than the `zmq.Again`
    a receive raises; past the second, the queue is deep: receive until `Again`.

    Asked by `zmq_poll` with no wait, not by `sock.get(zmq.EVENTS)`: the same
    libzmq test, but pyzmq's `get` turns every option into its enum first
    (~1.9 vs ~3.4 us hot; a raised `Again` ~5-6).
    """
    return bool(zmq.zmq_poll([(sock, _POLLIN)], 0))


class Inbox:
    """A service's receiving side: decode, count malformed input, answer hellos, report progress.

    Args:
        ctx: the process's context (the hello answer is a short-lived REQ).
        name: the service's name in the readiness handshake and progress reports.
        ready_addr: where the feed's readiness REP listens.
        progress: the service's progress PUSH (replay flow control).
        hello_on: the inputs a `Hello` must reach before this service says ready
            (the recorder waits until probes came through every data socket).
        forward_hello: sockets a received `Hello` is passed on to, so the next
            stage downstream sees the probe too.
        needs_peer: outputs that must be connected to their peer before this
            service says ready (the model's targets PUSH in a lossless replay:
            with IMMEDIATE it refuses a target while unconnected). Until then a
            probe goes unanswered and the feed's next one asks again.
        on_ready: called once the handshake is answered. (Records logged
            before the log collector joined are held by `CollectorHandler`
            until it does, so nothing needs saying twice.)
    """

    def __init__(
        self,
        ctx: ZContext,
        *,
        name: str,
        ready_addr: str,
        progress: ZSocket,
        hello_on: Collection[str] = ("market",),
        forward_hello: Sequence[ZSocket] = (),
        needs_peer: Sequence[ZSocket] = (),
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.ctx, self.name, self.ready_addr = ctx, name, ready_addr
        self.progress = ProgressReporter(progress, name)
        self.malformed: Counter[str] = Counter()
        self.hello_on = frozenset(hello_on)
        self.forward_hello = forward_hello
        self.needs_peer = needs_peer
        self.on_ready = on_ready
        self.hello_seen: set[str] = set()
        self.answered = False
        self._warning = RateLimited()

    def messages(
        self, sock: ZSocket, source: str, limit: int, *, wait: bool = False
    ) -> Iterator[tuple[Message, bytes]]:
        """Up to `limit` queued `[topic, payload]` messages, decoded, with their payloads.

        Never blocks, unless `wait`: then it waits for the first message up to
        the socket's `RCVTIMEO` (none came: no messages). Malformed ones are
        counted and skipped, hellos answered.
        """
        flags = 0 if wait else zmq.NOBLOCK
        for n in range(limit):
            if n == 1 and not _more_queued(sock):
                return
            try:
                frames = sockets.recv_message(sock, flags)
            except zmq.Again:
                return
            flags = zmq.NOBLOCK
            if frames is None:
                self.count_malformed("framing")
                continue
            message = self.decode(frames[1])
            if message is None:
                continue
            if type(message) is Hello:
                self.on_hello(source, frames[1])
                continue
            yield message, frames[1]

    def frames(self, sock: ZSocket) -> Iterator[Message]:
        """Every queued single-frame message (the targets socket), decoded; never blocks."""
        for n in itertools.count():
            if n == 1 and not _more_queued(sock):
                return
            try:
                # A frame, whose `more` flag is read off it: asking `RCVMORE` through
                # `getsockopt` cost ~2 us more a message (`sockets.recv_message`).
                frame = sock.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            if frame.more:
                while sock.recv(copy=False).more:
                    pass
                self.count_malformed("framing")
                continue
            message = self.decode(frame.bytes)
            if message is not None:
                yield message

    def decode(self, payload: bytes) -> Message | None:
        """The message in `payload`, or None (counted by reason) if it is not one."""
        try:
            return wire.decode(payload)
        except WireError as e:
            self.count_malformed(e.reason, e)
            return None

    def rejected(self) -> dict[str, int]:
        """Input refused so far, by reason: malformed messages and unauthenticated peers."""
        return {
            "malformed": sum(self.malformed.values()),
            "unauthenticated": sockets.refused_peers(self.ctx),
        }

    def count_malformed(self, reason: str, error: Exception | None = None) -> None:
        self.malformed[reason] += 1
        if self._warning.ready():
            log.warning("skipped malformed message (%s): %s", reason, error or "")

    def on_hello(self, source: str, payload: bytes) -> None:
        """Pass the probe on; say ready once probes have come through every input we wait on."""
        for sock in self.forward_hello:
            sockets.publish_encoded(sock, wire.HELLO_TOPIC, payload)
        self.hello_seen.add(source)
        if self.answered or not self.hello_seen >= self.hello_on:
            return
        # Writable only once connected (IMMEDIATE) and with room (lossless: no mark).
        if not all(sock.poll(0, zmq.POLLOUT) for sock in self.needs_peer):
            return
        self.progress.joined()  # a (re)joining service must not hold the replay to the past
        self.answered = sockets.answer_hello(
            self.ctx, self.ready_addr, self.name, timeout_s=HELLO_REPLY_TIMEOUT_S
        )
        log.info("ready for the replay handshake as %r", self.name)
        if self.on_ready is not None:
            self.on_ready()
