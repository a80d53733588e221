"""Continuing a compressed tick file a run already wrote (a resumed run's `ticks.gz`).

The recorder ends a gzip member about every second, at a record boundary
(`TickFileWriter.flush`), so a file it wrote is a run of whole members and,
if it was killed, one torn member at the end. `readable_prefix` finds the
end of the last whole member whose records are whole and sound (length and
CRC checked), and how many ticks come before it; `continue_tick_file` cuts
whatever follows (keeping the cut bytes beside the file, `<file>.torn-<n>`,
as the journal does) and appends new members after it. A file with no
readable member is started anew.
"""

from __future__ import annotations

import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from common import wire
from common.messages import TickFileHeader
from common.tickfile import _RECORD_HEAD, MAGIC, TickFileWriter

log = logging.getLogger(__name__)

# Raw bytes inflated per step: deflate expands at most ~1,032x, so one step
# stays within a few tens of MiB even for a hostile file.
_RAW_STEP: Final = 1 << 15


@dataclass(frozen=True)
class ReadablePrefix:
    size: int  # bytes: up to the end of the last whole gzip member
    ticks: int  # tick records within it (the header is not one)


class _Records:
    """Counts whole, sound records in an inflated stream that arrives in pieces."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.records = 0  # the header included
        self.magic_seen = False

    @property
    def at_boundary(self) -> bool:
        return self.magic_seen and not self.buffer and self.records > 0

    def take(self, data: bytes) -> bool:
        """Add inflated bytes; False once the stream is damaged."""
        self.buffer += data
        if not self.magic_seen:
            if len(self.buffer) < len(MAGIC):
                return True
            if self.buffer[: len(MAGIC)] != MAGIC:
                return False
            del self.buffer[: len(MAGIC)]
            self.magic_seen = True
        start = 0
        while len(self.buffer) - start >= _RECORD_HEAD.size:
            length, crc = _RECORD_HEAD.unpack_from(self.buffer, start)
            if length == 0 or length > wire.MAX_PAYLOAD_BYTES:
                return False
            end = start + _RECORD_HEAD.size + length
            if len(self.buffer) < end:
                break
            if zlib.crc32(self.buffer[start + _RECORD_HEAD.size : end]) != crc:
                return False
            self.records += 1
            start = end
        del self.buffer[:start]  # once per piece: whole records leave the buffer
        return True


def readable_prefix(path: Path) -> ReadablePrefix:
    """Where a compressed tick file's whole members end, and the ticks before; (0, 0) if none."""
    good = ReadablePrefix(0, 0)
    try:
        file = open(path, "rb")
    except FileNotFoundError:
        return good
    with file:
        records = _Records()
        inflater = zlib.decompressobj(wbits=31)
        read = 0
        pending = b""  # read, not yet inflated
        while True:
            if not pending:
                pending = file.read(_RAW_STEP)
                read += len(pending)
                if not pending:
                    return good  # a member still open here was torn
            try:
                data = inflater.decompress(pending)
            except zlib.error:
                return good
            if not records.take(data):
                return good
            pending = b""
            if inflater.eof:
                rest = inflater.unused_data
                if records.at_boundary:
                    good = ReadablePrefix(read - len(rest), records.records - 1)
                inflater = zlib.decompressobj(wbits=31)
                pending = rest


def continue_tick_file(
    path: Path, header: TickFileHeader, *, compresslevel: int = 6
) -> TickFileWriter:
    """A writer that appends to `path` after its readable prefix (`writer.count` ticks in it)."""
    prefix = readable_prefix(path)
    if path.exists() and path.stat().st_size > prefix.size:
        _keep_torn_tail(path, prefix.size)
    if prefix.size == 0:
        return TickFileWriter(path, header, compress=True, compresslevel=compresslevel)
    return TickFileWriter(
        path, header, compress=True, compresslevel=compresslevel, append_after=prefix.ticks
    )


def _keep_torn_tail(path: Path, size: int) -> None:
    n = 1
    while (copy := path.with_name(f"{path.name}.torn-{n}")).exists():
        n += 1
    with open(path, "r+b") as f:
        f.seek(size)
        copy.write_bytes(f.read())
        f.truncate(size)
        f.flush()
        os.fsync(f.fileno())
    log.warning("cut a torn tail off %s after %d bytes, kept in %s", path, size, copy)
