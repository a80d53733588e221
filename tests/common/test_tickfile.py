"""Tick files: round trip, flat memory, torn tails and wrong headers reported."""

from __future__ import annotations

import gzip
import struct
import subprocess
import tracemalloc
import zlib
from itertools import accumulate
from pathlib import Path

import psutil
import pytest

from common import wire
from common.errors import TickFileCorrupt, TickFileHeaderError
from common.tickfile import MAGIC, TickFileReader, TickFileWriter, iter_ticks, new_header
from tests.factories import T0_NS, make_tick, make_trade, replace

HEADER = new_header("kraken", ["BTC/USD"], "test", T0_NS)


def _ticks(count: int):
    base = make_tick()
    for seq in range(1, count + 1):
        yield replace(base, seq=seq, exch_ts_ns=T0_NS + seq, bid=100.0 + seq % 97, ask=200.0)


def _write(path: Path, count: int) -> None:
    with TickFileWriter(path, HEADER) as writer:
        writer.write_all(_ticks(count))


@pytest.mark.parametrize("name", ["plain.ticks", "packed.ticks.gz"])
def test_round_trip_keeps_every_tick_and_the_header(tmp_path: Path, name: str) -> None:
    """What is written is read back exactly, compressed or not."""
    ticks = [*_ticks(500), make_trade(seq=501)]
    with TickFileWriter(tmp_path / name, HEADER) as writer:
        writer.write_all(ticks)
    with TickFileReader(tmp_path / name) as reader:
        assert reader.header == HEADER
        assert list(reader) == ticks
        assert reader.count == len(ticks)
    # A run at a time: the same ticks with their bytes; `count` moves by a run.
    with TickFileReader(tmp_path / name) as reader:
        runs, counts = [], []
        for run_ticks, payloads in reader.record_chunks():
            runs.append((run_ticks, payloads))
            counts.append(reader.count)
    assert [t for run_ticks, _ in runs for t in run_ticks] == ticks
    assert [p for _, payloads in runs for p in payloads] == [wire.encode(t) for t in ticks]
    assert counts == list(accumulate(len(run_ticks) for run_ticks, _ in runs))
    assert len(runs) > 1  # more ticks than one run decodes at once


def test_compressed_file_is_gzip_and_plain_is_not(tmp_path: Path) -> None:
    """The `.gz` name selects gzip; the reader needs no hint."""
    _write(tmp_path / "a.ticks.gz", 10)
    _write(tmp_path / "a.ticks", 10)
    assert gzip.open(tmp_path / "a.ticks.gz").read(len(MAGIC)) == MAGIC
    assert (tmp_path / "a.ticks").read_bytes()[: len(MAGIC)] == MAGIC


def test_million_ticks_round_trip_with_flat_memory(tmp_path: Path) -> None:
    """Writing and reading 1,000,000 ticks streams: memory does not grow with the file."""
    path = tmp_path / "million.ticks"
    process = psutil.Process()
    with TickFileWriter(path, HEADER) as writer:
        for tick in _ticks(1_000_000):
            writer.write(tick)
            if tick.seq == 100_000:
                rss_after_100k_written = process.memory_info().rss
        rss_after_all_written = process.memory_info().rss
    count = 0
    expected_seq = 0
    with TickFileReader(path) as reader:
        for tick in reader:
            expected_seq += 1
            assert tick.seq == expected_seq
            count += 1
            if count == 100_000:
                rss_after_100k_read = process.memory_info().rss
        rss_after_all_read = process.memory_info().rss
    assert count == 1_000_000
    # Keeping the ticks would cost well over 100 MB; streaming costs nothing per tick.
    assert rss_after_all_written - rss_after_100k_written < 16 * 2**20
    assert rss_after_all_read - rss_after_100k_read < 16 * 2**20


