"""Every service answers /metrics in the Prometheus text format while a run goes on.

The four services run as real processes (a paced replay, and a live feed on the
fake Kraken WebSocket), each on its own free loopback metrics port; each scrape
is parsed with prometheus_client's own parser. They stay up after their `eos`
(`--stay-after-eos`), so the executor's gauges can be read once result.json is
written: they must equal its positions and PnL.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import BUNDLED, PROJECT_ROOT, free_ports, scaled, wait_until
from tests.processes import Services, services

SERVICES = ("recorder", "model", "executor", "feed")
PORT_VARIABLES = {
    "feed": "PLR_HEALTH_PORT",
    "model": "PLR_MODEL_METRICS_PORT",
    "executor": "PLR_EXECUTOR_METRICS_PORT",
    "recorder": "PLR_RECORDER_METRICS_PORT",
}
# What each service must expose, whatever the data (a sample of each's families).
EXPECTED = {
    "feed": {"feed_symbol_state", "feed_ready"},  # a replay's tick count: at its end
    "model": {
        "model_ticks",
        "model_predictions",
        "model_predict_seconds",
        "model_queue_depth",
        "model_tick_lag_seconds",
    },
    "executor": {"executor_breaker_tripped", "executor_orders", "executor_rejections"},
    "recorder": {"recorder_recorded", "recorder_disk_bytes"},
}


def scrape(port: int) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """One /metrics, parsed: family name -> {(sample name, labels): value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=scaled(5)) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = answer.read().decode()
    return {
        family.name: {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for sample in family.samples
        }
        for family in text_string_to_metric_families(text)
    }


def answers(port: int) -> bool:
    try:
        scrape(port)
    # Not listening yet; a connect to a free port in the ephemeral range can even
    # meet itself (TCP simultaneous open) and read its own request back.
    except (OSError, http.client.HTTPException):
        return False
    return True


def _start_run(group: Services, env: dict[str, str]) -> None:
    for name in SERVICES:  # the recorder binds the logs socket: first; the feed last
        group.start(name, f"services.{name}", [], env)


def _gauge(metrics: dict[str, Any], family: str, symbol: str) -> float:
    return metrics[family][(family, (("symbol", symbol),))]


def _stop(group: Services) -> None:
    for name in SERVICES:
        group.procs[name].send_signal(signal.SIGTERM)
    for name in SERVICES:
        assert group.wait(name, 30) == 0, f"{name}: {group.output(name)}"


def _run_env(tmp_path: Path, checkpoint: Path, ports: dict[str, int]) -> dict[str, str]:
    return {
        **os.environ,
        "PLR_RUN_DIR": str(tmp_path / "run-metrics"),
        "PLR_CKPT": str(checkpoint),
        "PLR_EXPECT": "model,executor,recorder",
        "PLR_STAY_AFTER_EOS": "1",  # scraped once the run is done, then stopped
        **{PORT_VARIABLES[name]: str(port) for name, port in ports.items()},
    }


def _check_end(group: Services, run_dir: Path, ports: dict[str, int]) -> dict[str, Any]:
    """result.json is written: the executor's gauges equal it; every service still answers."""
    result_file = run_dir / "result.json"
    wait_until(result_file.exists, 120, "result.json")
    result = json.loads(result_file.read_text())
    assert result["exit_reason"] == "completed"
    executor = scrape(ports["executor"])
    for symbol, position in result["positions"].items():
        assert _gauge(executor, "executor_position", symbol) == position["qty"]
        assert _gauge(executor, "executor_realized_pnl", symbol) == position["realized_pnl"]
        assert _gauge(executor, "executor_unrealized_pnl", symbol) == position["unrealized_pnl"]
        assert _gauge(executor, "executor_equity", symbol) == position["equity"]
        fees = executor["executor_fees"][("executor_fees_total", (("symbol", symbol),))]
        assert fees == position["fees"]
    total = executor["executor_total_equity"][("executor_total_equity", ())]
    assert total == pytest.approx(result["pnl"]["total"], abs=1e-9)
    fills = sum(executor["executor_fills"].values())
    assert fills == result["counts"]["fills"]
    # The paper account (default USD=10000,USDT=10000, no base asset): the base balance
    # is the position; the quote paid for it at its average price, plus what was
    # realized, less the fees.
    balance = executor["executor_balance"]
    [(symbol, held)] = result["positions"].items()
    base, quote = symbol.split("/")
    in_base = balance.get(("executor_balance", (("asset", base),)), 0.0)  # none before a fill
    assert in_base == pytest.approx(held["qty"])
    paid = held["qty"] * held["avg_price"]
    in_quote = 10_000 + held["realized_pnl"] - held["fees"] - paid
    assert balance[("executor_balance", (("asset", quote),))] == pytest.approx(in_quote, abs=1e-6)
    assert set(executor["executor_balance_held"].values()) == {0.0}  # no order left open
    recorder = scrape(ports["recorder"])
    recorded = recorder["recorder_recorded"]
    assert recorded[("recorder_recorded_total", (("kind", "tick"),))] == result["counts"]["ticks"]
    assert recorded[("recorder_recorded_total", (("kind", "fill"),))] == result["counts"]["fills"]
    return result


