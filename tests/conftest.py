"""Shared fixtures: a leak-checked ZeroMQ context and condition waits."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

# Slow machines set PLR_TEST_TIMEOUT_SCALE=3 (or more); every wait scales by it.
TIMEOUT_SCALE = float(os.environ.get("PLR_TEST_TIMEOUT_SCALE", "1"))
PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
BUNDLED = PROJECT_ROOT / "data" / "binance_btcusdt_spot_2024-08-08_10min.ticks.gz"


# No service a test starts binds a default metrics port (8780-8784, common/metrics.py):
# tests run side by side. 0 is any free port; a test that scrapes names its own.
for _variable in (
    "PLR_HEALTH_PORT",
    "PLR_MODEL_METRICS_PORT",
    "PLR_EXECUTOR_METRICS_PORT",
    "PLR_RECORDER_METRICS_PORT",
    "PLR_DASHBOARD_PORT",
):
    os.environ.setdefault(_variable, "0")


def scaled(timeout_s: float) -> float:
    return timeout_s * TIMEOUT_SCALE


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll `predicate` until it holds; fail the test naming `what` if it never does."""
    deadline = time.monotonic() + scaled(timeout_s)
    event = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {scaled(timeout_s):g} s waiting for {what}")
        event.wait(0.01)  # a polling interval, not a synchronisation sleep


@pytest.fixture
def zmq_ctx() -> Iterator[zmq.Context]:
    """A context that fails the test if any socket is left open, and never hangs."""
    ctx = zmq.Context()
    yield ctx
    # pyzmq tracks the context's sockets weakly; anything still open leaked.
    leaked = [s for s in list(ctx._sockets) if not s.closed]
    ctx.destroy(linger=0)  # closes the leaked ones too, so teardown cannot hang
    assert not leaked, f"{len(leaked)} socket(s) left open by the test"


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's checkpoint, trained once per session on the bundled recording (with its pin).

    With the demo's linear policy, which trades on any edge: the cost-aware
    default would not trade on this model at all, and the pipeline tests need fills.
    """
    from services.model import train

    out = tmp_path_factory.mktemp("model") / "model.skops"
    assert train.main(["--ticks", str(BUNDLED), "--out", str(out), "--policy", "linear"]) == 0
    return out


EXAMPLE_PLUGINS = PROJECT_ROOT / "examples" / "plugin_model"


@pytest.fixture(scope="session")
def short_ticks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled recording's first 6,000 ticks: enough to warm up, predict and trade."""
    from common.tickfile import TickFileReader, TickFileWriter

    path = tmp_path_factory.mktemp("ticks") / "short.ticks"
    with TickFileReader(BUNDLED) as reader, TickFileWriter(path, reader.header) as writer:
        for tick in reader:
            if tick.seq > 6_000:
                break
            writer.write(tick)
    return path


@pytest.fixture(scope="session")
def example_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/plugin_model trained as its README says, from its folder on --plugin-path.

    With a taker fee of 0 in its costs (a what-if): the cost-aware policy then
    trades whenever the edge beats the spread, so a run shows targets and fills.
    """
    from services.model import train

    out = tmp_path_factory.mktemp("example") / "plugin.skops"
    args = ["--ticks", str(BUNDLED), "--out", str(out), "--plugin-path", str(EXAMPLE_PLUGINS)]
    args += ["--features", "plugin_model.features:BookPressure"]
    args += [
        "--estimator",
        "plugin_model.estimator:pipeline",
        "--estimator-param",
        "n_estimators=30",
    ]
    assert train.main([*args, "--taker-fee-bps", "0"]) == 0
    return out


@contextmanager
def small_filesystem(folder: Path, options: str) -> Iterator[Path]:
    """A real tmpfs mounted at `folder` (e.g. "size=4k", "ro,size=64k"): disk faults for real.

    Skips the test where mounting is not allowed (not root).
    """
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


# Below Linux's ephemeral range (32768-60999): a port picked there can be taken,
# between the check and the service's bind, as the local port of any outgoing
# connection on the machine (it happened: a model's metrics port under load).
FREE_PORT_RANGE: Final = (20_000, 32_000)


def free_ports(count: int = 1) -> int:
    """The first of `count` consecutive free loopback TCP ports (checked, then released)."""
    for _ in range(200):
        first = random.randrange(FREE_PORT_RANGE[0], FREE_PORT_RANGE[1] - count)
        if all(_port_free(first + i) for i in range(count)):
            return first
    pytest.fail(f"no {count} consecutive free loopback ports")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def handshake_outcome(sock: zmq.Socket, monitor: zmq.Socket) -> int:
    """The first handshake outcome (succeeded, or refused by authentication) of a connecting socket.

    `monitor` must be attached before `sock` connects (`sock.get_monitor_socket()`),
    or the outcome may come and go unseen; both are closed here.
    """
    try:
        while True:
            assert monitor.poll(int(scaled(20) * 1000)), "no handshake outcome"
            event = recv_monitor_message(monitor)["event"]
            if event in (zmq.EVENT_HANDSHAKE_SUCCEEDED, zmq.EVENT_HANDSHAKE_FAILED_AUTH):
                return int(event)
    finally:
        sock.disable_monitor()
        monitor.close(linger=0)
