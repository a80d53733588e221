"""A post-only run end to end: maker fills only where the recording's trades or book justify."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from common.journal import read_entries
from common.messages import Fill, OrderCancelled, OrderSubmitted, Side, TickKind
from common.tickfile import iter_ticks
from tests.conftest import PROJECT_ROOT, scaled

TICKS = 10_000
MAKER_BPS = 25.0  # Kraken's entry tier (data/kraken_fees.json)


def _justified(fill: Fill, tick) -> bool:
    """The named tick shows the fill: a trade at or through its price, or the book through it."""
    buy = fill.side is Side.BUY
    if tick.kind is TickKind.TRADE:
        return tick.last <= fill.price if buy else tick.last >= fill.price
    return tick.ask <= fill.price if buy else tick.bid >= fill.price


def test_post_only_replay_fills_as_maker_only_where_the_market_shows_it(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    """`--execution post-only` on the bundled recording: maker fills and fees, each justified."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestration.paper_live",
            *("--ckpt", str(trained_checkpoint)),
            *("--address-dir", str(tmp_path)),
            *("--artifacts-dir", str(tmp_path / "artifacts")),
            *("--max-ticks", str(TICKS)),
            *("--execution", "post-only"),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=scaled(180),
    )
    assert done.returncode == 0, done.stderr + done.stdout
    [folder] = (tmp_path / "artifacts").iterdir()
    result = json.loads((folder / "result.json").read_text())
    entries = read_entries(folder / "executor.journal")
    orders = {e.order_id: e for e in entries if isinstance(e, OrderSubmitted)}
    fills = [e for e in entries if isinstance(e, Fill)]
    assert fills, "the recording's trades reach some resting orders"
    assert all(o.post_only and o.limit_price is not None for o in orders.values())
    assert any(o.replaces is not None for o in orders.values())  # cancel/replace happened
    ticks = {t.seq: t for t in iter_ticks(folder / "ticks.gz")}
    for fill in fills:
        order = orders[fill.order_id]
        assert fill.liquidity == "maker" and fill.price == order.limit_price
        assert fill.fee == pytest.approx(fill.qty * fill.price * MAKER_BPS / 1e4, abs=1e-8)
        assert fill.ts_ns > order.ts_ns  # never before it reached the venue
        assert _justified(fill, ticks[fill.tick_seq]), (fill, ticks[fill.tick_seq])
        tick = ticks[fill.tick_seq]
        if tick.kind is TickKind.TRADE and tick.last == fill.price:
            # At its own price a fill comes out of that trade, after the queue ahead:
            # never more than the trade printed.
            assert fill.qty <= tick.last_size + 1e-12
    counts = result["counts"]
    assert counts["fills_by_liquidity"] == {"maker": len(fills), "taker": 0}
    cancels = [e for e in entries if isinstance(e, OrderCancelled)]
    assert sum(counts["cancels"].values()) == len(cancels) > 0
    assert set(counts["cancels"]) <= {"requote", "retarget", "stop"}
    fees = sum(f.fee for f in fills)
    assert result["pnl"]["fees"] == pytest.approx(fees, abs=1e-6)
