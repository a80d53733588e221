"""A live executor *process* against the fake Kraken REST, driven as a feed and a model would.

`Rig` holds the ticks PUB, the readiness REP and the targets PUSH of one
test, the fake venue and the executor processes; `rig` (tests/executor/
conftest.py) builds one per provider, ccxt and krakenex.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import zmq

from common import sockets, wire
from common.config import Secret
from common.journal import JOURNAL_FILES, Journal, JournalEntry
from common.messages import Eos, Tick
from tests.conftest import scaled, wait_until
from tests.executor.test_live_service import KEY, SECRET, _live_args, _live_env
from tests.executor.test_service import EventProbe, _target
from tests.factories import make_tick
from tests.fakes.kraken_rest import FakeKrakenRest
from tests.processes import Services, services
from venues.kraken.pairs import load_pairs
from venues.kraken.rest.live_ccxt import CcxtVenue
from venues.kraken.rest.live_krakenex import KrakenexVenue

PROVIDERS = ("ccxt", "krakenex")


@dataclass
class Rig:
    """The sockets a feed and a model would hold, and the executor processes of one test."""

    ctx: zmq.Context
    folder: Path
    fake: FakeKrakenRest
    provider: str
    group: Services
    pub: zmq.Socket
    ready: zmq.Socket
    push: zmq.Socket
    seq: int = 0

    def start(self, name: str, **env: str) -> EventProbe:
        """Start a live executor; return a probe on its events once both are ready."""
        full_env = {**_live_env(self.fake, self.provider), "PLR_ORDER_SETTLE_S": "0.5", **env}
        self.group.start(name, "services.executor", _live_args(self.folder), env=full_env)
        probe = EventProbe(self.ctx, self.folder)
        probe.start()
        sockets.wait_for_subscribers(
            self.pub, self.ready, ["executor", "probe"], source="test", timeout_s=scaled(30)
        )
        return probe

    def tick(self) -> Tick:
        self.seq += 1
        tick = make_tick(
            seq=self.seq, recv_ts_ns=time.time_ns(), bid=59_999.0, ask=60_001.0, ask_size=1.0
        )
        self.pub.send_multipart([wire.topic(tick), wire.encode(tick)])
        return tick

    def targets(self, *positions: float) -> None:
        """One fresh tick, then targets computed from it, in order, on the model's socket."""
        tick = self.tick()
        for number, position in enumerate(positions):
            target = wire.encode(_target(f"t{self.seq}-{number}", position, tick))
            wait_until(lambda: sockets.push_nowait(self.push, target), 10, "the targets PULL")

    def finish(self, name: str, probe: EventProbe, booked: int) -> str:
        """Once the venue booked `booked` orders, the model's eos; the executor exits 0.

        Live, the model's eos ends the run at once, and a target still waiting
        for its tick (ticks come on another socket) would never act: waiting
        for the last target's order keeps the eos behind it. The executor
        lets orders already sent finish before it exits.
        """
        wait_until(lambda: len(self.fake.orders) >= booked, 20, f"{booked} orders booked")
        self.push.send(wire.encode(Eos(source="model", last_seq=self.seq, ts_ns=time.time_ns())))
        assert self.group.wait(name) == 0, self.group.output(name)
        probe.join(scaled(10))
        return self.group.output(name)

    def journal(self, *entries: JournalEntry) -> None:
        """What a crashed executor left in its journal."""
        (self.folder / "run").mkdir(exist_ok=True)
        journal = Journal(self.folder / "run" / JOURNAL_FILES["live"])
        for entry in entries:
            journal.append(entry)
        journal.close()

    def venue(self) -> CcxtVenue | KrakenexVenue:
        """The same adapter the executor uses, for setting the venue up as a crash left it."""
        if self.provider == "ccxt":
            return CcxtVenue(
                self.fake.url, Secret(KEY), Secret(SECRET), timeout_s=5.0, rate_limit_ms=1
            )
        return KrakenexVenue(
            self.fake.url, Secret(KEY), Secret(SECRET), timeout_s=5.0, pairs=load_pairs()
        )


def make_rig(ctx: zmq.Context, folder: Path, provider: str) -> Iterator[Rig]:
    with ExitStack() as stack:
        fake = stack.enter_context(FakeKrakenRest(KEY, SECRET))
        pub = stack.enter_context(sockets.publisher(ctx, f"ipc://{folder}/ticks", lossless=True))
        ready = stack.enter_context(sockets.ready_replier(ctx, f"ipc://{folder}/ready"))
        push = stack.enter_context(sockets.target_pusher(ctx, f"ipc://{folder}/targets"))
        group = stack.enter_context(services(folder))
        yield Rig(ctx, folder, fake, provider, group, pub, ready, push)
