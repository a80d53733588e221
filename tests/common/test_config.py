"""Configuration: flags, then environment, then defaults; one clear error."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import pytest

from common.config import (
    Option,
    Secret,
    parse_options,
    positive_float,
    public_config,
    require_loopback,
    zmq_address,
)
from common.errors import ConfigError

OPTIONS = [
    Option("--max-loss", positive_float, env="PLR_MAX_LOSS", default=100.0),
    Option("--pub", zmq_address, env="PLR_PUB", default="tcp://127.0.0.1:5555"),
    Option("--use-ws", env="PLR_USE_WS", switch=True),
]


def test_flag_wins_over_environment_which_wins_over_default() -> None:
    """The precedence every service relies on."""
    env = {"PLR_MAX_LOSS": "50", "PLR_PUB": "ipc:///tmp/x"}
    assert parse_options("t", OPTIONS, ["--max-loss", "25"], env)["max_loss"] == 25.0
    assert parse_options("t", OPTIONS, [], env)["max_loss"] == 50.0
    assert parse_options("t", OPTIONS, [], {})["max_loss"] == 100.0
    assert parse_options("t", OPTIONS, [], env)["pub"] == "ipc:///tmp/x"


def test_switch_reads_flag_or_environment() -> None:
    """A switch is on by flag, or by 1/true in its variable."""
    assert parse_options("t", OPTIONS, ["--use-ws"], {})["use_ws"] is True
    assert parse_options("t", OPTIONS, [], {"PLR_USE_WS": "1"})["use_ws"] is True
    assert parse_options("t", OPTIONS, [], {"PLR_USE_WS": "0"})["use_ws"] is False
    assert parse_options("t", OPTIONS, [], {})["use_ws"] is False


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["--max-loss", "-5"], {}, "--max-loss"),
        (["--max-loss", "nan"], {}, "--max-loss"),
        ([], {"PLR_MAX_LOSS": "lots"}, "PLR_MAX_LOSS"),
        ([], {"PLR_USE_WS": "maybe"}, "PLR_USE_WS"),
        (["--pub", "http://x"], {}, "--pub"),
        (["--no-such-flag"], {}, "--no-such-flag"),
    ],
)
def test_bad_value_is_one_config_error_naming_its_source(
    argv: list[str], env: dict[str, str], named: str
) -> None:
    """Every bad input names the flag or variable, in one line."""
    with pytest.raises(ConfigError) as caught:
        parse_options("t", OPTIONS, argv, env)
    assert named in str(caught.value)
    assert "\n" not in str(caught.value)


def test_secret_never_shows_its_value() -> None:
    """repr, str, f-strings and pickling all keep the value hidden."""
    secret = Secret("hunter2-api-secret")
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{[secret]}"):
        assert "hunter2" not in shown
    assert secret.reveal() == "hunter2-api-secret"
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_public_config_leaves_secrets_out() -> None:
    """The config written to result.json never carries a secret."""

    @dataclass(frozen=True)
    class LiveConfig:
        provider: str
        api_key: Secret
        symbols: tuple[str, ...]

    config = LiveConfig("ccxt", Secret("key-123"), ("BTC/USD",))
    public = public_config(config)
    assert public == {"provider": "ccxt", "symbols": ["BTC/USD"]}
    assert "key-123" not in repr(public)


@pytest.mark.parametrize("addr", ["tcp://127.0.0.1:5555", "tcp://localhost:1", "tcp://[::1]:5"])
def test_loopback_addresses_pass(addr: str) -> None:
    """Default addresses stay on this machine."""
    require_loopback(addr, allow_remote=False, what="--pub")


def test_remote_address_needs_an_explicit_choice() -> None:
    """A non-loopback bind is refused unless --allow-remote says so."""
    with pytest.raises(ConfigError, match="--allow-remote"):
        require_loopback("tcp://0.0.0.0:5555", allow_remote=False, what="--pub")
    require_loopback("tcp://0.0.0.0:5555", allow_remote=True, what="--pub")
