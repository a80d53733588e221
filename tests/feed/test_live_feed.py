"""The feed process against a fake Kraken WS v2 server; we read what ZeroMQ delivers."""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import zmq

from common import sockets, wire
from common.messages import Eos, FeedState, FeedStatus, Tick, TickKind
from tests.conftest import free_ports, scaled, wait_until
from tests.fakes.kraken_ws import FakeKrakenServer, Misbehaviour, load_book_fixture
from tests.processes import services

UPDATES = 509


class FeedProbe(threading.Thread):
    """A subscriber named `probe` in the feed's handshake; records ticks, states, eos."""

    def __init__(self, ctx: zmq.Context, folder: Path) -> None:
        super().__init__(daemon=True)
        self.ctx, self.folder = ctx, folder
        self.ticks: list[Tick] = []
        self.statuses: list[FeedStatus] = []
        self.eos: Eos | None = None
        self.error: BaseException | None = None
        self.sub = sockets.subscriber(
            ctx,
            f"ipc://{folder}/ticks",
            [wire.TICK_PREFIX, wire.FEED_STATUS_TOPIC, wire.EOS_TOPIC],
            lossless=True,
        )

    def run(self) -> None:
        try:
            sockets.report_ready(
                self.ctx, self.sub, f"ipc://{self.folder}/ready", "probe", timeout_s=scaled(30)
            )
            while self.eos is None and self.sub.poll(int(scaled(60) * 1000)):
                message = wire.decode(self.sub.recv_multipart()[1])
                if isinstance(message, Tick):
                    self.ticks.append(message)
                elif isinstance(message, FeedStatus):
                    self.statuses.append(message)
                elif isinstance(message, Eos):
                    self.eos = message
        except BaseException as e:  # reported by the test
            self.error = e
        finally:
            self.sub.close()

    def states(self, symbol: str = "BTC/USD") -> list[FeedState]:
        return [s.state for s in self.statuses if s.symbol == symbol]

    def books(self) -> list[tuple[tuple[tuple[float, float], ...], ...]]:
        return [(tuple(t.bids), tuple(t.asks)) for t in self.ticks if t.kind is TickKind.QUOTE]

    def quotes(self) -> list[tuple[float, float, float, float]]:
        return [
            (t.bid, t.bid_size, t.ask, t.ask_size) for t in self.ticks if t.kind is TickKind.QUOTE
        ]  # type: ignore[misc]


Top = tuple[float, float, float, float]
Levels = tuple[tuple[float, float], ...]
BookLevels = tuple[Levels, Levels]  # (bids best first, asks best first)


def reference_books(stop: int = UPDATES) -> list[BookLevels]:
    """Distinct successive depth-10 books over the fixture: one quote tick each."""
    books = books_after_each(stop)
    return [book for i, book in enumerate(books) if i == 0 or book != books[i - 1]]


def reference_tops(stop: int = UPDATES) -> list[Top]:
    """The top of each book of `reference_books`: what each quote tick's bid/ask say."""
    return [_top(book) for book in reference_books(stop)]


def tops_after_each(stop: int = UPDATES) -> list[Top]:
    return [_top(book) for book in books_after_each(stop)]


def _top(book: BookLevels) -> Top:
    (bid, bid_size), (ask, ask_size) = book[0][0], book[1][0]
    return bid, bid_size, ask, ask_size


def books_after_each(stop: int = UPDATES) -> list[BookLevels]:
    """The depth-10 book after the snapshot and after each update (floats, dicts)."""
    init, updates = load_book_fixture()
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    books: list[BookLevels] = []
    for message in [init, *updates[:stop]]:
        entry = message["data"][0]
        for side, levels in ((bids, entry["bids"]), (asks, entry["asks"])):
            for level in levels:
                if level["qty"] == 0:
                    side.pop(level["price"], None)
                else:
                    side[level["price"]] = level["qty"]
        for price in sorted(bids, reverse=True)[10:]:
            del bids[price]
        for price in sorted(asks)[10:]:
            del asks[price]
        books.append(
            (
                tuple((p, bids[p]) for p in sorted(bids, reverse=True)),
                tuple((p, asks[p]) for p in sorted(asks)),
            )
        )
    return books


def _feed_args(folder: Path, url: str, *extra: str) -> list[str]:
    return [
        "--use-ws",
        "--ws-url",
        url,
        "--pub",
        f"ipc://{folder}/ticks",
        "--ready",
        f"ipc://{folder}/ready",
        "--logs",
        f"ipc://{folder}/logs",
        "--expect",
        "probe",
        *extra,
    ]