def test_every_service_serves_metrics_during_a_paced_replay_and_the_executor_gauges_end_at_result_json(  # noqa: E501
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    """Paced replay: all four /metrics parse while ticks flow; at the end the executor's
    position, PnL, fees and fill count equal result.json's."""
    first = free_ports(4)
    ports = {name: first + i for i, name in enumerate(SERVICES)}
    env = _run_env(tmp_path, trained_checkpoint, ports) | {
        "PLR_REPLAY": str(BUNDLED),
        "PLR_SPEED": "10",  # ~1,500 ticks/s: a few seconds, scraped while it goes on
        "PLR_MAX_TICKS": "8000",
        "PLR_LOSSLESS": "1",
        "PLR_VENUE": "binance",
        "PLR_SYMBOLS": "BTC/USDT",
    }
    with services(tmp_path) as group:
        _start_run(group, env)
        for name in SERVICES:
            wait_until(lambda name=name: answers(ports[name]), 60, f"{name}'s /metrics")
        wait_until(
            lambda: scrape(ports["model"])["model_ticks"][("model_ticks_total", ())] > 0,
            60,
            "the model to count ticks",
        )
        assert not (Path(env["PLR_RUN_DIR"]) / "result.json").exists(), "scraped too late"
        for name, families in EXPECTED.items():
            scraped = scrape(ports[name])
            assert families <= set(scraped), f"{name}: {families - set(scraped)} missing"
        result = _check_end(group, Path(env["PLR_RUN_DIR"]), ports)
        assert result["counts"]["fills"] > 0  # the equality above compared real positions
        feed = scrape(ports["feed"])
        assert feed["feed_ticks"][("feed_ticks_total", ())] == 8000
        _stop(group)


def test_every_service_serves_metrics_during_a_live_run_on_the_fake_kraken(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    """Live feed on the fake Kraken WebSocket: all four /metrics parse mid-run; the feed's
    symbol is live; at the end the executor's gauges equal result.json."""
    from tests.fakes.kraken_ws import FakeKrakenServer

    first = free_ports(4)
    ports = {name: first + i for i, name in enumerate(SERVICES)}
    env = _run_env(tmp_path, trained_checkpoint, ports)
    with FakeKrakenServer(paced=True) as fake, services(tmp_path) as group:
        env |= {
            "PLR_USE_WS": "1",
            "KRAKEN_WS_URL": fake.url,
            "PLR_SYMBOLS": "BTC/USD",
            "PLR_VENUE": "kraken",
            "PLR_MAX_TICKS": "200",
        }
        _start_run(group, env)
        for name in SERVICES:
            wait_until(lambda name=name: answers(ports[name]), 60, f"{name}'s /metrics")
        fake.allow(20)
        wait_until(
            lambda: scrape(ports["feed"])["feed_ready"][("feed_ready", ())] == 1, 60, "a live book"
        )
        for name, families in EXPECTED.items():
            if name == "feed":
                families = families | {"feed_ticks", "feed_messages", "feed_resyncs"}
            scraped = scrape(ports[name])
            assert families <= set(scraped), f"{name}: {families - set(scraped)} missing"
        assert "feed_last_tick_age_seconds" in scrape(ports["feed"])
        fake.allow(1_000)
        _check_end(group, Path(env["PLR_RUN_DIR"]), ports)
        exported = set().union(*(scrape(port) for port in ports.values()))
        _stop(group)
    assert dashboard_metrics() <= exported


def dashboard_metrics() -> set[str]:
    """The metric families the shipped Grafana dashboard queries (suffixes taken off)."""
    dashboard = json.loads(
        (PROJECT_ROOT / "docs" / "monitoring" / "grafana-dashboard.json").read_text()
    )
    names = {
        re.sub(r"_(total|bucket|sum|count)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(?:feed|model|executor|recorder)_[a-z_]+", target["expr"])
    }
    assert len(names) > 10
    return names
