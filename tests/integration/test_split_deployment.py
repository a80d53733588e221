"""A split deployment (ARCHITECTURE.md, "Deployment across hosts") on loopback tcp with CURVE.

Host A runs the feed and the recorder, hosts B and C one model each (its own
symbols, its own predictions port), host D the executor. Each process gets
only its host's `.env`, read from the doc itself, with the hosts' addresses
mapped to free loopback ports and the paths to this test's folders.

The fake Kraken's captured frames carry BTC/USD only (the feed subscribes to
ETH/USD too, as the doc says, and gets no ETH/USD book): model-a serves
BTC/USD; model-b serves ETH/USD, sees no tick, and must still end with the
feed's `eos`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from common.curve import create_keys
from tests.conftest import PROJECT_ROOT, free_ports
from tests.processes import services

DOC = PROJECT_ROOT / "docs" / "ARCHITECTURE.md"
HOSTS = ("A", "B", "C", "D")
MAX_TICKS = 200  # of the fixture's 511 (510 books and a trade): past the warm-up, then eos
DOC_KEYS = "/etc/plr/keys"
DOC_CKPT = "/opt/plr/models/model.skops"
DOC_RUNS = "/var/lib/plr/runs"


def host_env_files() -> dict[str, dict[str, str]]:
    """Each host's `.env` as the doc's "Deployment across hosts" section gives it."""
    text = DOC.read_text()
    section = text.split("## Deployment across hosts", 1)[1].split("\n## ", 1)[0]
    files: dict[str, dict[str, str]] = {}
    for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL):
        lines = block.splitlines()
        host = re.fullmatch(r"# host (\w): \.env", lines[0])
        assert host is not None, f"a .env block without its host: {lines[0]!r}"
        files[host[1]] = dict(
            line.split("=", 1) for line in lines[1:] if line and not line.startswith("#")
        )
    return files


def on_this_machine(
    files: dict[str, dict[str, str]], tmp_path: Path, checkpoint: Path
) -> dict[str, dict[str, str]]:
    """The same files with every host address on a free loopback port and local paths.

    One port per doc address (host and port), so B's and C's `:5556` stay apart.
    """
    ports: dict[str, int] = {}

    def local(match: re.Match[str]) -> str:
        port = ports.setdefault(match[0], free_ports())
        return f"tcp://127.0.0.1:{port}"

    result = {}
    for host, variables in files.items():
        local_vars = {}
        for name, value in variables.items():
            value = re.sub(r"tcp://10\.0\.0\.\d+:\d+", local, value)
            value = value.replace(DOC_KEYS, str(tmp_path / "keys"))
            value = value.replace(DOC_CKPT, str(checkpoint))
            value = value.replace(DOC_RUNS, str(tmp_path / f"host-{host}" / "runs"))
            local_vars[name] = value
        result[host] = local_vars
    return result


def _environment(host_env: dict[str, str], **extra: str) -> dict[str, str]:
    """This process's environment without any PLR_* setting of its own, then the host's .env."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PLR_", "KRAKEN_"))}
    # No metrics: the doc's .env files leave the default ports, which tests never bind.
    return {**base, **host_env, "PLR_DISABLE_METRICS": "1", **extra}


def _events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def test_feed_and_recorder_two_models_and_an_executor_on_four_hosts_complete_a_run(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    """Each host's .env from the doc, CURVE on loopback tcp: the run completes with every
    stage's eos, each model decides only its own symbols, the executor takes their targets."""
    from tests.fakes.kraken_ws import FakeKrakenServer

    files = host_env_files()
    assert sorted(files) == list(HOSTS)
    create_keys(tmp_path / "keys")
    env = on_this_machine(files, tmp_path, trained_checkpoint)
    run_dir = Path(env["A"]["PLR_RUN_DIR"])
    with FakeKrakenServer() as fake, services(tmp_path) as group:
        feed_only = {
            "KRAKEN_WS_URL": fake.url,
            "PLR_MAX_TICKS": str(MAX_TICKS),  # a deployment runs until stopped; a test ends
            "WS_DISABLE_HEALTH_SERVER": "1",
        }
        # Host A's recorder binds the logs socket everyone connects to: it starts first.
        group.start("recorder", "services.recorder", [], _environment(env["A"]))
        group.start("model-a", "services.model", [], _environment(env["B"]))
        group.start("model-b", "services.model", [], _environment(env["C"]))
        group.start("executor", "services.executor", [], _environment(env["D"]))
        group.start("feed", "services.feed", [], _environment(env["A"], **feed_only))
        for name in ("feed", "model-a", "model-b", "executor", "recorder"):
            assert group.wait(name, 120) == 0, f"{name}: {group.output(name)}"

    result = json.loads((run_dir / "result.json").read_text())
    assert result["exit_reason"] == "completed"
    assert result["eos_from"] == sorted(["executor", "feed", "model-a", "model-b"])
    counts = result["counts"]
    assert counts["ticks"] == MAX_TICKS
    # Each model decided its own symbols' ticks only: model-b's ETH/USD has none here.
    assert counts["ticks_seen"]["model-a"] == MAX_TICKS
    assert counts["ticks_seen"]["model-b"] == 0
    # Every peer held the deployment's keys; nobody sent garbage or a stranger's eos.
    assert counts["rejected_input"] == {
        source: {} for source in ("executor", "feed", "model-a", "model-b", "recorder")
    }
    events = _events(run_dir)
    predictions = [e for e in events if e["type"] == "Prediction"]
    assert predictions and {p["symbol"] for p in predictions} == {"BTC/USD"}
    assert counts["predictions"] == MAX_TICKS - 50  # model-a's, after its warm-up
    # model-a's target reached host D's executor: a PUSH that no authenticated
    # executor takes is dropped and counted. (How many targets this data gives
    # depends on the ticks: since the feed publishes every change of the depth-10
    # book, not only of the top, the first 200 ticks give two.)
    assert counts["targets_sent_by_model"] >= 1 and counts["dropped_targets"] == 0
    [executor] = [e for e in events if e["type"] == "RunCounters" and e["source"] == "executor"]
    # Both models' eos were taken as theirs (a name outside --models is counted here).
    assert executor["counters"]["unexpected_source"] == 0
    assert executor["counters"]["ticks"] == MAX_TICKS
    assert (Path(env["D"]["PLR_RUN_DIR"]) / "executor.journal").is_file()  # host D's own folder
