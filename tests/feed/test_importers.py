"""The Binance importer on a real capture excerpt, through its command line."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

from common.messages import Side, TickKind
from common.tickfile import TickFileReader
from services.feed.importers import __main__ as importers
from services.feed.importers.binance import symbol_from_binance
from services.feed.importers.binance_book import BinanceBook
from tests.conftest import FIXTURES, PROJECT_ROOT

CAPTURE = FIXTURES / "binance" / "btcusdt_20240808_first400.gz"
SNAPSHOT_RECV_NS = 1723161254206652067  # line 8: the REST depth snapshot


def _expected_counts() -> dict[str, int]:
    text = gzip.open(CAPTURE, "rt").read()
    return {
        "quote": text.count('"stream":"btcusdt@bookTicker"'),
        "trade": text.count('"stream":"btcusdt@trade"'),
    }


def test_binance_capture_becomes_quotes_and_trades(tmp_path: Path) -> None:
    """bookTicker lines become quotes, trade lines trades (depth and snapshot: the book)."""
    out = tmp_path / "capture.ticks.gz"
    assert importers.main(["binance", str(CAPTURE), "--out", str(out)]) == 0
    with TickFileReader(out, venue="binance", symbols=["BTC/USDT"]) as reader:
        ticks = list(reader)
    counts = _expected_counts()
    assert sum(t.kind is TickKind.QUOTE for t in ticks) == counts["quote"]
    assert sum(t.kind is TickKind.TRADE for t in ticks) == counts["trade"]
    assert [t.seq for t in ticks] == list(range(1, len(ticks) + 1))
    first_quote = next(t for t in ticks if t.kind is TickKind.QUOTE)
    # The first bookTicker line of the capture, by hand.
    assert (first_quote.bid, first_quote.bid_size) == (61837.63, 3.78826)
    assert (first_quote.ask, first_quote.ask_size) == (61837.64, 1.54698)
    assert first_quote.recv_ts_ns == 1723161254087891268
    first_trade = next(t for t in ticks if t.kind is TickKind.TRADE)
    assert (first_trade.last, first_trade.last_size) == (61837.63, 0.02)
    assert first_trade.side is Side.SELL  # "m": true, the buyer was the maker
    assert first_trade.exch_ts_ns == 1723161255342 * 1_000_000


def test_quotes_carry_the_book_rebuilt_from_the_snapshot_and_depth_diffs(tmp_path: Path) -> None:
    """--depth 5: after the REST snapshot every quote has 5 levels a side, its top first."""
    out = tmp_path / "depth.ticks"
    assert importers.main(["binance", str(CAPTURE), "--out", str(out), "--depth", "5"]) == 0
    with TickFileReader(out) as reader:
        quotes = [t for t in reader if t.kind is TickKind.QUOTE]
    before = [q for q in quotes if q.recv_ts_ns < SNAPSHOT_RECV_NS]
    after = [q for q in quotes if q.recv_ts_ns > SNAPSHOT_RECV_NS]
    assert before and all(q.bids == [] and q.asks == [] for q in before)
    assert after and all(len(q.bids) == 5 and len(q.asks) == 5 for q in after)
    assert all(q.bids[0] == (q.bid, q.bid_size) and q.asks[0] == (q.ask, q.ask_size) for q in after)
    # The first quote after the snapshot, by hand from the capture's lines 8-9: the
    # snapshot's bids behind 61837.63, no diff touched them yet.
    assert after[0].bids[1:3] == [(61837.62, 0.617), (61837.24, 0.1061)]


def test_depth_0_keeps_the_top_only_and_counts_what_it_skipped(tmp_path: Path) -> None:
    out = tmp_path / "top.ticks"
    assert importers.main(["binance", str(CAPTURE), "--out", str(out), "--depth", "0"]) == 0
    with TickFileReader(out) as reader:
        assert all(t.bids == [] and t.asks == [] for t in reader)


def test_a_gap_in_the_depth_diffs_drops_the_levels_rather_than_show_a_wrong_book() -> None:
    book = BinanceBook()
    book.on_diff({"U": 5, "u": 6, "b": [["99", "1"]], "a": []})  # before the snapshot: kept
    book.on_snapshot({"lastUpdateId": 5, "bids": [["100", "2"]], "asks": [["101", "3"]]})
    assert book.bids == {100.0: 2.0, 99.0: 1.0} and book.last_update_id == 6
    bids, asks = book.levels((100.0, 2.0, 101.0, 3.0), 3)
    assert bids == [(100.0, 2.0), (99.0, 1.0)] and asks == [(101.0, 3.0)]
    book.on_diff({"U": 9, "u": 10, "b": [], "a": []})  # 7 and 8 never came
    assert book.gaps == 1 and book.levels((100.0, 2.0, 101.0, 3.0), 3) == ([], [])


def test_max_seconds_keeps_only_the_start_of_the_capture(tmp_path: Path) -> None:
    """--max-seconds cuts by local receive time from the first event."""
    out = tmp_path / "short.ticks"
    assert importers.main(["binance", str(CAPTURE), "--out", str(out), "--max-seconds", "1"]) == 0
    with TickFileReader(out) as reader:
        ticks = list(reader)
    assert ticks
    assert ticks[-1].recv_ts_ns - 1723161253937085768 <= 1_000_000_000


def test_corrupt_input_fails_with_one_line_naming_file_and_line(tmp_path: Path) -> None:
    """A damaged line is exit 2 with path:line on stderr, and no output file."""
    bad = tmp_path / "bad.gz"
    lines = gzip.open(CAPTURE, "rt").read().splitlines()
    lines[5] = lines[5][: len(lines[5]) // 2]
    with gzip.open(bad, "wt") as f:
        f.write("\n".join(lines) + "\n")
    out = tmp_path / "never.ticks"
    result = subprocess.run(
        [sys.executable, "-m", "services.feed.importers", "binance", str(bad), "--out", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{bad}:6:" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.glob("never*")) == []


def test_symbol_names_split_base_and_quote() -> None:
    """Binance's glued symbols become BASE/QUOTE."""
    assert symbol_from_binance("BTCUSDT") == "BTC/USDT"
    assert symbol_from_binance("ethbtc") == "ETH/BTC"


