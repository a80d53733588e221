"""Feed parse + checksum rate on the real Kraken book fixture, in one run.

    python -m bench.feed_parse [--rounds 20]

Figure: messages/s through `KrakenSession.on_frame` (JSON with exact
decimals, book update, truncation, CRC32 check, quote tick) over the 510
frames of tests/fixtures/kraken/pks_book_btcusd_d10_2023-07-30.json.
Baseline, same run: `json.loads` of the same frames with floats (the least
any JSON feed must do), so the ratio says what exactness and checking cost.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from venues.kraken.pairs import load_pairs
from venues.kraken.ws.session import KrakenSession

FIXTURE = (
    Path(__file__).resolve().parents[1]
    / "tests"
    / "fixtures"
    / "kraken"
    / "pks_book_btcusd_d10_2023-07-30.json"
)


def measure(rounds: int) -> dict[str, float]:
    """Kraken book messages/s through parse + book + CRC32 checksum, and `json.loads` alone."""
    data = json.loads(FIXTURE.read_text())
    frames = [json.dumps(message) for message in [data["init"], *data["updates"]]]
    pairs = {"BTC/USD": load_pairs()["BTC/USD"]}
    session = KrakenSession(("BTC/USD",), 10, pairs)
    start = time.perf_counter()
    for _ in range(rounds):
        for frame in frames:
            session.on_frame(frame, 0)
    feed_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(rounds):
        for frame in frames:
            json.loads(frame)
    json_s = time.perf_counter() - start
    count = rounds * len(frames)
    return {
        "messages_per_s": count / feed_s,
        "json_loads_per_s": count / json_s,
        "checksum_failures": session.counters.checksum_failures,
        "messages": count,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.feed_parse")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    result = measure(args.rounds)
    print(
        f"parse+checksum  {result['messages_per_s']:12,.0f} messages/s "
        f"({result['checksum_failures']} checksum failures)"
    )
    print(f"json.loads      {result['json_loads_per_s']:12,.0f} messages/s (baseline)")
    ratio = result["messages_per_s"] / result["json_loads_per_s"]
    print(f"ratio           {ratio:12.3f} x baseline throughput")
    return 0 if result["checksum_failures"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