@pytest.mark.parametrize(
    ("name", "cut_bytes"),
    [("cut.ticks", 7), ("cut.ticks.gz", 300), ("cut_trailer.ticks.gz", 4)],
)
def test_truncated_file_reports_the_good_record_count(
    tmp_path: Path, name: str, cut_bytes: int
) -> None:
    """A torn tail is an error that says how many ticks were good, never a silent end."""
    path = tmp_path / name
    _write(path, 1000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - cut_bytes])
    read: list[object] = []
    with pytest.raises(TickFileCorrupt) as caught:
        for tick in iter_ticks(path):
            read.append(tick)
    assert caught.value.good_records == len(read)
    # Cutting only the gzip trailer loses no record, but is still reported.
    assert 500 < len(read) <= 1000


def test_flipped_byte_is_caught_by_the_record_checksum(tmp_path: Path) -> None:
    """Damage inside a record is detected, with the count of good ticks before it."""
    path = tmp_path / "flip.ticks"
    _write(path, 100)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(TickFileCorrupt) as caught:
        list(iter_ticks(path))
    assert 40 < caught.value.good_records < 60


def test_file_cut_at_a_record_boundary_reads_cleanly(tmp_path: Path) -> None:
    """Stopping exactly between records is a complete (shorter) file."""
    path = tmp_path / "boundary.ticks"
    _write(path, 0)
    assert list(iter_ticks(path)) == []


def test_a_file_of_many_gzip_members_reads_every_tick(tmp_path: Path) -> None:
    """Concatenated gzip members are one stream, however many share a read chunk."""
    plain = tmp_path / "plain.ticks"
    _write(plain, 3000)
    data = plain.read_bytes()
    step = len(data) // 200 + 1  # 200 small members: many end inside one chunk
    members = tmp_path / "members.ticks.gz"
    members.write_bytes(
        b"".join(gzip.compress(data[i : i + step]) for i in range(0, len(data), step))
    )
    assert list(iter_ticks(members)) == list(iter_ticks(plain))


def test_a_flushed_file_reads_cleanly_while_it_is_still_being_written(tmp_path: Path) -> None:
    """Each flush ends a whole gzip member: a reader sees every tick so far and a clean end."""
    path = tmp_path / "live.ticks.gz"
    ticks = list(_ticks(600))
    with TickFileWriter(path, HEADER) as writer:
        for flush_at in (1, 50, 51, 600):
            writer.write_all(ticks[writer.count : flush_at])
            writer.flush()
            assert list(iter_ticks(path)) == ticks[:flush_at]
        writer.flush()  # nothing new: still the same, still clean
        assert list(iter_ticks(path)) == ticks
    assert list(iter_ticks(path)) == ticks


def test_reader_rejects_a_header_that_does_not_match(tmp_path: Path) -> None:
    """Asking for a venue or symbol the file does not hold fails on open."""
    path = tmp_path / "h.ticks"
    _write(path, 3)
    with pytest.raises(TickFileHeaderError, match="venue"):
        TickFileReader(path, venue="binance")
    with pytest.raises(TickFileHeaderError, match="ETH/USD"):
        TickFileReader(path, symbols=["BTC/USD", "ETH/USD"])
    with TickFileReader(path, venue="kraken", symbols=["BTC/USD"]) as reader:
        assert reader.count == 0


@pytest.mark.parametrize(
    "content",
    [b"", b"NOTTICKS" + b"\x00" * 20, MAGIC, MAGIC + b"\x00\x00\x00\x05\x00\x00\x00\x00hello"],
)
def test_reader_rejects_what_is_not_a_tick_file(tmp_path: Path, content: bytes) -> None:
    """Empty, foreign or headerless files are refused with a header error."""
    path = tmp_path / "bad.ticks"
    path.write_bytes(content)
    with pytest.raises(TickFileHeaderError):
        TickFileReader(path)


def test_reader_rejects_a_missing_file(tmp_path: Path) -> None:
    """A wrong path is one clear error, not an OSError traceback."""
    with pytest.raises(TickFileHeaderError, match="cannot open"):
        TickFileReader(tmp_path / "absent.ticks")


