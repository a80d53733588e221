"""Only the run's own processes can act on a run: forged input from anyone else changes nothing."""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from pathlib import Path

import pytest
import zmq
import zmq.auth

from common import wire
from common.curve import create_keys
from common.messages import Eos, Target
from tests.conftest import free_ports, handshake_outcome, scaled, wait_until
from tests.processes import start_runner

FORGED_LINE = b"LiveOrderExecutor (LIVE via ccxt) ready"


def _forged_target() -> Target:
    return Target(
        id="forged-1",
        symbol="BTC/USDT",
        target_position=0.01,
        ref_price=60_000.0,
        tick_seq=1,
        tick_ts_ns=time.time_ns(),
        created_ns=time.time_ns(),
        ttl_ms=3_600_000,
    )


@pytest.mark.parametrize("remote", [(), ("--allow-remote",)], ids=["loopback", "allow-remote"])
def test_forged_target_eos_and_log_line_without_the_runs_keys_change_nothing(
    tmp_path: Path, trained_checkpoint: Path, remote: tuple[str, ...]
) -> None:
    """On CURVE tcp: a stranger's Target, Eos and log line are refused, counted, leave no trace."""
    create_keys(tmp_path / "keys")
    first_port = free_ports(7)
    runner = start_runner(
        tmp_path,
        trained_checkpoint,
        *("--transport", "tcp", "--tcp-port", str(first_port), *remote),
        # At recorded pace (about 10 s): the forgery surely happens while the run goes on.
        *("--curve-keys", str(tmp_path / "keys"), "--speed", "1", "--max-ticks", "1500"),
    )
    ctx = zmq.Context()
    try:
        wait_until(lambda: any((tmp_path / "artifacts").glob("*/ticks.gz")), 60, "the recorder")
        [folder] = (tmp_path / "artifacts").iterdir()
        _, secret = zmq.auth.create_certificates(tmp_path, "stranger")
        server_public, _ = zmq.auth.load_certificate(tmp_path / "keys" / "server.key")
        forgers = []
        for kind, port in ((zmq.PUSH, first_port + 2), (zmq.PUB, first_port + 5)):  # targets, logs
            forger = ctx.socket(kind)
            forger.curve_publickey, forger.curve_secretkey = zmq.auth.load_certificate(secret)
            forger.curve_serverkey = server_public
            monitor = forger.get_monitor_socket()  # before connecting: no outcome is missed
            forger.connect(f"tcp://127.0.0.1:{port}")
            forgers.append((forger, monitor))
        for forger, monitor in forgers:
            assert handshake_outcome(forger, monitor) == zmq.EVENT_HANDSHAKE_FAILED_AUTH
        (push, _), (pub, _) = forgers
        for forged in (_forged_target(), Eos(source="model", last_seq=1, ts_ns=0)):
            try:  # queued for a connection that will never be let in, or refused at once
                push.send(wire.encode(forged), zmq.NOBLOCK)
            except zmq.Again:
                pass
        pub.send_multipart([b"executor.INFO", FORGED_LINE])
        assert runner.wait(scaled(120)) == 0, runner.stdout.read() if runner.stdout else ""
    finally:
        if runner.poll() is None:
            runner.kill()
        ctx.destroy(linger=0)  # closes the forgers too: never hangs, whatever failed
    result = json.loads((folder / "result.json").read_text())
    assert result["exit_reason"] == "completed" and result["counts"]["ticks"] == 1_500
    assert result["counts"]["rejected_input"]["executor"]["unauthenticated"] >= 1
    assert result["counts"]["rejected_input"]["recorder"]["unauthenticated"] >= 1
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    assert not [e for e in events if e.get("target_id") == "forged-1"]
    assert FORGED_LINE.decode() not in (folder / "run.log").read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_another_user_cannot_reach_the_runs_ipc_sockets(
    tmp_path: Path, trained_checkpoint: Path
) -> None:
    """The default transport: socket files in a 0700 folder, each 0600; uid nobody is refused."""
    address_dir = tmp_path / "sockets"
    runner = start_runner(
        tmp_path,
        trained_checkpoint,
        *("--address-dir", str(address_dir), "--speed", "5", "--max-ticks", "2000"),
    )
    try:
        wait_until(lambda: (address_dir / "targets").exists(), 60, "the executor's socket")
        assert address_dir.stat().st_mode & 0o777 == 0o700
        assert (address_dir / "targets").stat().st_mode & 0o777 == 0o600
        assert _connect_as_nobody(address_dir / "targets") == errno.EACCES
        assert runner.wait(scaled(120)) == 0
    finally:
        if runner.poll() is None:
            runner.kill()


def _connect_as_nobody(path: Path) -> int:
    """Try to connect to a unix socket as uid nobody (a forked child); its errno, 0 if it could."""
    child = os.fork()
    if child == 0:  # the child: drop to nobody, try, report through the exit code only
        code = 0
        try:
            os.setgid(65534)
            os.setuid(65534)
            with socket.socket(socket.AF_UNIX) as attempt:
                attempt.connect(str(path))
        except OSError as e:
            code = e.errno or 1
        os._exit(code)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)
