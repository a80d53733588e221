"""Large buffers go back to the operating system when freed: resident memory stays flat.

glibc serves an allocation of at least its mmap threshold (128 KiB at
start) from a mapping of its own, returned whole when freed. But each such
free raises the threshold to the freed size (up to 32 MiB), so later
buffers of that size come from the heap instead, and a freed buffer in the
middle of the heap is never given back. A recorder's turn joins buffers of
up to a few MiB (8,192 event lines, a tick file's chunk), so its resident
memory ratcheted up long after start: on a 1,000,000-tick batched replay it
grew 0-15 % after the 100,000th tick with the threshold left to move, and
0.5-5 % with it fixed (bench/README.md, "Memory").

`fix_mmap_threshold` fixes it at 128 KiB (`mallopt(M_MMAP_THRESHOLD)`, which
also turns the adjustment off). Every service calls it at start
(`common.service.serve`). Outside glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Final

M_MMAP_THRESHOLD: Final = -3  # glibc's malloc.h
MMAP_THRESHOLD_BYTES: Final = 128 * 1024  # glibc's own starting value


def fix_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold at `MMAP_THRESHOLD_BYTES`; False where there is no glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):  # a libc without mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
