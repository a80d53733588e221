"""The Kraken WS v2 connection: connect, subscribe, pump frames, reconnect.

Every connect runs the same steps: clear the books, subscribe, wait for the
snapshots. A dropped connection reconnects after a capped, jittered
exponential backoff (reset once a connection went live); a connection silent
for `watchdog_s` (heartbeats included) is recycled; a checksum mismatch
resubscribes that symbol's book. A refused subscription is fatal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import websockets
from websockets.asyncio.client import ClientConnection, connect

from common.messages import FeedState
from venues.kraken.ws.session import Actions, KrakenSession

log = logging.getLogger(__name__)

RECV_SLICE_S = 0.25  # how often the pump looks at the stop flag and the silence clock


@dataclass(frozen=True)
class ClientSettings:
    url: str
    depth: int
    watchdog_s: float
    stale_after_s: float
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    open_timeout_s: float = 10.0


def backoff_delays(base_s: float, cap_s: float, rng: random.Random) -> Iterator[float]:
    """Full-jitter exponential backoff: uniform(0, min(cap, base * 2**n))."""
    attempt = 0
    while True:
        yield rng.uniform(0, min(cap_s, base_s * 2**attempt))
        attempt = min(attempt + 1, 60)  # 2**attempt past ~1000 would overflow a float


class KrakenClient:
    def __init__(
        self,
        settings: ClientSettings,
        session: KrakenSession,
        emit: Callable[[Actions], bool],
        stop: threading.Event,
        rng: random.Random | None = None,
    ) -> None:
        """`emit` publishes what a frame produced; it returns False to end the run."""
        self.settings, self.session, self.emit, self.stop = settings, session, emit, stop
        self.rng = rng or random.Random()
        self._finished = False
        self._req_id = 0

    async def run(self) -> None:
        """Run until `stop` or `emit` says enough; raises SubscriptionRejected."""
        delays = self._new_backoff()
        while not self._should_end():
            went_live = False
            try:
                async with connect(
                    self.settings.url,
                    open_timeout=self.settings.open_timeout_s,
                    close_timeout=1,
                    ping_interval=None,  # Kraken's heartbeats and our watchdog do this job
                    max_size=2**22,
                ) as ws:
                    went_live = await self._serve(ws)
                    reason = "watchdog: connection silent" if not self._should_end() else "stopping"
            except (OSError, TimeoutError, websockets.WebSocketException) as e:
                reason = f"{type(e).__name__}: {e}"
            self._emit(self.session.on_disconnect(reason))
            if self._should_end():
                return
            log.warning("Kraken connection lost (%s); reconnecting", reason)
            if went_live:
                delays = self._new_backoff()
            self.session.counters.reconnects += 1
            await asyncio.to_thread(self.stop.wait, next(delays))

    def _new_backoff(self) -> Iterator[float]:
        return backoff_delays(self.settings.backoff_base_s, self.settings.backoff_cap_s, self.rng)

    async def _serve(self, ws: ClientConnection) -> bool:
        """Subscribe and pump frames; return whether any book went live."""
        self._emit(self.session.on_connect())
        symbols = list(self.session.symbols)
        await self._subscribe(ws, "book", symbols)
        await self._subscribe(ws, "trade", symbols)
        went_live = False
        last_frame = time.monotonic()
        while not self._should_end():
            try:
                frame = await asyncio.wait_for(ws.recv(), RECV_SLICE_S)
            except TimeoutError:
                silent_s = time.monotonic() - last_frame
                if silent_s >= self.settings.watchdog_s:
                    log.warning("no frame for %.1f s; recycling the connection", silent_s)
                    return went_live
                if silent_s >= self.settings.stale_after_s:
                    self._emit(self.session.on_silence(silent_s))
                continue
            last_frame = time.monotonic()
            actions = self.session.on_frame(frame, time.time_ns())
            went_live = went_live or any(s is FeedState.LIVE for _, s, _ in actions.states)
            self._emit(actions)
            for symbol in actions.resubscribe:
                log.warning("book checksum mismatch on %s; resubscribing", symbol)
                await self._subscribe(ws, "book", [symbol], method="unsubscribe")
                await self._subscribe(ws, "book", [symbol])
        return went_live

    async def _subscribe(
        self, ws: ClientConnection, channel: str, symbols: list[str], method: str = "subscribe"
    ) -> None:
        self._req_id += 1
        params: dict[str, object] = {"channel": channel, "symbol": symbols}
        if channel == "book":
            params["depth"] = self.settings.depth
        await ws.send(json.dumps({"method": method, "params": params, "req_id": self._req_id}))

    def _emit(self, actions: Actions) -> None:
        if not self.emit(actions):
            self._finished = True

    def _should_end(self) -> bool:
        return self._finished or self.stop.is_set()
