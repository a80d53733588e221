"""How long a paper order takes to reach the simulated venue: fixed + seeded jitter.

Pure and deterministic: the n-th draw of a model with the same seed is the
same on every run, so a replay fills the same orders at the same ticks. The
jitter is exponential (mean `jitter_ms`): network and matching-engine delays
have a hard floor and a long right tail, which an exponential above a fixed
floor reproduces with one parameter.

Defaults (`--latency-ms 50`, `--latency-jitter-ms 10`, `--latency-seed 0`):
the 50 ms floor is the project's long-standing figure for a cloud host's
REST round to Kraken; the 10 ms mean jitter is an assumption, not a
measurement made here (this project has no timed Kraken order path to
measure). Set both from your own `bench/` figures or order logs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final

NS_PER_MS: Final = 1_000_000
DEFAULT_FIXED_MS: Final = 50.0
DEFAULT_JITTER_MS: Final = 10.0
DEFAULT_SEED: Final = 0


@dataclass
class LatencyModel:
    fixed_ms: float = DEFAULT_FIXED_MS
    jitter_ms: float = 0.0  # mean of the exponential jitter; 0: none
    seed: int = DEFAULT_SEED
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not (self.fixed_ms >= 0 and self.jitter_ms >= 0):
            raise ValueError(f"latency must be non-negative: {self.fixed_ms}, {self.jitter_ms}")
        self._rng = random.Random(self.seed)

    def draw_ns(self) -> int:
        """The next order's delay from decision to arrival at the venue, in ns."""
        jitter = self._rng.expovariate(1.0 / self.jitter_ms) if self.jitter_ms > 0 else 0.0
        return int((self.fixed_ms + jitter) * NS_PER_MS)
