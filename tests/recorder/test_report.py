"""The run report: a panel set per symbol, on UTC time axes, rendered by a real headless browser.

The run folder is written by the project's own writers (a tick file, event
lines, a `RunRecord`'s result.json) for a BTC/USD + ETH/USD run whose prices
are 25 times apart: drawn together, the old report zigzagged between them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common.messages import OrderRejected, Position, RejectReason, RiskEvent, Side
from common.tickfile import TickFileWriter, new_header
from services.recorder import report
from services.recorder.artifacts import RunRecord, event_line
from services.recorder.report_data import Thinned, read_run
from tests.browser import headless_chromium, wait_for
from tests.factories import T0_NS, make_fill, make_tick

SECOND_NS = 1_000_000_000
PRICES = {"BTC/USD": 61_860.0, "ETH/USD": 2_467.0}
FILLS = {"BTC/USD": 3, "ETH/USD": 2}


def two_symbol_run(folder: Path) -> dict[str, Any]:
    """A finished two-symbol run: ticks, fills, positions, a rejection, a breaker trip."""
    folder.mkdir()
    record = RunRecord()
    lines: list[str] = []

    def event(message: Any, at_ns: int) -> None:
        record.on_event(message, at_ns)
        lines.append(event_line(message))

    header = new_header("kraken", list(PRICES), "test", T0_NS)
    with TickFileWriter(folder / "ticks.gz", header) as ticks:
        seq = 0
        for second in range(60):
            for symbol, price in PRICES.items():
                seq += 1
                mid = price * (1 + 0.001 * (second % 7))
                tick = make_tick(
                    symbol=symbol,
                    seq=seq,
                    recv_ts_ns=T0_NS + second * SECOND_NS,
                    bid=mid - 0.5,
                    ask=mid + 0.5,
                )
                ticks.write(tick)
                record.on_tick(tick, tick.recv_ts_ns)
    for symbol, count in FILLS.items():
        qty = 0.0
        for n in range(count):
            at_ns = T0_NS + (10 + 15 * n) * SECOND_NS
            side = Side.BUY if n % 2 == 0 else Side.SELL
            fill = make_fill(
                order_id=f"{symbol}-{n}",
                symbol=symbol,
                side=side,
                qty=0.1,
                price=PRICES[symbol],
                fee=0.5,
                ts_ns=at_ns,
            )
            event(fill, at_ns)
            qty += 0.1 if side is Side.BUY else -0.1
            event(_position(symbol, qty, fees=0.5 * (n + 1), at_ns=at_ns), at_ns)
    rejection = OrderRejected(
        order_id="r-1",
        target_id="t-9",
        symbol="ETH/USD",
        side=Side.BUY,
        qty=0.1,
        reason=RejectReason.CIRCUIT_BREAKER,
        detail="breaker tripped",
        ts_ns=T0_NS + 50 * SECOND_NS,
    )
    event(rejection, rejection.ts_ns)
    trip = RiskEvent(
        kind="circuit_breaker_tripped",
        symbol=None,
        detail="equity -3",
        ts_ns=T0_NS + 45 * SECOND_NS,
    )
    event(trip, trip.ts_ns)
    (folder / "events.jsonl").write_text("".join(line + "\n" for line in lines))
    result = record.result(
        run_id=folder.name,
        mode="paper",
        executor="PaperOrderExecutor",
        config={"PLR_SYMBOLS": "BTC/USD,ETH/USD", "PLR_MAX_LOSS": "3"},
        exit_reason="completed",
    )
    result["risk_limits"] = {"max_loss": 3.0, "max_position": 1.0}
    (folder / "result.json").write_text(json.dumps(result))
    return result


def _position(symbol: str, qty: float, *, fees: float, at_ns: int) -> Position:
    return Position(
        symbol=symbol,
        qty=qty,
        avg_price=PRICES[symbol] if qty else 0.0,
        realized_pnl=0.0,
        unrealized_pnl=0.0,
        fees=fees,
        equity=-fees,
        ts_ns=at_ns,
    )


def test_thinned_series_stays_under_twice_its_limit_and_keeps_the_first_point() -> None:
    """A long series is halved as it grows: bounded, evenly spread, starting at the start."""
    series = Thinned(limit=100)
    for i in range(10_000):
        series.add(i, float(i))
    assert 100 <= len(series.times) <= 200
    assert series.times[0] == 0
    steps = {b - a for a, b in zip(series.times, series.times[1:], strict=False)}
    assert len(steps) == 1  # evenly spread


def test_report_data_keeps_each_symbol_apart_with_its_drawdown_from_the_running_peak(
    tmp_path: Path,
) -> None:
    """Per symbol: its own prices (never the other's), its fills, equity minus its peak."""
    two_symbol_run(tmp_path / "run-1")
    data = read_run(tmp_path / "run-1")
    assert sorted(data.symbols) == sorted(PRICES)
    for symbol, price in PRICES.items():
        series = data.symbols[symbol]
        assert min(series.price.values) > price * 0.99 and max(series.price.values) < price * 1.01
        assert len(series.fills) == FILLS[symbol]
        assert all(d <= 0 for d in series.drawdown.values)
        assert series.drawdown.values[-1] == series.equity.values[-1] - max(
            [0.0, *series.equity.values]
        )
    assert [e["kind"] for e in data.risk_events] == ["circuit_breaker_tripped"]
    assert len(data.symbols["ETH/USD"].rejections) == 1


def test_report_of_a_two_symbol_run_renders_a_panel_set_per_symbol_on_utc_time_axes(
    tmp_path: Path,
) -> None:
    """In headless Chromium: one plotted section per symbol, five panels each, a UTC time
    axis, every fill marked, the breaker line drawn, the header with settings and limits."""
    result = two_symbol_run(tmp_path / "run-1")
    out = report.write_report(tmp_path / "run-1")
    with headless_chromium() as browser:
        browser.get(out.as_uri())
        wait_for(
            browser,
            "return document.querySelectorAll('section.symbol .main-svg').length >= 2",
            30,
            "plotly to draw both symbols",
        )
        sections = browser.execute_script(
            """
            return [...document.querySelectorAll('section.symbol')].map(section => {
              const plot = section.querySelector('.js-plotly-plot');
              const markers = plot.data.filter(t => t.mode === 'markers' && /fills/.test(t.name));
              return {
                symbol: section.dataset.symbol,
                panels: section.querySelectorAll('.cartesianlayer > .subplot').length,
                texts: [...section.querySelectorAll('.infolayer text')].map(t => t.textContent),
                xType: plot._fullLayout.xaxis.type,
                fills: markers.reduce((n, t) => n + t.x.length, 0),
                breakerLines: plot.layout.shapes.length,
                pricesHigh: Math.max(...plot.data[0].y),
              };
            });
            """
        )
        text = browser.find_element("tag name", "body").text
    assert [s["symbol"] for s in sections] == sorted(PRICES)
    for section in sections:
        assert section["panels"] == len(report.PANELS)
        assert "time (UTC)" in section["texts"]  # the shared x axis, under the last panel
        assert "circuit_breaker_tripped" in section["texts"]
        assert section["xType"] == "date"
        assert section["fills"] == FILLS[section["symbol"]]
        # The run-wide trip: a line through each of every symbol's panels.
        assert section["breakerLines"] == len(report.PANELS)
        assert section["pricesHigh"] < PRICES[section["symbol"]] * 1.01  # its own prices only
    assert sum(s["fills"] for s in sections) == result["counts"]["fills"]
    for shown in ("PLR_MAX_LOSS", "max_loss", "Risk limits", "circuit_breaker 1", "tripped 1x"):
        assert shown in text
