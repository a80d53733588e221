"""Replay through the feed process: complete and in order for a late subscriber."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import groupby
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq

from common import sockets, wire
from common.flow import ReplayWindow
from common.messages import Eos, Hello, Tick, TickBatch
from common.tickfile import TickFileReader, TickFileWriter, new_header
from services.feed.position import PositionFile, read_position
from services.feed.replay import Chunk, replay
from tests.conftest import PROJECT_ROOT, scaled
from tests.factories import T0_NS, make_tick
from tests.processes import services

BUNDLED = PROJECT_ROOT / "data" / "binance_btcusdt_spot_2024-08-08_10min.ticks.gz"


@pytest.mark.parametrize("batch", [1, 100])
def test_replay_at_speed_zero_reaches_a_late_subscriber_complete(
    tmp_path: Path, zmq_ctx: zmq.Context, batch: int
) -> None:
    """The subscriber starts after the feed; the handshake makes the replay lossless,
    one tick per message or batched; the position file ends at the last tick sent."""
    position_file = tmp_path / "feed.position"
    with services(tmp_path) as group:
        group.start(
            "feed",
            "services.feed",
            [
                "--replay",
                str(BUNDLED),
                "--speed",
                "0",
                "--replay-batch",
                str(batch),
                "--expect",
                "probe",
                "--pub",
                f"ipc://{tmp_path}/ticks",
                "--ready",
                f"ipc://{tmp_path}/ready",
                "--logs",
                f"ipc://{tmp_path}/logs",
                "--position-file",
                str(position_file),
            ],
        )
        received: list[Tick] = []
        batches = 0
        eos = None
        with sockets.subscriber(
            zmq_ctx, f"ipc://{tmp_path}/ticks", [wire.TICK_PREFIX, wire.EOS_TOPIC], lossless=True
        ) as sub:
            sockets.report_ready(
                zmq_ctx, sub, f"ipc://{tmp_path}/ready", "probe", timeout_s=scaled(30)
            )
            while eos is None and sub.poll(int(scaled(30) * 1000)):
                message = wire.decode(sub.recv_multipart()[1])
                if isinstance(message, Tick):
                    received.append(message)
                elif isinstance(message, TickBatch):
                    received += message.ticks
                    batches += 1
                elif isinstance(message, Eos):
                    eos = message
        assert group.wait("feed") == 0
    with TickFileReader(BUNDLED) as reader:
        recorded = list(reader)
    assert [t.seq for t in received] == list(range(1, 85_176))
    assert received == recorded  # bit for bit, timestamps included
    assert eos is not None and eos.last_seq == 85_175
    assert batches == (0 if batch == 1 else math.ceil(85_175 / batch))  # one symbol
    assert read_position(position_file) == 85_175


def test_replay_of_a_missing_file_is_exit_2_before_any_socket(tmp_path: Path) -> None:
    """A wrong path fails fast with one line."""
    with services(tmp_path) as group:
        group.start("feed", "services.feed", ["--replay", str(tmp_path / "nope.ticks")])
        assert group.wait("feed") == 2
        assert "cannot open" in group.output("feed")


def test_batched_replay_never_mixes_symbols_and_numbers_every_tick(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """A batch is consecutive ticks of one symbol; seqs run 1..n across batches; max_ticks holds."""
    symbols = ["BTC/USD"] * 5 + ["ETH/USD"] * 2 + ["BTC/USD"] * 4
    records = [(t, wire.encode(t)) for t in (make_tick(symbol=s, seq=1000) for s in symbols)]
    with _joined(tmp_path, zmq_ctx) as (pub, sub):
        result = replay(
            _one_each(records), pub, speed=0, max_ticks=10, stop=threading.Event(), batch=3
        )
        sockets.publish(pub, Eos(source="test", last_seq=10, ts_ns=0))
        batches: list[TickBatch] = []
        while sub.poll(int(scaled(5) * 1000)):
            message = wire.decode(sub.recv_multipart()[1])
            if isinstance(message, TickBatch):
                batches.append(message)
            elif isinstance(message, Eos):
                break
    assert (result.sent, result.last_seq) == (10, 10)
    assert [[t.symbol for t in b.ticks] for b in batches] == [
        ["BTC/USD"] * 3,
        ["BTC/USD"] * 2,
        ["ETH/USD"] * 2,
        ["BTC/USD"] * 3,
    ]
    assert [t.seq for b in batches for t in b.ticks] == list(range(1, 11))


def test_unbatched_replay_sends_each_tick_under_its_symbols_topic_renumbered(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """One message per tick, `[tick.<symbol>, payload]`, seqs 1..n, `max_ticks` held, a
    tick already numbered as the run's sent as read; a stop set beforehand sends nothing."""
    symbols = ["BTC/USD"] * 3 + ["ETH/USD"] * 2 + ["BTC/USD"] * 70
    ticks = [make_tick(symbol=s, seq=1000) for s in symbols]
    ticks[1] = make_tick(symbol="BTC/USD", seq=2)  # already the run's seq 2
    records = [(t, wire.encode(t)) for t in ticks]
    with _joined(tmp_path, zmq_ctx) as (pub, sub):
        stopped = threading.Event()
        stopped.set()
        assert replay(_one_each(records), pub, speed=0, max_ticks=None, stop=stopped).sent == 0
        result = replay(_one_each(records), pub, speed=0, max_ticks=70, stop=threading.Event())
        sockets.publish(pub, Eos(source="test", last_seq=70, ts_ns=0))
        received: list[tuple[bytes, bytes]] = []
        while sub.poll(int(scaled(5) * 1000)):
            topic, payload = sub.recv_multipart()
            if topic.startswith(wire.TICK_PREFIX):
                received.append((topic, payload))
            elif topic == wire.EOS_TOPIC:
                break
    assert (result.sent, result.last_seq) == (70, 70)
    expected = [msgspec.structs.replace(t, seq=n) for n, t in enumerate(ticks[:70], start=1)]
    assert received == [(wire.tick_topic(t.symbol), wire.encode(t)) for t in expected]


