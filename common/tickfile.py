"""The tick file: what the recorder writes and the feed replays.

Layout (optionally inside one gzip stream; the reader detects gzip by its
magic bytes, the writer compresses when the name ends in ``.gz``)::

    b"PLRTICKS"                         8-byte magic
    record: >I length, >I CRC-32, payload   the first is a `TickFileHeader`,
    record: ...                             every later one a `Tick`

Each payload is the wire encoding of its message (`common.wire`), so a file
holds exactly what went over the socket. The length and CRC make a torn or
damaged tail detectable: the reader never stops silently, it raises
`TickFileCorrupt` carrying how many good ticks came before. A record of
length 0 (what zeros frame as: a sparse or zero-filled file) or longer than
the codec's cap is refused at once. Reading streams in fixed-size chunks,
and a gzip file is inflated at most one chunk ahead of what is read, so
memory stays flat whatever the file's size or compression ratio. A chunk's
records are decoded a run of a few hundred at a time (`wire.decode_ticks`),
and a consumer can take them so (`record_chunks`, the feed's replay).

The writer deflates with zlib-ng (plain gzip members, which any gzip reader
takes): at level 1 it costs a recorder about a third of what zlib's level 1
did per tick, for a file about a sixth larger (bench/tickfile_compression.py).
The reader inflates and checks CRCs with zlib-ng too (bench/README.md).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Final

from zlib_ng import zlib_ng

from common import wire
from common.errors import TickFileCorrupt, TickFileHeaderError, WireError
from common.messages import Tick, TickFileHeader

MAGIC: Final = b"PLRTICKS"
FORMAT_VERSION: Final = 1
_RECORD_HEAD: Final = struct.Struct(">II")
_CHUNK_BYTES: Final = 1 << 20
_GZIP_MAGIC: Final = b"\x1f\x8b"
# Ticks decoded in one call: a few hundred stay in the CPU's cache until used, a
# chunk's (about ten thousand) would not: decoding and reading them then takes twice
# the time per tick (64: 10% more, 1024: 40% more).
_DECODE_RUN: Final = 256
# zlib-ng's CRC-32 (the same checksum): a record's in a third of zlib's time.
_crc32: Final = zlib_ng.crc32


_WRITE_CHUNK: Final = 1 << 16


class TickFileWriter:
    """Append ticks to a new tick file (or a whole one, `append_after`); a context manager.

    `compress` defaults to whether the name ends in ``.gz``.
    """

    def __init__(
        self,
        path: Path | str,
        header: TickFileHeader,
        *,
        compress: bool | None = None,
        compresslevel: int = 6,
        append_after: int | None = None,
    ) -> None:
        """`append_after` N: the file holds a header and N ticks, whole; write after them.

        (`common.tickfile_tail.continue_tick_file` finds N and cuts a torn tail first.)
        """
        self.path = Path(path)
        if compress is None:
            compress = self.path.name.endswith(".gz")
        self._raw: BinaryIO = open(self.path, "wb" if append_after is None else "ab")
        self._compress, self._compresslevel = compress, compresslevel
        self._member: zlib_ng._Compress | None = None  # the open gzip member, if any
        self.count = append_after or 0
        # Records gather here and reach the (gzip) file in large writes: a
        # write per record costs more than compressing it.
        self._pending = bytearray()
        if append_after is None:
            self._pending += MAGIC
            self._write_records((wire.encode(header),))

    def write(self, tick: Tick) -> None:
        self.write_encoded(wire.encode(tick))

    def write_encoded(self, payload: bytes) -> None:
        """Write a tick already in wire bytes (a recorder has them; no re-encoding)."""
        self.write_encoded_many((payload,))

    def write_encoded_many(self, payloads: Sequence[bytes]) -> None:
        """`write_encoded` of each payload, in one loop: the same bytes, one call per batch."""
        self._write_records(payloads)
        self.count += len(payloads)

    def write_all(self, ticks: Sequence[Tick] | Iterator[Tick]) -> None:
        for tick in ticks:
            self.write(tick)

    def flush(self) -> None:
        """Push every record so far to the OS, readable as a complete file while writing goes on.

        A compressed file ends its gzip member here; the next write starts a
        new one (gzip readers take concatenated members as one stream). A
        reader then finds every record written so far and a clean end, not a
        stream cut short. A member costs a few dozen bytes and a fresh
        dictionary: call this on a timer, not per record.
        """
        self._write_pending()
        self._end_member()
        self._raw.flush()

    def close(self) -> None:
        try:
            self._write_pending()
            self._end_member()
        finally:  # a full disk: the file still closed, then the error raised
            self._pending.clear()
            self._member = None
            self._raw.close()

    def _write_records(self, payloads: Sequence[bytes]) -> None:
        """Each payload framed (length, CRC-32) into the pending bytes; written past a chunk."""
        pending, head, crc32 = self._pending, _RECORD_HEAD.pack, _crc32
        for payload in payloads:
            pending += head(len(payload), crc32(payload))
            pending += payload
        if len(pending) >= _WRITE_CHUNK:
            self._write_pending()

    def _write_pending(self) -> None:
        if not self._pending:
            return
        if not self._compress:
            self._raw.write(self._pending)
        else:
            if self._member is None:  # wbits 31: a gzip member, header and trailer included
                self._member = zlib_ng.compressobj(self._compresslevel, zlib_ng.DEFLATED, 31)
            self._raw.write(self._member.compress(self._pending))
        self._pending.clear()

    def _end_member(self) -> None:
        if self._member is not None:
            member, self._member = self._member, None
            self._raw.write(member.flush())  # the rest of the deflate stream and the trailer

    def __enter__(self) -> TickFileWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class TickFileReader:
    """Stream the ticks of one file; the header is read and checked on open.

    Args:
        path: the file.
        venue: if given, the header's venue must equal it.
        symbols: if given, the header must list every one of them.

    Raises:
        TickFileHeaderError: on open, for a missing file, a file that is not a
            tick file, an unknown format version or a header that does not match.
        TickFileCorrupt: while iterating, for a torn or damaged record.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        venue: str | None = None,
        symbols: Sequence[str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.count = 0
        self._buffer = b""
        self._offset = 0
        self._consumed = 0  # bytes of the record stream taken so far (inflated, if gzip)
        self._inflater: zlib_ng._Decompress | None = None
        self._cut_short = False
        self._file = self._open()
        try:
            self.header = self._read_header()
            self._check_expected(venue, symbols)
        except BaseException:
            self._file.close()
            raise

    def __iter__(self) -> Iterator[Tick]:
        for tick, _payload in self.records():
            yield tick

    def records(self) -> Iterator[tuple[Tick, bytes]]:
        """Each tick, validated, with its wire bytes (a replay can send them as they are)."""
        for ticks, payloads in self._decoded_chunks():
            for record in zip(ticks, payloads):
                self.count += 1
                yield record

    def record_chunks(self) -> Iterator[tuple[list[Tick], list[bytes]]]:
        """`records` a run at a time: the ticks decoded at once (up to 256) and their bytes.

        For a consumer that handles many ticks in one step (a batched replay);
        `count` moves on by a whole run as it is yielded.
        """
        for ticks, payloads in self._decoded_chunks():
            self.count += len(ticks)
            yield ticks, payloads

    def _decoded_chunks(self) -> Iterator[tuple[list[Tick], list[bytes]]]:
        while True:
            payloads = self._sound_payloads_in_chunk()
            if not payloads:  # a chunk's end, the file's end, or damage: one at a time
                payload = self._next_payload_slowly()
                if payload is None:
                    return
                payloads = [payload]
            for start in range(0, len(payloads), _DECODE_RUN):
                run = payloads[start : start + _DECODE_RUN]
                ticks = wire.decode_ticks(run)
                if ticks is not None:
                    yield ticks, run
                else:  # one is not a sound tick: find which, and say why, as `wire.decode` does
                    yield from self._decoded_one_by_one(run)

    def _decoded_one_by_one(
        self, payloads: list[bytes]
    ) -> Iterator[tuple[list[Tick], list[bytes]]]:
        # The ticks before the first bad record go out first; the error after
        # them counts them (the consumer has taken them by then).
        good: list[Tick] = []
        for payload in payloads:
            try:
                tick = wire.decode(payload)
            except WireError as e:
                problem = f"bad record ({e})"
                break
            if type(tick) is not Tick:
                problem = f"{type(tick).__name__} record"
                break
            good.append(tick)
        else:
            yield good, payloads
            return
        if good:
            yield good, payloads[: len(good)]
        raise TickFileCorrupt(self.path, self.count, problem)

    def count_records(self) -> int:
        """Count the records left, their framing and checksums checked but not decoded.

        Less than half the time of reading the ticks (a progress bar's total
        for a file the replay will validate tick by tick anyway).
        """
        while True:
            whole = len(self._sound_payloads_in_chunk())
            if not whole and self._next_payload_slowly() is None:
                return self.count
            self.count += whole or 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> TickFileReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _open(self) -> BinaryIO:
        try:
            raw = open(self.path, "rb")
        except OSError as e:
            raise TickFileHeaderError(self.path, f"cannot open ({e.strerror})") from None
        # Inflate by hand rather than through GzipFile: a torn gzip tail must
        # still yield every record before the tear, then say where it broke.
        # zlib-ng inflates it in two thirds of zlib's time, to the same bytes and errors.
        gzip = raw.peek(2)[:2] == _GZIP_MAGIC
        self._inflater = zlib_ng.decompressobj(wbits=31) if gzip else None
        self._cut_short = False
        return raw

    def _read_header(self) -> TickFileHeader:
        if self._take(len(MAGIC)) != MAGIC:
            raise TickFileHeaderError(self.path, "not a tick file (bad magic bytes)")
        try:
            payload = self._next_payload()
            header = wire.decode(payload) if payload is not None else None
        except (TickFileCorrupt, WireError) as e:
            raise TickFileHeaderError(self.path, f"unreadable header ({e})") from None
        if not isinstance(header, TickFileHeader):
            raise TickFileHeaderError(self.path, "first record is not a header")
        if header.format_version != FORMAT_VERSION:
            raise TickFileHeaderError(
                self.path, f"format version {header.format_version}, expected {FORMAT_VERSION}"
            )
        return header

    def _check_expected(self, venue: str | None, symbols: Sequence[str] | None) -> None:
        if venue is not None and self.header.venue != venue:
            raise TickFileHeaderError(self.path, f"venue {self.header.venue!r}, expected {venue!r}")
        missing = [s for s in symbols or () if s not in self.header.symbols]
        if missing:
            raise TickFileHeaderError(
                self.path, f"symbols {self.header.symbols} lack {', '.join(missing)}"
            )

    def _next_payload(self) -> bytes | None:
        # The common case in one step: a whole, sound record in the current chunk.
        buffer, start = self._buffer, self._offset
        head_end = start + _RECORD_HEAD.size
        if head_end <= len(buffer):
            length, crc = _RECORD_HEAD.unpack_from(buffer, start)
            end = head_end + length
            if 0 < length <= wire.MAX_PAYLOAD_BYTES and end <= len(buffer):
                payload = buffer[head_end:end]
                if _crc32(payload) == crc:
                    self._offset = end
                    self._consumed += end - start
                    return payload
        return self._next_payload_slowly()  # a chunk's end, the file's end, or damage

    def _sound_payloads_in_chunk(self) -> list[bytes]:
        """Every whole, sound record from here to the first that is not, in the current chunk.

        `_next_payload`'s common case for all of a chunk's records in one loop
        (a replay reads every record through it): it stops where that would
        take its slow path, which then reads, or refuses, the next record.
        """
        buffer, start = self._buffer, self._offset
        size, unpack_from, crc32 = len(buffer), _RECORD_HEAD.unpack_from, _crc32
        head_size, cap = _RECORD_HEAD.size, wire.MAX_PAYLOAD_BYTES
        payloads = []
        offset = start
        while offset + head_size <= size:
            length, crc = unpack_from(buffer, offset)
            end = offset + head_size + length
            if not 0 < length <= cap or end > size:
                break
            payload = buffer[offset + head_size : end]
            if crc32(payload) != crc:
                break
            payloads.append(payload)
            offset = end
        self._offset = offset
        self._consumed += offset - start
        return payloads

    def _next_payload_slowly(self) -> bytes | None:
        head = self._take(_RECORD_HEAD.size)
        if not head:
            if self._cut_short:
                raise TickFileCorrupt(self.path, self.count, "compressed stream cut short")
            return None  # a clean end: exactly at a record boundary
        if len(head) < _RECORD_HEAD.size:
            raise TickFileCorrupt(self.path, self.count, "truncated record header")
        length, crc = _RECORD_HEAD.unpack(head)
        if length == 0 or length > wire.MAX_PAYLOAD_BYTES:
            offset = self._consumed - _RECORD_HEAD.size
            problem = f"record length {length} at offset {offset} is implausible"
            raise TickFileCorrupt(self.path, self.count, problem)
        payload = self._take(length)
        if len(payload) < length:
            raise TickFileCorrupt(self.path, self.count, "truncated record")
        if _crc32(payload) != crc:
            raise TickFileCorrupt(self.path, self.count, "record checksum mismatch")
        return payload

    def _take(self, size: int) -> bytes:
        piece = self._take_from_chunks(size)
        self._consumed += len(piece)
        return piece

    def _take_from_chunks(self, size: int) -> bytes:
        # Serve from the current chunk; refill from the file only at its end.
        end = self._offset + size
        if end <= len(self._buffer):
            piece = self._buffer[self._offset : end]
            self._offset = end
            return piece
        pieces = [self._buffer[self._offset :]]
        have = len(pieces[0])
        while have < size:
            chunk = self._read_chunk()
            if not chunk:
                break
            pieces.append(chunk)
            have += len(chunk)
        self._buffer = b"".join(pieces)
        self._offset = min(size, len(self._buffer))
        return self._buffer[: self._offset]

    def _read_chunk(self) -> bytes:
        """Return the next bytes of the record stream; b"" only at its end."""
        while True:
            if self._inflater is None:
                return self._file.read(_CHUNK_BYTES)
            try:
                if self._inflater.eof and self._inflater.unused_data:
                    # Several whole members can end inside one chunk (a file
                    # flushed every second is a run of small members): one step each.
                    data = self._next_gzip_member(self._inflater.unused_data)
                    if data:
                        return data
                    continue
                # Input the last call left (its output would have passed the chunk size) first.
                raw = self._inflater.unconsumed_tail or self._file.read(_CHUNK_BYTES)
                if not raw:
                    # Output zlib still holds once all input is in, bounded too.
                    data = (
                        b"" if self._inflater.eof else self._inflater.decompress(b"", _CHUNK_BYTES)
                    )
                    self._cut_short = not data and not self._inflater.eof
                    return data
                # After a member's end, decompress keeps new input as unused_data.
                data = self._inflater.decompress(raw, _CHUNK_BYTES)
            except zlib_ng.error as e:  # type: ignore[misc]  # (its stub says an instance)
                problem = f"compressed stream damaged ({e})"
                raise TickFileCorrupt(self.path, self.count, problem) from None
            if data:
                return data

    def _next_gzip_member(self, start: bytes) -> bytes:
        self._inflater = zlib_ng.decompressobj(wbits=31)
        return self._inflater.decompress(start, _CHUNK_BYTES)


def iter_ticks(path: Path | str) -> Iterator[Tick]:
    """Yield every tick of a file (header checked, tail verified)."""
    with TickFileReader(path) as reader:
        yield from reader


def new_header(venue: str, symbols: Sequence[str], source: str, created_ns: int) -> TickFileHeader:
    return TickFileHeader(
        format_version=FORMAT_VERSION,
        venue=venue,
        symbols=list(symbols),
        source=source,
        created_ns=created_ns,
    )
