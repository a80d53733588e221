"""The seed's run end to end: four real processes, real sockets, real artifacts."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from honcho.environ import parse_procfile

from common.addresses import claim_folder
from common.config import option_of
from common.errors import TickFileCorrupt, TickFileHeaderError
from common.journal import read_entries
from common.limits import SymbolLimits
from common.messages import BATCH_MAX, Fill, Liquidity, Side
from common.tickfile import iter_ticks
from services.executor.executor_config import ExecutorConfig
from services.executor.gate import CREDENTIAL_VARIABLES
from services.executor.positions import PositionState
from services.model.bundle import ModelBundle
from services.model.checkpoint import load_checkpoint, write_checkpoint
from services.model.features import FEATURE_NAMES
from services.model.plugins import PluginRef
from services.model.service_config import DEFAULT_POLICY
from tests.conftest import (
    BUNDLED,
    FIXTURES,
    PROJECT_ROOT,
    scaled,
    small_filesystem,
    wait_until,
)

RESULT_FIELDS = {
    "run_id",
    "mode",
    "executor",
    "model_id",
    "config",
    "counts",
    "pnl",
    "max_drawdown",
    "positions",
    "circuit_breaker",
    "latency_us",
    "started_at",
    "ended_at",
    "exit_reason",
}


def _runner(tmp_path: Path, checkpoint: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "orchestration.paper_live",
        "--ckpt",
        str(checkpoint),
        "--address-dir",
        str(tmp_path),
        "--artifacts-dir",
        str(tmp_path / "artifacts"),
        *extra,
    ]


def _runner_process(
    tmp_path: Path,
    checkpoint: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    timeout_s: float = 240,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _runner(tmp_path, checkpoint, *extra),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=scaled(timeout_s),
        env=env,
    )


def _run(
    tmp_path: Path,
    checkpoint: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    timeout_s: float = 240,
) -> tuple[int, str, dict[str, Any], Path]:
    done = _runner_process(tmp_path, checkpoint, *extra, env=env, timeout_s=timeout_s)
    [folder] = (tmp_path / "artifacts").iterdir()
    return (
        done.returncode,
        done.stderr + done.stdout,
        json.loads((folder / "result.json").read_text()),
        folder,
    )


# Paced by Kraken's Starter rate limits the demo loses about 165 in fees and
# spread, short of the default --max-loss 250; a lower one shows the breaker.
DEMO_MAX_LOSS = 100.0


@pytest.fixture(scope="module")
def bundled_run(trained_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory):
    return _run(
        tmp_path_factory.mktemp("run1"), trained_checkpoint, "--max-loss", str(DEMO_MAX_LOSS)
    )


def test_full_replay_is_lossless_and_result_json_complete(bundled_run) -> None:
    """Every tick reaches the model and the recorder; result.json has every field; the
    progress line ends at the last tick (the feed's position file)."""
    code, output, result, folder = bundled_run
    assert code == 0, output
    assert f"[{'#' * 30}] 85,175/85,175 ticks (" in output
    assert RESULT_FIELDS <= set(result)
    assert result["exit_reason"] == "completed"
    assert result["counts"]["ticks"] == 85_175
    assert result["counts"]["ticks_seen"] == {"executor": 85_175, "model": 85_175}
    assert result["counts"]["predictions"] == 85_175 - 60
    assert result["counts"]["dropped_targets"] == 0
    assert result["mode"] == "paper" and result["executor"] == "PaperOrderExecutor"
    assert "PaperOrderExecutor" in (folder / "run.log").read_text()
    assert str(folder / "result.json") in output or folder.name in output


def test_result_explains_its_counts_and_records_the_limits_in_force(bundled_run) -> None:
    """Every count is accounted for, the risk limits are there, latency is named queueing."""
    code, output, result, folder = bundled_run
    assert code == 0, output
    counts = result["counts"]
    assert set(counts) <= set(result["count_meanings"]), set(counts) - set(result["count_meanings"])
    # A complete lossless run leaves no target queued: each one was acted on or already met.
    assert counts["targets_already_met"] > 0
    assert counts["targets_sent_by_model"] == counts["targets"] + counts["targets_already_met"]
    limits = result["risk_limits"]
    assert limits == result["sessions"][0]["risk_limits"]
    assert limits["max_loss"] == DEMO_MAX_LOSS  # given
    # Per symbol (one here): its orders, fills and refusals add up to the run's.
    [(symbol, figures)] = result["per_symbol"].items()
    assert symbol == "BTC/USDT" and figures["orders"] == counts["orders"] > 0
    assert figures["fills"] == counts["fills"] and figures["rejections"] == counts["rejections"]
    assert 0 < figures["max_abs_position"] <= limits["max_position"]
    for name in ("max_order_notional", "max_position"):  # not given: the defaults
        default = option_of(ExecutorConfig, name).default
        # Per-symbol limits: the default for every symbol is the figure under the plain name.
        expected = default.default.amount if isinstance(default, SymbolLimits) else default
        assert limits[name] == expected
    assert result["latency_us"]["measures"].startswith("queueing")  # a --speed 0 replay


def test_run_log_is_short_and_shows_every_fill_the_breaker_and_each_rejection_reason(
    bundled_run,
) -> None:
    """The demo's run.log: a few hundred lines a person can read, nothing important missing."""
    code, output, result, folder = bundled_run
    assert code == 0, output
    lines = (folder / "run.log").read_text().splitlines()
    assert len(lines) < 300
    stamp = re.compile(r"^\[\w+\] \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")
    assert all(stamp.match(line) for line in lines), [x for x in lines if not stamp.match(x)][:3]
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    fills = [e for e in events if e["type"] == "Fill"]
    assert fills
    executor_lines = [line for line in lines if line.startswith("[executor]")]
    for fill in fills:
        assert any(f"{fill['order_id']} " in line for line in executor_lines), fill["order_id"]
    trip = result["circuit_breaker"]
    assert trip["activations"] >= 1
    assert sum("circuit_breaker_tripped" in line for line in lines) >= 1
    for reason, count in result["counts"]["rejections"].items():
        assert any(reason in line and f"{count:,}" in line for line in lines), reason
    assert not any("RejectReason" in line or "replaying replaying" in line for line in lines)
    # The start-up lines logged before the recorder heard them reach run.log too.
    assert any(line.startswith("[model]") and result["model_id"][:12] in line for line in lines)
    assert any(line.startswith("[executor]") and "restored" in line for line in lines)
    for number in (f"{result['counts']['ticks']:,}", f"{result['pnl']['fees']:.2f}"):
        assert number in output  # the summary on the runner's stdout


def test_short_fast_replay_still_reaches_every_stage_whole(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    """A replay so short the model ends first: the executor still takes every tick."""
    code, output, result, _ = _run(tmp_path, trained_checkpoint, "--max-ticks", "3000")
    assert code == 0, output
    assert result["counts"]["ticks"] == 3000
    assert result["counts"]["ticks_seen"] == {"executor": 3000, "model": 3000}


def test_fills_in_events_agree_with_positions_and_pnl(bundled_run) -> None:
    """Replaying events.jsonl's fills through avg-cost accounting gives result.json's numbers."""
    _, _, result, folder = bundled_run
    positions: dict[str, PositionState] = {}
    fills = 0
    for line in (folder / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["type"] != "Fill":
            continue
        fills += 1
        for key in (
            "order_id",
            "symbol",
            "side",
            "qty",
            "price",
            "fee",
            "liquidity",
            "tick_seq",
            "ts_ns",
        ):
            assert key in event
        state = positions.setdefault(event["symbol"], PositionState(event["symbol"]))
        state.apply(
            Fill(
                order_id=event["order_id"],
                symbol=event["symbol"],
                side=Side(event["side"]),
                qty=event["qty"],
                price=event["price"],
                fee=event["fee"],
                liquidity=Liquidity(event["liquidity"]),
                tick_seq=event["tick_seq"],
                ts_ns=event["ts_ns"],
            )
        )
    assert fills == result["counts"]["fills"] > 0
    for symbol, state in positions.items():
        reported = result["positions"][symbol]
        assert state.qty == pytest.approx(reported["qty"], abs=1e-9)
        assert state.realized_pnl == pytest.approx(reported["realized_pnl"], abs=1e-6)
        assert state.fees == pytest.approx(reported["fees"], abs=1e-6)
    assert result["pnl"]["fees"] == pytest.approx(sum(p.fees for p in positions.values()))


def test_position_never_passes_max_position_whatever_the_open_orders_do(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    """With --max-position 0.002 the running sum of fills stays within +-0.002 throughout.

    The first 30,000 ticks (about 1.5 s; the whole recording takes 3.5 s) are
    where the old check, netting open orders into a working position, let the
    position reach -0.00364.
    """
    code, output, _, folder = _run(
        tmp_path, trained_checkpoint, "--max-position", "0.002", "--max-ticks", "30000"
    )
    assert code == 0, output
    position: dict[str, float] = {}
    peak, fills = 0.0, 0
    for line in (folder / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["type"] != "Fill":
            continue
        fills += 1
        signed = event["qty"] if event["side"] == "buy" else -event["qty"]
        position[event["symbol"]] = position.get(event["symbol"], 0.0) + signed
        peak = max(peak, abs(position[event["symbol"]]))
    assert fills > 100
    assert peak == pytest.approx(0.002, abs=1e-12)  # at the limit, never past it


def test_ticks_artifact_replays_to_the_same_ticks(bundled_run) -> None:
    """The recorded ticks file is a tick file holding the whole run."""
    from common.tickfile import TickFileReader

    _, _, _, folder = bundled_run
    with TickFileReader(folder / "ticks.gz") as reader:
        assert sum(1 for _ in reader) == 85_175


def _comparable(result: dict[str, Any]) -> dict[str, Any]:
    drop = {"run_id", "started_at", "ended_at", "latency_us", "throughput", "config"}
    sessions = [
        {k: v for k, v in session.items() if k not in ("started_at", "ended_at")}
        for session in result["sessions"]
    ]
    return {k: v for k, v in result.items() if k not in drop} | {"sessions": sessions}


def test_same_recording_twice_gives_the_same_result(
    bundled_run, trained_checkpoint: Path, tmp_path: Path
) -> None:
    """Determinism: apart from ids, times and latency, result.json is identical."""
    code, output, second, _ = _run(tmp_path, trained_checkpoint, "--max-loss", str(DEMO_MAX_LOSS))
    assert code == 0, output
    assert _comparable(second) == _comparable(bundled_run[2])


def _fills(folder: Path) -> list[tuple[Any, ...]]:
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    keys = ("symbol", "side", "qty", "price", "fee", "liquidity", "tick_seq", "ts_ns")
    return [tuple(e[k] for k in keys) for e in events if e["type"] == "Fill"]


def test_unbatched_replay_gives_the_same_run_as_the_default_batched_one(
    bundled_run, trained_checkpoint: Path, tmp_path: Path
) -> None:
    """`--replay-batch 1` against the default (256 ticks a message): the same result, the
    same fills at the same ticks, the same recorded ticks."""
    from common.tickfile import TickFileReader

    code, output, unbatched, folder = _run(
        tmp_path, trained_checkpoint, "--replay-batch", "1", "--max-loss", str(DEMO_MAX_LOSS)
    )
    assert code == 0, output
    assert json.loads(bundled_run[2]["config"]["PLR_REPLAY_BATCH"]) == BATCH_MAX
    assert json.loads(unbatched["config"]["PLR_REPLAY_BATCH"]) == 1
    assert _comparable(unbatched) == _comparable(bundled_run[2])
    assert unbatched["counts"]["ticks_seen"] == {"model": 85_175, "executor": 85_175}
    assert _fills(folder) == _fills(bundled_run[3])
    with TickFileReader(folder / "ticks.gz") as mine, TickFileReader(BUNDLED) as recorded:
        assert list(mine) == list(recorded)


def test_batched_replay_at_recorded_pace_is_refused_before_anything_starts(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    """Batching would delay ticks at a paced replay: exit 2 with one line, no run folder."""
    done = _runner_process(
        tmp_path, trained_checkpoint, "--replay-batch", "64", "--speed", "1", timeout_s=60
    )
    assert done.returncode == 2
    assert "--replay-batch is for replays at --speed 0" in done.stderr
    assert not (tmp_path / "artifacts").exists()


def test_ctrl_c_mid_run_still_leaves_a_complete_result(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    """SIGINT to the runner at recorded pace: a complete result.json saying interrupted."""
    runner = subprocess.Popen(
        _runner(tmp_path, trained_checkpoint, "--speed", "1"),
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        artifacts = tmp_path / "artifacts"
        wait_until(
            lambda: any((d / "ticks.gz").exists() for d in artifacts.glob("*")),
            60,
            "the recorder to start",
        )
        [folder] = artifacts.iterdir()
        runner.send_signal(signal.SIGINT)
        try:
            assert runner.wait(scaled(90)) == 1
        except subprocess.TimeoutExpired:  # say where it hung (once seen in CI, not again)
            runner.kill()
            output = runner.communicate()[0].decode(errors="replace")
            run_log = (folder / "run.log").read_text() if (folder / "run.log").exists() else ""
            pytest.fail(f"no exit 90 s after Ctrl-C\n{output[-4000:]}\n{run_log[-4000:]}")
    finally:
        if runner.poll() is None:
            runner.kill()
    result = json.loads((folder / "result.json").read_text())
    assert RESULT_FIELDS <= set(result)
    assert result["exit_reason"] == "interrupted"
    assert result["counts"]["ticks"] < 85_175
    assert (folder / "report.html").stat().st_size > 0  # every run ends with its report


def test_run_log_events_and_ticks_can_be_watched_while_a_paced_run_goes_on(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    """At a fiftieth of recorded pace, each artifact shows data early, the run still going.

    The recorder flushes run.log and events.jsonl and ends a gzip member of
    ticks.gz about every second, so a reader sees whole lines and a tick file
    that reads cleanly to its end.
    """
    runner = subprocess.Popen(
        _runner(tmp_path, trained_checkpoint, "--speed", "0.02"),
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    artifacts = tmp_path / "artifacts"

    def whole_lines(name: str) -> int:
        """The file's size if it ends with a whole line, else 0 (a buffer cut it mid-line)."""
        data = (folder / name).read_bytes()
        return len(data) if data.endswith(b"\n") else 0

    def ticks_readable() -> int:
        try:
            return sum(1 for _ in iter_ticks(folder / "ticks.gz"))
        except (TickFileCorrupt, TickFileHeaderError):
            return 0

    try:
        wait_until(lambda: any(artifacts.glob("*/ticks.gz")), 60, "the recorder to start")
        [folder] = artifacts.iterdir()
        # ~3 ticks/s, so the model's first decision is many seconds away. The
        # recorder writes run.log's first line and events.jsonl's FeedStatus
        # before the first tick, and flushes those files before ticks.gz: once
        # ticks.gz reads cleanly, both show whole lines (buffered, they stay
        # empty until a buffer fills).
        wait_until(lambda: ticks_readable() > 0, 40, "ticks.gz to read cleanly with ticks")
        assert runner.poll() is None, "the run ended: nothing was watched live"
        for name in ("run.log", "events.jsonl"):
            assert whole_lines(name) > 0, f"{name} shows no whole line"
        ticks = ticks_readable()
        wait_until(lambda: ticks_readable() > ticks, 30, "ticks.gz to grow")
        assert runner.poll() is None
    finally:
        runner.send_signal(signal.SIGINT)
        try:
            runner.wait(scaled(90))
        finally:
            if runner.poll() is None:
                runner.kill()


def test_exchange_credentials_reach_only_the_executor_process(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    """The runner is given the exchange key and secret: only the executor's environment has them."""
    import psutil

    credentials = {"EXCHANGE_API_KEY": "runner-key", "EXCHANGE_API_SECRET": "c2VjcmV0"}
    runner = subprocess.Popen(
        _runner(tmp_path, trained_checkpoint, "--speed", "1"),
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **credentials},
    )
    services: dict[str, psutil.Process] = {}

    def all_started() -> bool:
        # Until it execs, a child's /proc/<pid>/environ is still the runner's own.
        for child in psutil.Process(runner.pid).children():
            with contextlib.suppress(psutil.Error):
                for part in child.cmdline():
                    if part.startswith("services."):
                        services[part.removeprefix("services.")] = child
        return len(services) == 4

    try:
        wait_until(all_started, 60, "the runner to start its four services")
        environs = {name: process.environ() for name, process in services.items()}
    finally:
        runner.send_signal(signal.SIGINT)
        try:
            runner.wait(scaled(90))
        finally:
            if runner.poll() is None:
                runner.kill()
    assert set(environs) == {"recorder", "model", "executor", "feed"}
    for name, environ in environs.items():
        held = {key: environ.get(key) for key in credentials}
        assert held == (credentials if name == "executor" else dict.fromkeys(credentials)), name


def test_live_request_through_the_runner_is_refused_before_anything_starts(
    tmp_path: Path, trained_checkpoint: Path
) -> None:
    """--no-paper-mode --live-executor without the opt-ins: exit 2, no run folder, no process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENABLE_REAL", "CONFIRM_LIVE"))}
    done = _runner_process(
        tmp_path,
        trained_checkpoint,
        *("--use-ws", "--no-paper-mode", "--live-executor"),
        env=env,
        timeout_s=60,
    )
    assert done.returncode == 2
    assert "ENABLE_REAL_LIVE_EXECUTOR=1" in done.stderr
    assert not (tmp_path / "artifacts").exists()


def test_a_checkpoint_whose_pin_does_not_match_is_refused_before_anything_starts(
    tmp_path: Path, trained_checkpoint: Path
) -> None:
    """A wrong pin: exit 2 naming --ckpt, no run folder, no service started."""
    done = _runner_process(tmp_path, trained_checkpoint, "--ckpt-sha256", "0" * 64, timeout_s=60)
    assert done.returncode == 2
    assert "--ckpt" in done.stderr and "does not match the pin" in done.stderr
    assert not (tmp_path / "artifacts").exists()


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (("--max-loss", "-5"), "--max-loss"),
        (("--speed", "-1"), "--speed"),
        (("--max-position", "nan"), "--max-position"),
        (("--max-order-notional", "1e308"), "--max-order-notional"),
        (("--max-ticks", "0"), "--max-ticks"),
        (("--run-id", "../escape"), "--run-id"),
    ],
)
def test_a_bad_setting_is_refused_in_one_line_before_anything_starts(
    tmp_path: Path, trained_checkpoint: Path, extra: tuple[str, str], named: str
) -> None:
    """Every bad value: exit 2, one stderr line naming the flag, no process, no run folder."""
    done = _runner_process(tmp_path, trained_checkpoint, *extra, timeout_s=30)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and named in done.stderr
    assert not (tmp_path / "artifacts").exists()


def test_a_checkpoint_that_is_missing_or_has_no_pin_is_refused(
    tmp_path: Path, trained_checkpoint: Path
) -> None:
    """A missing file, or one with no pin anywhere: exit 2 naming --ckpt, nothing started."""
    unpinned = tmp_path / "unpinned.pkl"
    unpinned.write_bytes(trained_checkpoint.read_bytes())
    for checkpoint in (tmp_path / "missing.pkl", unpinned):
        done = _runner_process(tmp_path, checkpoint, timeout_s=30)
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and "--ckpt" in done.stderr
        assert not (tmp_path / "artifacts").exists()


def test_an_address_folder_in_use_by_a_running_run_is_refused(
    tmp_path: Path, trained_checkpoint: Path
) -> None:
    """Two runs on one --address-dir would cross-talk: the second is refused with exit 2."""
    with claim_folder(tmp_path):  # what a running runner holds for its whole run
        done = _runner_process(tmp_path, trained_checkpoint, timeout_s=30)
    assert done.returncode == 2
    assert "in use by a running run" in done.stderr
    assert not (tmp_path / "artifacts").exists()


def test_a_service_failing_to_start_is_named_and_the_run_fails(
    tmp_path: Path, trained_checkpoint: Path
) -> None:
    """A plug-in that loads in the runner's check but not in the model service: the model
    fails at start, and the runner names it (a checkpoint that cannot load at all is
    refused before anything starts, test_plugin_model.py)."""
    checkpoint = checkpoint_failing_in_service(tmp_path, trained_checkpoint)
    done = _runner_process(
        tmp_path, checkpoint, "--plugin-path", str(FIXTURES / "plugins"), timeout_s=120
    )
    assert done.returncode == 1
    assert "model failed (exit 2)" in done.stderr and "refuses to run" in done.stderr


def checkpoint_failing_in_service(tmp_path: Path, trained_checkpoint: Path) -> Path:
    """A checkpoint whose plug-in passes the runner's check but fails in the model service
    (tests/fixtures/plugins/service_only_failure.py): a service that dies at start."""
    return checkpoint_with_features(tmp_path, trained_checkpoint, "service_only_failure")


def checkpoint_with_features(tmp_path: Path, trained_checkpoint: Path, plugin: str) -> Path:
    """The trained model with the feature source `plugin:Features` (tests/fixtures/plugins/)."""
    model = load_checkpoint(trained_checkpoint, None, DEFAULT_POLICY)
    features = PluginRef(f"{plugin}:Features")
    bundle = ModelBundle(model.estimator, FEATURE_NAMES, model.policy, 50, features=features)
    checkpoint = tmp_path / f"{plugin}.pkl"
    write_checkpoint(bundle, checkpoint)
    return checkpoint


def test_runner_writes_the_report_with_every_fill_and_a_panel_set_per_symbol(
    bundled_run, tmp_path: Path
) -> None:
    """report.html is written at the end of the run: one section per symbol, every fill in
    it; `python -m services.recorder.report` draws the same page again."""
    from services.recorder import report
    from services.recorder.report_data import read_run

    _, output, result, folder = bundled_run
    page = (folder / "report.html").read_text()
    assert "report.html" in output  # the runner lists it among the artifacts
    assert page.count("<section class='symbol'") == 1
    assert "data-symbol='BTC/USDT'" in page
    data = read_run(folder)
    assert sum(len(series.fills) for series in data.symbols.values()) == result["counts"]["fills"]
    assert report.main([str(folder), "--out", str(tmp_path / "again.html")]) == 0
    assert (tmp_path / "again.html").stat().st_size > 0
    # The per-symbol table: the symbol's limits in force and what it traded.
    btc = result["per_symbol"]["BTC/USDT"]
    row = re.search(r"<tr><td>BTC/USDT</td>(.*?)</tr>", page)
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row[1])
    assert cells[:4] == ["0.05", "5000", f"{btc['orders']:,}", f"{btc['fills']:,}"]


def test_seed_command_with_use_ws_runs_on_a_fake_kraken(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    """`--ckpt ... --use-ws --max-ticks 100` against the fake Kraken: 100 ticks, then done."""
    from tests.fakes.kraken_ws import FakeKrakenServer

    with FakeKrakenServer() as fake:
        env = {**os.environ, "WS_DISABLE_HEALTH_SERVER": "1"}
        args = ("--use-ws", "--max-ticks", "100", "--ws-url", fake.url)
        code, output, result, folder = _run(
            tmp_path, trained_checkpoint, *args, env=env, timeout_s=120
        )
    assert code == 0, output
    assert result["exit_reason"] == "completed"
    assert result["counts"]["ticks"] == 100
    assert result["config"]["PLR_USE_WS"] == "1"
    assert "[feed]" in (folder / "run.log").read_text()
    assert re.search(r"^100 ticks \(", output, re.MULTILINE)  # the live feed's position too


def test_live_run_through_the_runner_trades_only_at_the_local_fake_venue(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    """Every opt-in, the fake Kraken WS for data and the fake REST for orders: a live run.

    The fixture's 100 ticks give the model no trade worth its fee, so this proves
    the runner's live path (gate, live executor, reconciliation at the venue,
    artifacts); the service tests trade through it.
    """
    import base64

    from tests.fakes.kraken_rest import FakeKrakenRest
    from tests.fakes.kraken_ws import FakeKrakenServer

    secret = base64.b64encode(os.urandom(64)).decode()
    with FakeKrakenServer() as ws, FakeKrakenRest("runner-key", secret) as rest:
        env = {
            **os.environ,
            "WS_DISABLE_HEALTH_SERVER": "1",
            "ENABLE_REAL_LIVE_EXECUTOR": "1",
            "CONFIRM_LIVE": "1",
            "LIVE_EXECUTOR_PROVIDER": "krakenex",
            "EXCHANGE_API_KEY": "runner-key",
            "EXCHANGE_API_SECRET": secret,
            "EXCHANGE_BASE_URL": rest.url,
        }
        args = ("--use-ws", "--max-ticks", "100", "--ws-url", ws.url)
        live = ("--no-paper-mode", "--live-executor")
        code, output, result, folder = _run(
            tmp_path, trained_checkpoint, *args, *live, env=env, timeout_s=120
        )
    assert code == 0, output
    assert (result["mode"], result["executor"]) == ("live", "LiveOrderExecutor")
    assert result["exit_reason"] == "completed"
    journal = (folder / "executor-live.journal").read_text()
    assert "venue_balance_baseline" in journal  # reconciled with the fake venue at start
    assert {"OpenOrders", "Balance"} <= {entry["method"] for entry in rest.log}
    assert result["counts"]["fills"] == journal.count('["Fill"')
    booked = {order["cl_ord_id"] for order in rest.orders.values()}
    assert booked == {
        json.loads(line)[2] for line in journal.splitlines() if line.startswith('["Fill"')
    }
    for artifact in folder.iterdir():
        text = artifact.read_text(errors="replace") if artifact.suffix != ".gz" else ""
        assert secret not in text and "runner-key" not in text


def test_the_procfile_gives_exchange_credentials_to_the_executor_alone() -> None:
    """Under honcho (which starts the Procfile as it is) only the executor's line keeps them."""
    lines = parse_procfile((PROJECT_ROOT / "Procfile").read_text()).processes
    for name, command in lines.items():
        argv = shlex.split(command)
        unset = {argv[i + 1] for i, part in enumerate(argv[:-1]) if part == "-u"}
        if name == "executor":
            assert argv[0] == "python" and not unset
        else:
            assert argv[0] == "env" and unset == set(CREDENTIAL_VARIABLES)


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A real read-only filesystem (a tmpfs mounted ro): even root cannot write in it."""
    with small_filesystem(tmp_path / "read-only", "ro,size=64k") as folder:
        yield folder


def test_a_read_only_artifacts_folder_is_refused_before_anything_starts(
    tmp_path: Path, trained_checkpoint: Path, read_only_folder: Path
) -> None:
    """--artifacts-dir on a read-only filesystem: exit 2, one line naming it, nothing started."""
    artifacts = str(read_only_folder / "artifacts")  # the last --artifacts-dir wins
    done = _runner_process(tmp_path, trained_checkpoint, "--artifacts-dir", artifacts, timeout_s=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--artifacts-dir" in done.stderr


def test_an_artifacts_folder_under_a_file_is_refused_before_anything_starts(
    tmp_path: Path, trained_checkpoint: Path
) -> None:
    """A folder that cannot be created: exit 2, one line naming --artifacts-dir."""
    (tmp_path / "a-file").write_text("")
    artifacts = str(tmp_path / "a-file" / "artifacts")  # the last --artifacts-dir wins
    done = _runner_process(tmp_path, trained_checkpoint, "--artifacts-dir", artifacts, timeout_s=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--artifacts-dir" in done.stderr


def test_a_run_id_whose_folder_exists_is_refused_and_the_old_run_left_as_it_was(
    tmp_path: Path, trained_checkpoint: Path
) -> None:
    """Seen: a rerun with the same --run-id traded again on top of the old journal."""
    old = tmp_path / "artifacts" / "same-id"
    old.mkdir(parents=True)
    (old / "executor.journal").write_text("")
    done = _runner_process(tmp_path, trained_checkpoint, "--run-id", "same-id", timeout_s=30)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--run-id" in done.stderr
    assert sorted(p.name for p in old.iterdir()) == ["executor.journal"]


def test_a_disk_that_fills_mid_run_halts_cleanly_and_says_why_in_one_line_each(
    tmp_path: Path, trained_checkpoint: Path
) -> None:
    """Seen: ENOSPC ended the run with tracebacks and no word on result.json.

    A 1 MiB artifacts filesystem fills a few seconds in: the executor halts
    naming its journal, the runner says result.json could not be settled (or
    settles it), shows the journals' money, lists only artifacts that exist,
    and exits 1 without a traceback.
    """
    with small_filesystem(tmp_path / "small", "size=1m") as small:
        done = _runner_process(tmp_path, trained_checkpoint, "--artifacts-dir", str(small))
        [folder] = small.iterdir()
        output = done.stdout + done.stderr
        assert done.returncode == 1, output
        assert "Traceback" not in output
        [halt] = [line for line in output.splitlines() if "executor failed" in line]
        assert "executor.journal" in halt and "No space left on device" in halt
        settled = (folder / "result.json").is_file()
        assert settled or "result.json not settled: cannot write" in output
        assert not list(folder.glob("*.partial"))  # no half-written file left taking space
        [listed] = [line for line in output.splitlines() if "artifacts in" in line]
        for name in ("run.log", "result.json", "events.jsonl", "ticks.gz"):
            assert (name in listed) == (folder / name).exists()
        fills = [e for e in read_entries(folder / "executor.journal") if isinstance(e, Fill)]
        assert f"{len(fills):,} fills" in output  # the money shown is the journal's


def test_demo_trades_a_spot_account_never_below_zero_and_reports_its_balances(
    bundled_run,
) -> None:
    """Default balances, no BTC: no fill takes BTC below 0, sells beyond it are refused as
    Kraken refuses them, quantities are exact decimals, result.json shows the account."""
    code, output, result, folder = bundled_run
    assert code == 0, output
    account = result["account"]
    assert account["currency"] == "USDT"
    assert account["starting_balances"] == {"USD": 10_000.0, "USDT": 10_000.0}
    assert account["lowest_balances"]["BTC"] >= 0 and account["lowest_balances"]["USDT"] >= 0
    held, lowest = 0.0, 0.0
    for line in (folder / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "Fill":
            assert len(repr(event["qty"]).partition(".")[2]) <= 8, event  # on the lot grid
            held = float(
                Decimal(repr(held))
                + Decimal(repr(event["qty"])) * (1 if event["side"] == "buy" else -1)
            )
            lowest = min(lowest, held)
    assert lowest == 0.0
    assert (
        account["ending_balances"].get("BTC", 0.0) == held == result["positions"]["BTC/USDT"]["qty"]
    )
    assert result["counts"]["rejections"].get("insufficient_funds", 0) > 0
    assert account["ending_equity"] is not None and account["unvalued_assets"] == ["USD"]
