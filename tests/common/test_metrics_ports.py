"""A documented default port that another run holds falls back to a free one; a chosen one fails."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest

from common.errors import ConfigError
from common.metrics import DEFAULT_PORTS, bind_or_fall_back
from tests.conftest import free_ports


@contextmanager
def _held(port: int) -> Iterator[None]:
    """Hold `port` on loopback, as another run's server would."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        yield


def _bind(port: int) -> socket.socket:
    server = socket.socket()
    server.bind(("127.0.0.1", port))
    return server


def test_a_taken_default_port_falls_back_to_a_free_one() -> None:
    default = DEFAULT_PORTS["model"]
    with ExitStack() as stack:
        try:
            stack.enter_context(_held(default))
        except OSError:
            pass  # something on this machine holds it already: the same situation
        with bind_or_fall_back(_bind, default, "--metrics-port") as server:
            assert server.getsockname()[1] != default


def test_a_chosen_port_that_is_taken_is_a_configuration_error() -> None:
    chosen = free_ports()
    with _held(chosen), pytest.raises(ConfigError, match=f"--metrics-port {chosen}"):
        bind_or_fall_back(_bind, chosen, "--metrics-port")