def test_bundled_recording_reads_completely() -> None:
    """The shipped recording is intact: 85,175 BTC/USDT ticks, gap-free sequence."""
    from tests.conftest import PROJECT_ROOT

    path = PROJECT_ROOT / "data" / "binance_btcusdt_spot_2024-08-08_10min.ticks.gz"
    with TickFileReader(path, venue="binance", symbols=["BTC/USDT"]) as reader:
        last_seq = 0
        for tick in reader:
            assert tick.seq == last_seq + 1
            last_seq = tick.seq
    assert last_seq == 85_175


@pytest.mark.parametrize("name", ["plain.ticks", "packed.ticks.gz"])
def test_count_records_counts_without_decoding_and_still_catches_damage(
    tmp_path: Path, name: str
) -> None:
    """The runner's progress total: every record counted; a torn or flipped one still raises."""
    path = tmp_path / name
    _write(path, 1000)
    with TickFileReader(path) as reader:
        assert reader.count_records() == 1000
    data = path.read_bytes()
    # 3 bytes: inside the last record (or the gzip trailer) whatever the record
    # size; a longer cut could end exactly on a record boundary, a clean file.
    path.write_bytes(data[: len(data) - 3])
    with TickFileReader(path) as reader, pytest.raises(TickFileCorrupt):
        reader.count_records()
    if name == "plain.ticks":
        flipped = bytearray(data)
        flipped[len(flipped) // 2] ^= 0x40
        path.write_bytes(bytes(flipped))
        with TickFileReader(path) as reader, pytest.raises(TickFileCorrupt):
            reader.count_records()


def test_a_sparse_file_behind_a_valid_header_is_refused_at_once_not_read(tmp_path: Path) -> None:
    """Zeros frame as empty records (length 0, CRC 0): the first is refused, naming its offset."""
    path = tmp_path / "sparse.ticks"
    _write(path, 0)
    header_end = path.stat().st_size
    subprocess.run(["truncate", "-s", "300M", str(path)], check=True)
    read_before = psutil.Process().io_counters().read_chars
    with TickFileReader(path) as reader, pytest.raises(TickFileCorrupt) as caught:
        reader.count_records()
    assert caught.value.good_records == 0
    assert f"offset {header_end}" in caught.value.problem
    assert psutil.Process().io_counters().read_chars - read_before < 8 * 2**20


def test_a_small_gzip_of_zeros_is_refused_without_inflating_it(tmp_path: Path) -> None:
    """A gzip bomb behind a valid header: refused after inflating a bounded amount, not all."""
    plain = tmp_path / "header.ticks"
    _write(plain, 0)
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(2**20)
    parts = [packer.compress(plain.read_bytes())]
    parts += [packer.compress(zeros) for _ in range(256)]
    parts.append(packer.flush())
    path = tmp_path / "zeros.ticks.gz"
    path.write_bytes(b"".join(parts))
    assert path.stat().st_size < 2**20  # 256 MiB of zeros in a few hundred KB
    tracemalloc.start()
    try:
        with TickFileReader(path) as reader, pytest.raises(TickFileCorrupt):
            reader.count_records()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


def test_a_record_length_over_the_payload_cap_is_refused_before_reading_it(
    tmp_path: Path,
) -> None:
    """A length the codec would never accept is refused at once, the file not read for it."""
    path = tmp_path / "long.ticks"
    _write(path, 0)
    with open(path, "ab") as f:
        f.write(struct.pack(">II", 2**31, 0))
    subprocess.run(["truncate", "-s", "300M", str(path)], check=True)
    read_before = psutil.Process().io_counters().read_chars
    with TickFileReader(path) as reader, pytest.raises(TickFileCorrupt):
        reader.count_records()
    assert psutil.Process().io_counters().read_chars - read_before < 8 * 2**20


def test_write_encoded_many_writes_the_bytes_of_write_encoded_one_by_one(tmp_path: Path) -> None:
    """The recorder's one call per batch leaves the file that a call per tick leaves."""
    payloads = [wire.encode(tick) for tick in [*_ticks(3_000), make_trade(seq=3_001)]]
    with TickFileWriter(tmp_path / "one.ticks", HEADER) as one:
        for payload in payloads:
            one.write_encoded(payload)
    with TickFileWriter(tmp_path / "many.ticks", HEADER) as many:
        for start in range(0, len(payloads), 64):
            many.write_encoded_many(payloads[start : start + 64])
        many.write_encoded_many([])
    assert many.count == one.count == len(payloads)
    assert (tmp_path / "many.ticks").read_bytes() == (tmp_path / "one.ticks").read_bytes()


def test_a_compressed_file_inflates_with_stdlib_gzip_to_the_plain_files_bytes(
    tmp_path: Path,
) -> None:
    """zlib-ng writes plain gzip members: Python's gzip reads back the plain file's very bytes."""
    payloads = [wire.encode(tick) for tick in _ticks(5_000)]
    with (
        TickFileWriter(tmp_path / "plain.ticks", HEADER) as plain,
        TickFileWriter(tmp_path / "packed.ticks.gz", HEADER, compresslevel=1) as packed,
    ):
        for start in range(0, len(payloads), 64):
            plain.write_encoded_many(payloads[start : start + 64])
            packed.write_encoded_many(payloads[start : start + 64])
            if start == 2_048:
                packed.flush()  # a second member follows
    raw = (tmp_path / "packed.ticks.gz").read_bytes()
    assert raw.count(b"\x1f\x8b\x08") >= 2
    assert gzip.decompress(raw) == (tmp_path / "plain.ticks").read_bytes()


def _record_offsets(data: bytes) -> list[int]:
    """Where each record (header first) starts in a plain tick file."""
    offsets, at = [], len(MAGIC)
    while at < len(data):
        offsets.append(at)
        at += 8 + struct.unpack_from(">I", data, at)[0]
    return offsets


@pytest.mark.parametrize("damage", ["checksum", "length 0", "crossed book", "a header record"])
def test_records_stop_exactly_at_a_damaged_record_inside_and_across_chunks(
    tmp_path: Path, damage: str
) -> None:
    """Every record before the damaged one is yielded, whole chunks read at once or not."""
    path = tmp_path / "damaged.ticks"
    ticks = list(_ticks(11_000))  # over one read chunk (1 MiB)
    with TickFileWriter(path, HEADER) as writer:
        writer.write_all(ticks)
    clean = path.read_bytes()
    offsets = _record_offsets(clean)
    straddling = next(i for i, at in enumerate(offsets) if at + 120 > 1 << 20)
    for bad in (7, straddling):
        at = offsets[bad + 1]  # record 0 is the header
        data = bytearray(clean)
        if damage == "checksum":
            data[at + 12] ^= 0x40
        elif damage == "length 0":
            data[at : at + 4] = bytes(4)
        else:
            wrong = HEADER if damage == "a header record" else replace(ticks[bad], bid=500.0)
            payload = wire.encode(wrong)
            record = struct.pack(">II", len(payload), zlib.crc32(payload)) + payload
            data[at : offsets[bad + 2]] = record
        path.write_bytes(bytes(data))
        read = []
        with pytest.raises(TickFileCorrupt) as caught, TickFileReader(path) as reader:
            for tick, payload in reader.records():
                read.append((tick, payload))
        assert caught.value.good_records == bad
        assert [tick for tick, _ in read] == ticks[:bad]
        assert [payload for _, payload in read] == [wire.encode(t) for t in ticks[:bad]]
        # A run at a time: the same records before it, then the same error.
        runs = []
        with pytest.raises(TickFileCorrupt) as in_runs, TickFileReader(path) as reader:
            for run_ticks, payloads in reader.record_chunks():
                runs += zip(run_ticks, payloads)
        assert runs == read
        assert (in_runs.value.good_records, str(in_runs.value)) == (bad, str(caught.value))
