"""The pair table: every Kraken spot pair, from AssetPairs, refreshable from a (fake) Kraken."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from common.errors import ConfigError
from common.messages import Fill, RejectReason, Target
from services.executor.engine import ExecutionEngine
from services.executor.order_executor import conform_to_pair_rules
from services.executor.paper import PaperOrderExecutor
from services.executor.risk import RiskEngine, RiskLimits
from services.feed.feed_config import FeedConfig
from tests.factories import make_tick
from tests.fakes.kraken_rest import PAIRS
from venues.kraken.pairs import DEFAULT_PAIRS_FILE, load_pairs
from venues.kraken.pairs_refresh import main as refresh_main

ROOT = Path(__file__).resolve().parents[3]
LOOSE = RiskLimits(
    max_order_notional=1e9,
    max_position=100.0,
    max_loss=1e9,
    max_orders_per_minute=10_000,
    price_band_bps=1e6,
    stale_after_ms=10**9,
)

# Two entries shaped like Kraken's AssetPairs answer (values from the bundled snapshot):
# the fake Kraken REST server's BTC/USD and a pair in cancel-only.
ANSWER = {
    "error": [],
    "result": {
        "XXBTZUSD": PAIRS["XXBTZUSD"],  # the fake venue's entry: one copy of it
        "XDGUSD": {
            "altname": "XDGUSD",
            "wsname": "XDG/USD",
            "base": "XXDG",
            "quote": "ZUSD",
            "pair_decimals": 7,
            "lot_decimals": 8,
            "ordermin": "13",
            "costmin": "0.5",
            "tick_size": "0.0000001",
            "status": "cancel_only",
        },
    },
}


def test_the_bundled_table_has_every_spot_pair_with_its_date_and_source() -> None:
    raw = json.loads(DEFAULT_PAIRS_FILE.read_text())
    assert raw["taken"] and "AssetPairs" in raw["source"]
    pairs = load_pairs()
    assert len(pairs) > 1_000
    for symbol in ("BTC/USD", "ETH/USD", "BTC/USDT", "ETH/USDT", "SOL/USD", "DOGE/USD"):
        assert symbol in pairs, symbol
    sol = pairs["SOL/USD"]
    assert (sol.rest_pair, sol.price_increment, sol.qty_min) == (
        "SOLUSD",
        Decimal("0.01"),
        Decimal("0.02"),
    )


@pytest.mark.parametrize(
    ("symbol", "qty", "price", "refused"),
    [
        ("SOL/USD", 0.019, 150.0, "min_order_size"),  # under SOL/USD's ordermin 0.02
        ("SOL/USD", 0.02, 150.0, None),
        ("ETH/USDT", 0.0009, 3000.0, "min_order_size"),  # under ordermin 0.001
        ("DOGE/USD", 13.0, 0.03, "min_cost"),  # 0.39 < costmin 0.5
    ],
)
def test_every_pair_has_its_minimums_enforced(
    symbol: str, qty: float, price: float, refused: str | None
) -> None:
    _, refusal = conform_to_pair_rules(load_pairs(), symbol, qty, price)
    assert (refusal[0].value if refusal else None) == refused


@pytest.fixture
def fake_kraken() -> Iterator[str]:
    """A loopback HTTP server answering AssetPairs; never a real exchange."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(ANSWER if self.path == "/0/public/AssetPairs" else {}).encode()
            self.send_response(200 if self.path == "/0/public/AssetPairs" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_refresh_rebuilds_the_table_from_asset_pairs(fake_kraken: str, tmp_path: Path) -> None:
    out = tmp_path / "pairs.json"
    result = subprocess.run(
        [sys.executable, "-m", "venues.kraken.pairs", "refresh", "--url", fake_kraken,
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    pairs = load_pairs(out)
    assert set(pairs) == {"BTC/USD", "DOGE/USD"}  # XBT and XDG as WebSocket v2 names them
    assert pairs["BTC/USD"].rest_pair == "XBTUSD"
    assert pairs["BTC/USD"].qty_increment == Decimal("0.00000001")
    assert pairs["DOGE/USD"].status == "cancel_only"
    assert fake_kraken in json.loads(out.read_text())["source"]


def test_a_failed_refresh_leaves_the_table_alone(fake_kraken: str, tmp_path: Path) -> None:
    out = tmp_path / "pairs.json"
    out.write_text("kept")
    assert refresh_main(["refresh", "--url", fake_kraken + "/nowhere", "--out", str(out)]) == 2
    assert out.read_text() == "kept"


def test_a_pair_not_online_refuses_market_orders(fake_kraken: str, tmp_path: Path) -> None:
    out = tmp_path / "pairs.json"
    assert refresh_main(["refresh", "--url", fake_kraken, "--out", str(out)]) == 0
    _, refusal = conform_to_pair_rules(load_pairs(out), "DOGE/USD", 100.0, 0.1)
    assert refusal == (RejectReason.EXCHANGE_REJECTED, "EService:Market in cancel_only mode")


def test_sol_usd_and_eth_usdt_runs_find_their_pair_rules() -> None:
    """The feed finds their rules, and paper trades them with Kraken's minimums."""
    feed = FeedConfig.from_args(["--use-ws", "--symbols", "SOL/USD,ETH/USDT"], {})
    assert set(feed.pair_rules()) == {"SOL/USD", "ETH/USDT"}
    engine = ExecutionEngine(
        RiskEngine(LOOSE), PaperOrderExecutor(load_pairs(), latency_ms=0, taker_fee_bps=40)
    )
    fills = []
    for seq, (symbol, bid, ask, want) in enumerate(
        [("SOL/USD", 150.0, 150.01, 0.5), ("ETH/USDT", 3000.0, 3000.01, 0.01)], start=1
    ):
        engine.on_tick(make_tick(symbol=symbol, seq=seq, bid=bid, ask=ask), now_ns=0)
        [*events] = engine.on_target(
            Target(
                id=f"t{seq}",
                symbol=symbol,
                target_position=want,
                ref_price=ask,
                tick_seq=seq,
                tick_ts_ns=make_tick().recv_ts_ns,
                created_ns=0,
                ttl_ms=10**9,
            ),
            now_ns=0,
        )
        fills += [event for event in events if isinstance(event, Fill)]
    assert [(fill.symbol, fill.qty) for fill in fills] == [("SOL/USD", 0.5), ("ETH/USDT", 0.01)]


def test_an_unknown_symbol_is_refused_at_start_with_a_near_match() -> None:
    feed = FeedConfig.from_args(["--use-ws", "--symbols", "SOL/USDD"], {})
    with pytest.raises(ConfigError, match=r"no pair rules for SOL/USDD .*did you mean SOL/USD"):
        feed.pair_rules()