def _no_health_env() -> dict[str, str]:
    return {**os.environ, "WS_DISABLE_HEALTH_SERVER": "1"}


def _run_feed(
    tmp_path: Path, zmq_ctx: zmq.Context, fake: FakeKrakenServer, *extra: str
) -> tuple[FeedProbe, int, str]:
    probe = FeedProbe(zmq_ctx, tmp_path)
    with services(tmp_path) as group:
        group.start(
            "feed", "services.feed", _feed_args(tmp_path, fake.url, *extra), env=_no_health_env()
        )
        probe.start()
        code = group.wait("feed", 60)
        probe.join(scaled(30))
        output = group.output("feed")
    assert probe.error is None, probe.error
    return probe, code, output


def _run_until_book(
    tmp_path: Path, zmq_ctx: zmq.Context, fake: FakeKrakenServer, book: BookLevels, *extra: str
) -> FeedProbe:
    """Run the feed until `book` is the latest quote's, then SIGTERM it (clean eos, exit 0)."""
    probe = FeedProbe(zmq_ctx, tmp_path)
    with services(tmp_path) as group:
        group.start(
            "feed", "services.feed", _feed_args(tmp_path, fake.url, *extra), env=_no_health_env()
        )
        probe.start()
        wait_until(lambda: bool(probe.books()) and probe.books()[-1] == book, 60, "the final book")
        group.procs["feed"].terminate()
        assert group.wait("feed") == 0
        probe.join(scaled(30))
    assert probe.error is None, probe.error
    return probe