REST_TRADES = """{"error": [], "result": {"XBTUSDT": [
  ["105433.60000", "0.00027625", 1762795433.9717445, "b", "l", "", 10218208],
  ["105410.10000", "0.00005000", 1762795457.8467374, "s", "m", "", 10218209]
], "last": "1762795457846737400"}}"""


def test_kraken_rest_trades_become_trade_ticks(tmp_path: Path) -> None:
    """The REST Trades shape: taker side kept, seconds turned into exact nanoseconds."""
    source = tmp_path / "trades.json"
    source.write_text(REST_TRADES)
    out = tmp_path / "rest.ticks"
    assert importers.main(["kraken-rest", str(source), "--out", str(out)]) == 0
    with TickFileReader(out, venue="kraken", symbols=["BTC/USDT"]) as reader:
        ticks = list(reader)
    assert [(t.last, t.last_size, t.side) for t in ticks] == [
        (105433.6, 0.00027625, Side.BUY),
        (105410.1, 0.00005, Side.SELL),
    ]
    assert ticks[0].exch_ts_ns == 1762795433971744500


def test_kraken_csv_infers_sides_with_the_tick_test(tmp_path: Path) -> None:
    """No side in the CSV: uptick buys, downtick sells, an unchanged price repeats."""
    source = tmp_path / "XBTUSD.csv"
    source.write_text(
        "1700000000,100.0,1\n1700000001,100.5,2\n1700000002,100.5,1\n1700000003,100.1,0.5\n"
    )
    out = tmp_path / "csv.ticks"
    assert (
        importers.main(["kraken-csv", str(source), "--symbol", "BTC/USD", "--out", str(out)]) == 0
    )
    with TickFileReader(out) as reader:
        assert [t.side for t in reader] == [Side.BUY, Side.BUY, Side.BUY, Side.SELL]
        assert "tick test" in reader.header.source


def test_kraken_csv_with_a_bad_row_names_the_line(tmp_path: Path) -> None:
    """A row that is not time,price,volume stops the import with its line number."""
    source = tmp_path / "bad.csv"
    source.write_text("1700000000,100.0,1\n1700000001,abc,2\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.feed.importers",
            "kraken-csv",
            str(source),
            "--symbol",
            "BTC/USD",
            "--out",
            str(tmp_path / "x.ticks"),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{source}:2:" in result.stderr
