"""Configuration: flags, then environment, then defaults; one clear error."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass
from pathlib import Path

import pytest

from common.config import (
    Option,
    Secret,
    address_setting,
    check_transport,
    name_list,
    option_of,
    options_of,
    parse_options,
    parse_settings,
    positive_float,
    positive_float_up_to,
    public_config,
    require_loopback,
    setting,
    zmq_address,
    zmq_addresses,
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


@dataclass(frozen=True, kw_only=True)
class _LimitsConfig:
    max_loss: float = setting(
        "--max-loss", positive_float_up_to(1_000.0), env="PLR_MAX_LOSS", default=100.0
    )
    symbols: tuple[str, ...] = setting("--symbols", name_list, env="PLR_SYMBOLS", default=("X",))
    derived: bool = False  # not a setting: set after parsing, never from a flag


def test_a_setting_declared_as_a_field_builds_its_config() -> None:
    """One declaration gives the flag, the variable, the parser and the default."""
    config = parse_settings(_LimitsConfig, "t", ["--max-loss", "25"], {"PLR_SYMBOLS": "A,B"})
    assert config == _LimitsConfig(max_loss=25.0, symbols=("A", "B"))
    assert [o.flag for o in options_of(_LimitsConfig)] == ["--max-loss", "--symbols"]


def test_another_program_borrows_the_same_option_and_its_text_round_trips() -> None:
    """The runner forwards a value as text that the service's parser reads back unchanged."""
    option = option_of(_LimitsConfig, "max_loss")
    assert option.parse(option.to_text(0.1 + 0.2)) == 0.1 + 0.2
    symbols = option_of(_LimitsConfig, "symbols")
    assert symbols.parse(symbols.to_text(("A", "B"))) == ("A", "B")


@pytest.mark.parametrize("text", ["1e308", "1000.5", "inf", "0", "-1"])
def test_a_limit_above_its_ceiling_or_not_positive_is_refused(text: str) -> None:
    """A limit set absurdly high would switch the check off."""
    with pytest.raises(ConfigError, match="--max-loss"):
        parse_settings(_LimitsConfig, "t", ["--max-loss", text], {})


def test_an_address_list_reads_one_or_several_and_refuses_an_empty_or_bad_part() -> None:
    """A connecting end given several peers: each part is checked like a single address."""
    assert zmq_addresses("ipc:///tmp/a") == ("ipc:///tmp/a",)
    assert zmq_addresses("tcp://127.0.0.1:1, tcp://127.0.0.1:2") == (
        "tcp://127.0.0.1:1",
        "tcp://127.0.0.1:2",
    )
    for text in ("tcp://127.0.0.1:1,", "tcp://127.0.0.1:1,http://x:2", ""):
        with pytest.raises(ValueError):
            zmq_addresses(text)


@dataclass(frozen=True, kw_only=True)
class _SeveralPeersConfig:
    predictions: tuple[str, ...] = address_setting("predictions", several=True)
    allow_remote: bool = False
    curve_keys: Path | None = None
    insecure_tcp: bool = False


def test_check_transport_checks_every_address_of_a_list() -> None:
    """The second of two predictions addresses is held to the same rules as the first."""
    env = {"PLR_PREDICTIONS_ADDR": "tcp://127.0.0.1:1,tcp://192.0.2.7:2"}
    config = parse_settings(_SeveralPeersConfig, "t", [], env)
    with pytest.raises(ConfigError, match="192.0.2.7.*--allow-remote"):
        check_transport(dataclasses.replace(config, insecure_tcp=True))
    with pytest.raises(ConfigError, match="--curve-keys"):
        check_transport(dataclasses.replace(config, allow_remote=True))
    loopback = parse_settings(
        _SeveralPeersConfig, "t", ["--predictions", "tcp://127.0.0.1:1,tcp://127.0.0.1:2"], {}
    )
    with pytest.raises(ConfigError, match="--insecure-tcp"):
        check_transport(loopback)
    check_transport(dataclasses.replace(loopback, insecure_tcp=True))
