"""CURVE on tcp sockets: the run's clients get through, anyone else is refused and counted."""

from __future__ import annotations

from pathlib import Path

import pytest
import zmq
import zmq.auth

from common import sockets, wire
from common.config import ServiceSettings, check_transport, parse_settings
from common.curve import create_keys, load_keys
from common.errors import ConfigError
from tests.conftest import free_ports, handshake_outcome, scaled, wait_until
from tests.factories import make_tick


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    create_keys(tmp_path / "keys")
    return tmp_path / "keys"


def test_a_client_of_the_runs_keys_gets_through_and_a_stranger_is_refused_and_counted(
    keys_dir: Path, tmp_path: Path
) -> None:
    """Same server public key, but a client key not on the allow-list: nothing arrives."""
    server_ctx, client_ctx, stranger_ctx = zmq.Context(), zmq.Context(), zmq.Context()
    keys = load_keys(keys_dir)
    authenticators = [sockets.use_curve(server_ctx, keys), sockets.use_curve(client_ctx, keys)]
    try:
        address = f"tcp://127.0.0.1:{free_ports()}"
        puller = sockets.target_puller(server_ctx, address, lossless=True)
        stranger = stranger_ctx.socket(zmq.PUSH)
        _, secret = zmq.auth.create_certificates(tmp_path, "stranger")
        stranger.curve_publickey, stranger.curve_secretkey = zmq.auth.load_certificate(secret)
        stranger.curve_serverkey = keys.server_public
        monitor = stranger.get_monitor_socket()
        stranger.connect(address)
        assert handshake_outcome(stranger, monitor) == zmq.EVENT_HANDSHAKE_FAILED_AUTH
        pusher = sockets.target_pusher(client_ctx, address, lossless=True)
        tick = wire.encode(make_tick(seq=1))
        wait_until(lambda: sockets.push_nowait(pusher, tick), 10, "the authorized client")
        assert puller.poll(int(scaled(10) * 1000))
        assert puller.recv() == tick
        assert sockets.refused_peers(server_ctx) >= 1
        for sock in (puller, stranger, pusher):
            sock.close(linger=0)
    finally:
        for authenticator in authenticators:
            authenticator.stop()
        for ctx in (server_ctx, client_ctx, stranger_ctx):
            ctx.term()


def test_a_secret_key_readable_by_others_is_refused(keys_dir: Path) -> None:
    """A key anyone can read authenticates anyone."""
    (keys_dir / "client.key_secret").chmod(0o644)
    with pytest.raises(ConfigError, match="readable by other users"):
        load_keys(keys_dir)


@pytest.mark.parametrize(
    ("argv", "refused"),
    [
        (["--logs", "tcp://127.0.0.1:5"], "--curve-keys"),
        (["--logs", "tcp://127.0.0.1:5", "--insecure-tcp"], None),
        (["--logs", "tcp://10.1.2.3:5"], "--allow-remote"),
        (["--logs", "tcp://10.1.2.3:5", "--allow-remote", "--insecure-tcp"], "--curve-keys"),
        (["--logs", "ipc:///tmp/x/logs"], None),
    ],
)
def test_tcp_needs_curve_keys_unless_explicitly_insecure_on_loopback(
    argv: list[str], refused: str | None
) -> None:
    """Loopback tcp is reachable by every local user; remote tcp by every host."""
    config = parse_settings(ServiceSettings, "t", argv, {})
    if refused is None:
        check_transport(config)
    else:
        with pytest.raises(ConfigError, match=refused.replace("-", r"\-")):
            check_transport(config)


def test_with_keys_remote_tcp_is_allowed_when_asked(keys_dir: Path) -> None:
    """--allow-remote with --curve-keys: every peer must hold an authorized key."""
    argv = ["--logs", "tcp://10.1.2.3:5", "--allow-remote", "--curve-keys", str(keys_dir)]
    check_transport(parse_settings(ServiceSettings, "t", argv, {}))
