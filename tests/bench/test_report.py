"""The benchmark's ratios read the figures under the keys the benchmark writes them."""

from __future__ import annotations

import pytest

from bench import chain, report


def test_the_peer_ratios_read_our_replays_in_each_mode() -> None:
    # `bench.__main__.interleaved_peer` keys our replays by ticks per message.
    figures = {
        "baseline": {},
        "peer": {"quotes_per_s": 100.0, "ours_ticks_per_s": {"1": 50.0, str(chain.BATCH): 120.0}},
    }

    ratios = report.ratios(figures)

    assert ratios["replay_vs_peer"] == pytest.approx(0.5)
    assert ratios["replay_batched_vs_peer"] == pytest.approx(1.2)