def test_replay_of_the_readers_runs_sends_the_frames_of_one_tick_at_a_time(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """Ticks a run at a time (`record_chunks`) go out byte for byte as one at a time: batches
    of one symbol's consecutive ticks, cut at `batch`, or single ticks, renumbered where the
    file's seq is not the run's, through the window's room ends, up to a `max_ticks`."""
    symbols = ["BTC/USD", "ETH/USD", "SOL/USD"]
    lengths = [5, 70, 1, 130, 2, 300, 64, 9, 500]  # runs of one symbol, within and across runs
    file_symbols = [symbols[n % 3] for n, length in enumerate(lengths * 3) for _ in range(length)]
    # Mostly numbered as this run will (a recording replayed whole), some not.
    ticks = [
        make_tick(symbol=s, seq=n if n % 97 and not 1500 < n < 1600 else n + 10_000, bid=1.0 + n)
        for n, s in enumerate(file_symbols, start=1)
    ]
    path = tmp_path / "symbols.ticks.gz"
    with TickFileWriter(path, new_header("kraken", symbols, "test", 0)) as writer:
        writer.write_all(ticks)
    max_ticks = 2_222  # inside a batch and a stretch; past two ends of the window's room
    numbered = [msgspec.structs.replace(t, seq=n) for n, t in enumerate(ticks, start=1)]
    expected = [
        (wire.tick_topic(run[0].symbol), wire.encode(TickBatch(symbol=run[0].symbol, ticks=run)))
        for _symbol, same in groupby(numbered[:max_ticks], key=lambda t: t.symbol)
        for run in _cut(list(same), 7)
    ]
    expected_one_by_one = [(wire.tick_topic(t.symbol), wire.encode(t)) for t in numbered[:2_000]]
    asked: dict[str, list[tuple[str, int, int]]] = {}  # by path: the window's and position's
    with _joined(tmp_path, zmq_ctx) as (pub, sub):

        def frames(read: Callable[[TickFileReader], Iterable[Any]], batch: int, most: int) -> list:
            name = f"{read.__name__}-{batch}"
            with (
                TickFileReader(path) as reader,
                sockets.progress_puller(zmq_ctx, f"ipc://{tmp_path}/progress-{name}") as pull,
            ):
                read_records = read(reader)
                chunks = _one_each(read_records) if read is TickFileReader.records else read_records
                window = _AskedWindow(pull, asked.setdefault(name, []))
                position = _NotedPosition(tmp_path / name, asked[name])
                options = {"speed": 0, "max_ticks": most, "stop": threading.Event(), "batch": batch}
                result = replay(chunks, pub, window=window, position=position, **options)
            assert (result.sent, result.last_seq) == (most, most)
            return _received_until_eos(pub, sub)

        assert frames(TickFileReader.records, 7, max_ticks) == expected
        assert frames(TickFileReader.record_chunks, 7, max_ticks) == expected
        assert frames(TickFileReader.records, 1, 2_000) == expected_one_by_one
        assert frames(TickFileReader.record_chunks, 1, 2_000) == expected_one_by_one
    # Asked at the same seqs: the room's ends (1023, 2047) and every 64th tick.
    assert asked["record_chunks-7"] == asked["records-7"]
    assert asked["record_chunks-1"] == asked["records-1"]
    assert [a for a in asked["records-7"] if a[0] == "room"] == [
        ("room", 1, 1023),
        ("room", 1024, 2047),
        ("room", 2048, 3071),
    ]
    assert [a for a in asked["records-7"] if a[0] == "note"] == [
        ("note", seq, seq) for seq in range(0, max_ticks, 64)
    ]


@pytest.mark.parametrize("batch", [1, 7])
def test_a_stop_set_mid_replay_is_seen_at_the_next_64th_tick(
    tmp_path: Path, zmq_ctx: zmq.Context, batch: int
) -> None:
    """Set while ticks go out (here as the position hears seq 640, inside a run the
    reader decoded at once): the replay ends at its next look, seq 704, all sent before."""
    ticks = [make_tick(seq=n) for n in range(1, 1_001)]
    path = tmp_path / "one.ticks.gz"
    with TickFileWriter(path, new_header("kraken", ["BTC/USD"], "test", 0)) as writer:
        writer.write_all(ticks)
    stop = threading.Event()

    class _StopAt640(PositionFile):
        def note(self, last_seq: int) -> None:
            super().note(last_seq)
            if last_seq == 640:
                stop.set()

    with _joined(tmp_path, zmq_ctx) as (pub, sub), TickFileReader(path) as reader:
        position = _StopAt640(tmp_path / "position")
        result = replay(
            reader.record_chunks(), pub, speed=0, max_ticks=None, stop=stop, batch=batch,
            position=position,
        )  # fmt: skip
        received = _received_until_eos(pub, sub)
    assert (result.sent, result.last_seq) == (704, 704)
    sent = [wire.decode(payload) for _, payload in received]
    seqs = [t.seq for m in sent for t in (m.ticks if isinstance(m, TickBatch) else [m])]
    assert seqs == list(range(1, 705))


def test_a_paced_replay_catches_up_unpaced_then_waits_for_each_tick_and_sends_the_same_frames(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """A resumed replay at speed 1: the first `unpaced` ticks go at once, each later one
    waits for its recorded time (here a second apart; the waits are noted, not slept)."""
    ticks = [make_tick(seq=n, recv_ts_ns=T0_NS + n * 1_000_000_000) for n in range(1, 11)]
    path = tmp_path / "paced.ticks.gz"
    with TickFileWriter(path, new_header("kraken", ["BTC/USD"], "test", 0)) as writer:
        writer.write_all(ticks)
    stop = _NotedWaits()
    notes: list[tuple[str, int, int]] = []
    with _joined(tmp_path, zmq_ctx) as (pub, sub), TickFileReader(path) as reader:
        result = replay(
            reader.record_chunks(), pub, speed=1, max_ticks=None, stop=stop, unpaced=4,
            position=_NotedPosition(tmp_path / "position", notes),
        )  # fmt: skip
        received = _received_until_eos(pub, sub)
    assert (result.sent, result.last_seq) == (10, 10)
    assert received == [(wire.tick_topic(t.symbol), wire.encode(t)) for t in ticks]
    # Tick 5 is the first paced one, due at once; ticks 6 to 10 each wait.
    assert len(stop.waits) == 5 and all(wait > 0 for wait in stop.waits)
    assert [seq for _, seq, _ in notes] == [0, 4, 5, 6, 7, 8, 9]  # the 64th-tick look, each paced


class _NotedWaits(threading.Event):
    """A stop flag that is never set, noting each wait instead of sleeping through it."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(0.0 if timeout is None else timeout)
        return False


class _AskedWindow(ReplayWindow):
    """The real window, noting each time the replay asks it for room."""

    def __init__(self, sock: zmq.Socket, asked: list[tuple[str, int, int]]) -> None:
        super().__init__(sock)
        self.asked = asked

    def room_until(self, seq: int, stop: threading.Event) -> int:
        room = super().room_until(seq, stop)
        self.asked.append(("room", seq, room))
        return room


class _NotedPosition(PositionFile):
    """The real position file, noting each seq the replay tells it."""

    def __init__(self, path: Path, asked: list[tuple[str, int, int]]) -> None:
        super().__init__(path)
        self.asked = asked

    def note(self, last_seq: int) -> None:
        self.asked.append(("note", last_seq, last_seq))
        super().note(last_seq)


def _one_each(records: Iterable[tuple[Tick, bytes]]) -> Iterator[Chunk]:
    """Records one at a time, each read only when the last is handled."""
    return (((tick,), (payload,)) for tick, payload in records)


def _cut(ticks: list[Tick], size: int) -> list[list[Tick]]:
    return [ticks[start : start + size] for start in range(0, len(ticks), size)]


def _received_until_eos(pub: zmq.Socket, sub: zmq.Socket) -> list[tuple[bytes, bytes]]:
    sockets.publish(pub, Eos(source="test", last_seq=0, ts_ns=0))
    received = []
    while sub.poll(int(scaled(5) * 1000)):
        topic, payload = sub.recv_multipart()
        if topic == wire.EOS_TOPIC:
            return received
        if topic.startswith(wire.TICK_PREFIX):
            received.append((topic, payload))
    raise AssertionError("no eos")


def test_batched_replay_needs_speed_zero(tmp_path: Path) -> None:
    """Batching a paced replay would delay ticks: refused with one line, exit 2."""
    with services(tmp_path) as group:
        group.start(
            "feed",
            "services.feed",
            ["--replay", str(BUNDLED), "--speed", "1", "--replay-batch", "64"],
        )
        assert group.wait("feed") == 2
        assert "--replay-batch is for replays at --speed 0" in group.output("feed")


@contextmanager
def _joined(tmp_path: Path, zmq_ctx: zmq.Context) -> Iterator[tuple[zmq.Socket, zmq.Socket]]:
    """A lossless publisher and a subscriber to its ticks, hello and eos, already joined."""
    addr = f"ipc://{tmp_path}/ticks"
    with (
        sockets.publisher(zmq_ctx, addr, lossless=True) as pub,
        sockets.subscriber(
            zmq_ctx, addr, [wire.TICK_PREFIX, wire.HELLO_TOPIC, wire.EOS_TOPIC]
        ) as sub,
    ):
        while not sub.poll(20):  # the slow joiner: probe until the subscription is in place
            sockets.publish(pub, Hello(source="test", ts_ns=0))
        yield pub, sub