def test_top_of_book_after_every_fixture_update_then_the_trade(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """Each change of the depth-10 book becomes one quote tick carrying it; then the trade; eos."""
    expected = reference_tops()
    with FakeKrakenServer() as fake:
        probe, code, output = _run_feed(
            tmp_path, zmq_ctx, fake, "--max-ticks", str(len(expected) + 1)
        )
    assert code == 0, output
    assert probe.quotes() == expected
    assert probe.books() == reference_books()  # every level, as Kraken's checksummed book
    trade = probe.ticks[-1]
    assert trade.kind is TickKind.TRADE and (trade.last, trade.last_size) == (71749.0, 0.00220616)
    assert [t.seq for t in probe.ticks] == list(range(1, len(expected) + 2))
    assert probe.eos is not None and probe.eos.last_seq == len(expected) + 1
    assert probe.states()[:2] == [FeedState.CONNECTING, FeedState.LIVE]


def test_corrupted_update_discards_the_book_and_resyncs(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """After a checksum mismatch no quote comes from the bad book; a new snapshot resumes."""
    corrupt_at = 200
    before = reference_tops(stop=corrupt_at)
    resync_top = tops_after_each(stop=corrupt_at + 1)[-1]  # Kraken's true book, re-sent
    final_book = reference_books()[-1]
    with FakeKrakenServer(Misbehaviour(corrupt_update={0: corrupt_at})) as fake:
        probe = _run_until_book(tmp_path, zmq_ctx, fake, final_book)
        book_requests = [r["method"] for r in fake.requests if r["params"]["channel"] == "book"]
    quotes = probe.quotes()
    assert quotes[: len(before)] == before  # up to the corruption, exact
    assert quotes[len(before)] == resync_top  # the next quote comes from the new snapshot
    states = probe.states()
    assert states[states.index(FeedState.RESYNCING) + 1] == FeedState.LIVE
    assert book_requests == ["subscribe", "unsubscribe", "subscribe"]
    assert probe.statuses[-1].counters["checksum_failures"] == 1
    assert probe.statuses[-1].counters["resyncs"] == 1


def test_dropped_connection_reconnects_and_resubscribes(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """A drop mid-stream: down, reconnect with backoff, resubscribe, live again, book intact."""
    final_book = reference_books()[-1]
    with FakeKrakenServer(Misbehaviour(drop_after_updates={0: 100})) as fake:
        probe = _run_until_book(tmp_path, zmq_ctx, fake, final_book)
        assert fake.connections == 2
        subscribes = [r for r in fake.requests if r["method"] == "subscribe"]
    states = probe.states()
    assert FeedState.DOWN in states
    assert states[states.index(FeedState.DOWN) :][:3] == [
        FeedState.DOWN,
        FeedState.CONNECTING,
        FeedState.LIVE,
    ]
    # The fake hangs up while streaming the book, before it reads the trade request.
    assert sorted((r["connection"], r["params"]["channel"]) for r in subscribes) == [
        (0, "book"),
        (1, "book"),
        (1, "trade"),
    ]
    assert probe.eos is not None and probe.eos.last_seq == probe.ticks[-1].seq
    assert probe.statuses[-1].counters["reconnects"] >= 1


def test_silent_connection_goes_stale_then_the_watchdog_recycles_it(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """No frame for the watchdog time (heartbeats included): stale, then a new connection."""
    final_book = reference_books()[-1]
    with FakeKrakenServer(Misbehaviour(silent_after_updates={0: 50})) as fake:
        probe = _run_until_book(
            tmp_path, zmq_ctx, fake, final_book, "--watchdog-s", "1.0", "--stale-after-s", "0.4"
        )
        assert fake.connections == 2
    states = probe.states()
    stale = states.index(FeedState.STALE)
    assert states[stale : stale + 4] == [
        FeedState.STALE,
        FeedState.DOWN,
        FeedState.CONNECTING,
        FeedState.LIVE,
    ]


def test_garbage_and_half_frames_are_counted_and_survived(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """Malformed frames after the snapshot are skipped; every quote still arrives."""
    garbage = ["not json", '{"channel":"book","data":[{', "[1,2]"]
    expected = reference_tops()
    with FakeKrakenServer(Misbehaviour(garbage_after_snapshot=garbage)) as fake:
        probe, code, output = _run_feed(
            tmp_path, zmq_ctx, fake, "--max-ticks", str(len(expected) + 1)
        )
    assert code == 0, output
    assert probe.quotes() == expected
    assert probe.statuses[-1].counters["malformed"] == 3


def test_refused_symbol_is_a_clear_error_naming_it(tmp_path: Path, zmq_ctx: zmq.Context) -> None:
    """Kraken refusing ETH/USD ends the feed with exit 1 and one line naming the symbol."""
    with FakeKrakenServer(Misbehaviour(reject_symbols={"ETH/USD"})) as fake:
        probe, code, output = _run_feed(tmp_path, zmq_ctx, fake, "--symbols", "BTC/USD,ETH/USD")
    assert code == 1
    assert "ETH/USD" in output and "Currency pair not supported" in output
    assert probe.eos is not None


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_health_endpoints_follow_the_feed_state(tmp_path: Path, zmq_ctx: zmq.Context) -> None:
    """healthz always 200; readyz 503 until the book is live, then 200; status and metrics."""
    port = free_ports()
    with FakeKrakenServer() as fake:
        fake.release.clear()  # hold the book: the feed is connected but not live
        probe = FeedProbe(zmq_ctx, tmp_path)
        with services(tmp_path) as group:
            group.start(
                "feed", "services.feed", _feed_args(tmp_path, fake.url, "--health-port", str(port))
            )
            probe.start()
            wait_until(lambda: FeedState.CONNECTING in probe.states(), 30, "connecting state")
            assert _get(port, "/healthz")[0] == 200
            assert _get(port, "/readyz")[0] == 503
            fake.release.set()
            wait_until(lambda: _get(port, "/readyz")[0] == 200, 30, "readyz 200 once live")
            wait_until(lambda: len(probe.quotes()) == len(reference_tops()), 30, "every quote")
            status: dict[str, Any] = json.loads(_get(port, "/status")[1])
            assert status["symbols"]["BTC/USD"]["state"] == "live"
            assert status["symbols"]["BTC/USD"]["last_tick_age_s"] >= 0
            assert status["counters"]["ticks"] >= len(reference_tops())
            code, metrics = _get(port, "/metrics")
            assert code == 200
            assert "feed_checksum_failures_total 0.0" in metrics
            assert "feed_ready 1.0" in metrics
            group.procs["feed"].terminate()
            assert group.wait("feed") == 0


def test_health_server_is_off_when_disabled(tmp_path: Path, zmq_ctx: zmq.Context) -> None:
    """WS_DISABLE_HEALTH_SERVER=1: nothing listens on the health port."""
    port = free_ports()
    with FakeKrakenServer() as fake:
        probe = FeedProbe(zmq_ctx, tmp_path)
        with services(tmp_path) as group:
            group.start(
                "feed",
                "services.feed",
                _feed_args(tmp_path, fake.url, "--health-port", str(port)),
                env=_no_health_env(),
            )
            probe.start()
            wait_until(lambda: bool(probe.quotes()), 30, "the first quote")
            with pytest.raises(urllib.error.URLError):
                _get(port, "/healthz")
            group.procs["feed"].terminate()
            assert group.wait("feed") == 0
