"""A fake Kraken WebSocket v2 server: a real `websockets` server on 127.0.0.1.

It plays the real captured frames in tests/fixtures/kraken/ (status, acks,
the BTC/USD depth-10 book snapshot and its 509 updates, a trade) and can
misbehave on command, per connection (0 = first): drop the connection,
go silent, corrupt a checksum, send garbage, refuse a symbol. `paced=True`
sends book updates only as the test allows them (`allow(n)`), so a long test
meets the 509 updates as it needs them, whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from tests.conftest import FIXTURES
from venues.kraken.ws.book import Book

KRAKEN = FIXTURES / "kraken"


def load_book_fixture() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    data = json.loads((KRAKEN / "pks_book_btcusd_d10_2023-07-30.json").read_text())
    return data["init"], data["updates"]


def load_frames() -> list[str]:
    return (KRAKEN / "krakenapi_frames_btcusd_2026-03-15.jsonl").read_text().splitlines()


@dataclass
class Misbehaviour:
    drop_after_updates: dict[int, int] = field(default_factory=dict)
    silent_after_updates: dict[int, int] = field(default_factory=dict)
    corrupt_update: dict[int, int] = field(default_factory=dict)  # update index to corrupt
    garbage_after_snapshot: list[str] = field(default_factory=list)
    reject_symbols: set[str] = field(default_factory=set)


class FakeKrakenServer:
    """Start with `with FakeKrakenServer(...) as server:`; `server.url` is ws://127.0.0.1:PORT."""

    def __init__(self, misbehaviour: Misbehaviour | None = None, *, paced: bool = False) -> None:
        self.misbehaviour = misbehaviour or Misbehaviour()
        self.allowance: int | None = 0 if paced else None  # None: updates flow freely
        self._allowed = threading.Condition()
        self._closing = False
        self.init, self.updates = load_book_fixture()
        self.frames = load_frames()
        self.connections = 0
        self.requests: list[dict[str, Any]] = []
        self.sent_updates = 0  # position in the update stream, across connections
        self.release = threading.Event()  # book data waits for this
        self.release.set()
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeKrakenServer:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("fake Kraken server did not start")
        return self

    def allow(self, updates: int) -> None:
        """Paced: let `updates` more book updates go out."""
        with self._allowed:
            self.allowance = (self.allowance or 0) + updates
            self._allowed.notify_all()

    def _take_allowance(self) -> bool:
        with self._allowed:
            while not self._closing:
                if self.allowance is None or self.allowance > 0:
                    if self.allowance is not None:
                        self.allowance -= 1
                    return True
                self._allowed.wait(0.5)
            return False

    def __exit__(self, *exc: object) -> None:
        with self._allowed:
            self._closing = True
            self._allowed.notify_all()
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = self._loop.create_future()
        async with serve(self._handle, "127.0.0.1", 0) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._started.set()
            await self._stop

    async def _handle(self, ws: ServerConnection) -> None:
        index = self.connections
        self.connections += 1
        await ws.send(self.frames[0])  # the status frame Kraken sends on connect
        try:
            async for raw in ws:
                request = json.loads(raw)
                self.requests.append({"connection": index, **request})
                if await self._answer(ws, index, request) == "hang":
                    await ws.wait_closed()
                    return
        except Exception:  # the client went away mid-stream; nothing to clean up
            return

    async def _answer(self, ws: ServerConnection, index: int, request: dict[str, Any]) -> str:
        params = request.get("params", {})
        channel = params.get("channel")
        for symbol in params.get("symbol", []):
            if symbol in self.misbehaviour.reject_symbols:
                await ws.send(
                    json.dumps(
                        {
                            "error": f"Currency pair not supported {symbol}",
                            "method": "subscribe",
                            "success": False,
                            "symbol": symbol,
                            "req_id": request.get("req_id"),
                        }
                    )
                )
                continue
            result = {"channel": channel, "symbol": symbol, "snapshot": True}
            await ws.send(
                json.dumps(
                    {
                        "method": request["method"],
                        "result": result,
                        "success": True,
                        "req_id": request.get("req_id"),
                    }
                )
            )
        if request["method"] != "subscribe":
            return "ok"
        if channel == "trade":
            await ws.send(self.frames[5])
        elif channel == "book" and "BTC/USD" in params.get("symbol", []):
            return await self._stream_book(ws, index)
        return "ok"

    async def _stream_book(self, ws: ServerConnection, index: int) -> str:
        await asyncio.to_thread(self.release.wait)
        await ws.send(json.dumps(self._snapshot_at(self.sent_updates)))
        for garbage in self.misbehaviour.garbage_after_snapshot:
            await ws.send(garbage)
        sent_here = 0
        while self.sent_updates < len(self.updates):
            if self.misbehaviour.drop_after_updates.get(index) == sent_here:
                await ws.close()
                return "hang"
            if self.misbehaviour.silent_after_updates.get(index) == sent_here:
                return "hang"
            if self.allowance is not None and not await asyncio.to_thread(self._take_allowance):
                return "hang"
            update = self.updates[self.sent_updates]
            if self.misbehaviour.corrupt_update.get(index) == self.sent_updates:
                update = json.loads(json.dumps(update))
                update["data"][0]["checksum"] ^= 1
                self.sent_updates += 1
                await ws.send(json.dumps(update))
                return "ok"  # the client must now resubscribe to get a new snapshot
            await ws.send(json.dumps(update))
            self.sent_updates += 1
            sent_here += 1
        return "ok"

    def _snapshot_at(self, position: int) -> dict[str, Any]:
        """The book after `position` updates, as a snapshot with its checksum."""
        if position == 0:
            return self.init
        book = Book(10, 1, 8)
        for message in [self.init, *self.updates[:position]]:
            entry = message["data"][0]
            book.apply(_levels(entry["bids"]), _levels(entry["asks"]))
        return {
            "channel": "book",
            "type": "snapshot",
            "data": [
                {
                    "symbol": "BTC/USD",
                    "bids": [
                        {"price": float(p), "qty": float(book.bids[p])}
                        for p in sorted(book.bids, reverse=True)
                    ],
                    "asks": [
                        {"price": float(p), "qty": float(book.asks[p])} for p in sorted(book.asks)
                    ],
                    "checksum": book.checksum(),
                }
            ],
        }


def _levels(levels: list[dict[str, Any]]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(str(level["price"])), Decimal(str(level["qty"]))) for level in levels]
