"""`fix_mmap_threshold`: freed large buffers leave a real process's resident memory."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT

# A recorder's turn in small: a large buffer freed (glibc's threshold rises to it),
# then 32 buffers of 1 MiB, each followed by a small one that stays, all freed.
PROBE = """
import sys
from common.allocator import fix_mmap_threshold
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
first = bytearray(4 << 20)
del first
before = resident()
buffers, kept = [], []
for _ in range(32):
    buffers.append(bytearray(1 << 20))
    kept.append(bytearray(4096))
del buffers
print((resident() - before) >> 20)
"""


def _retained_mib(threshold: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, threshold],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_large_buffers_stay_resident_unless_the_threshold_is_fixed() -> None:
    assert _retained_mib("moving") >= 24  # what the services saw: the heap keeps them
    assert _retained_mib("fixed") <= 4
