"""Typed configuration: flags win, then the environment, then defaults.

Each setting is declared once, as a field of its owner's frozen `*Config`
dataclass: `max_loss: float = setting("--max-loss", parse, env=..., default=...)`.
The field *is* the declaration: `options_of(cls)` derives the flags from the
fields, `parse_settings(cls, ...)` builds the config, and the runner
(`orchestration/paper_live.py`) borrows the very same `Option`s to validate a
run before it starts anything. Every problem — an unknown flag, a value that does
not parse, a remote address nobody asked for — raises `ConfigError` with one
line naming the flag or variable, before any socket or network call. No other
module reads `os.environ`: `environ` is passed in.

Secrets are held in `Secret`, which never prints its value; `public_config`
is the one function that turns a config into something safe to log or write.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

from common.addresses import DEFAULT_ADDRESSES, env_name
from common.curve import load_keys
from common.errors import ConfigError

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class Secret:
    """A credential: `str`, `repr` and f-strings show `***`, never the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the value; call only where it is handed to the venue client."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> NoReturn:  # never pickled into a log or artifact
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class Option:
    """One setting: a flag, the environment variable behind it, a parser, a default."""

    flag: str  # e.g. "--max-ticks"; the result key is "max_ticks"
    parse: Callable[[str], Any] = str
    env: str | None = None
    default: Any = None
    help: str = ""
    switch: bool = False  # a flag without a value; its variable reads 1/0, true/false

    @property
    def key(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def to_text(self, value: Any) -> str:
        """The text that this option's parser reads back as `value` (for an environment)."""
        if self.switch:
            return "1" if value else "0"
        if isinstance(value, (tuple, list)):
            return ",".join(str(item) for item in value)
        if isinstance(value, float):
            return repr(value)
        return str(value)


def setting(
    flag: str,
    parse: Callable[[str], Any] = str,
    *,
    env: str | None = None,
    default: Any = None,
    help: str = "",
    switch: bool = False,
) -> Any:
    """Declare one setting as a config dataclass field (its name is the flag's key)."""
    option = Option(flag, parse, env=env, default=default, help=help, switch=switch)
    return dataclasses.field(default=default, metadata={"option": option})


def options_of(config_class: type) -> list[Option]:
    """The options a config dataclass declares with `setting`, in field order."""
    options = []
    for field in dataclasses.fields(config_class):
        option = field.metadata.get("option")
        if option is None:
            continue  # derived after parsing (e.g. the live executor's credentials)
        if option.key != field.name:
            raise TypeError(f"{config_class.__name__}.{field.name} is declared as {option.flag}")
        options.append(option)
    return options


def option_of(config_class: type, name: str) -> Option:
    """The `Option` behind one field: how another program (the runner) accepts the same setting."""
    for option in options_of(config_class):
        if option.key == name:
            return option
    raise KeyError(f"{config_class.__name__} declares no setting {name!r}")


ConfigT = TypeVar("ConfigT")


def parse_settings(
    config_class: type[ConfigT], prog: str, argv: Sequence[str] | None, environ: Mapping[str, str]
) -> ConfigT:
    """Build a config dataclass from its declared settings: flag, then environment, then default."""
    return config_class(**parse_options(prog, options_of(config_class), argv, environ))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def parse_options(
    prog: str,
    options: Sequence[Option],
    argv: Sequence[str] | None,
    environ: Mapping[str, str],
) -> dict[str, Any]:
    """Resolve every option: flag, then environment, then default.

    `argv` None means the process's own arguments.

    Returns:
        A dict keyed by `Option.key`.

    Raises:
        ConfigError: one line naming the flag or variable at fault.
    """
    parser = _Parser(prog=prog)
    for option in options:
        help_text = option.help + (f" [env {option.env}]" if option.env else "")
        if option.switch:
            parser.add_argument(option.flag, action="store_true", default=None, help=help_text)
        else:
            parser.add_argument(option.flag, default=None, metavar="VALUE", help=help_text)
    parsed = vars(parser.parse_args(sys.argv[1:] if argv is None else list(argv)))
    values: dict[str, Any] = {}
    for option in options:
        values[option.key] = _resolve(option, parsed[option.key], environ)
    return values


def _resolve(option: Option, from_flag: Any, environ: Mapping[str, str]) -> Any:
    if option.switch:
        if from_flag:
            return True
        if option.env and option.env in environ:
            return parse_bool(option.env, environ[option.env])
        return bool(option.default)
    if from_flag is not None:
        source, text = option.flag, from_flag
    elif option.env and option.env in environ:
        source, text = option.env, environ[option.env]
    else:
        return option.default
    try:
        return option.parse(text)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{source}: {e}") from None


def parse_bool(name: str, text: str) -> bool:
    """Read 1/0, true/false, yes/no, on/off; anything else is an error."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name}: expected 1/0 or true/false, got {text!r}")


def positive_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"expected a positive number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"expected a number >= 0, got {text!r}")
    return value


def positive_float_up_to(ceiling: float) -> Callable[[str], float]:
    """A parser for a limit: positive, finite and at most `ceiling`.

    A limit set absurdly high (`1e308`) is a limit switched off by accident;
    each ceiling is documented in ARCHITECTURE.md ("Risk").
    """

    def parse(text: str) -> float:
        value = positive_float(text)
        if value > ceiling:
            raise ValueError(f"expected at most {ceiling:g}, got {text!r}")
        return value

    return parse


def float_between(low: float, high: float) -> Callable[[str], float]:
    """A parser for a finite number from `low` to `high`, both included."""

    def parse(text: str) -> float:
        value = float(text)
        if not math.isfinite(value) or not low <= value <= high:
            raise ValueError(f"expected a number from {low:g} to {high:g}, got {text!r}")
        return value

    return parse


def int_between(low: int, high: int) -> Callable[[str], int]:
    """A parser for an integer from `low` to `high`, both included."""

    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise ValueError(f"expected an integer from {low} to {high}, got {text!r}")
        return value

    return parse


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"expected an integer >= 0, got {text!r}")
    return value


def name_list(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise ValueError(f"expected a comma-separated list, got {text!r}")
    return names


def zmq_address(text: str) -> str:
    """Accept `tcp://HOST:PORT` or `ipc://PATH`; see `require_loopback`."""
    scheme, _, rest = text.partition("://")
    if scheme not in ("tcp", "ipc", "inproc") or not rest:
        raise ValueError(f"expected tcp://HOST:PORT or ipc://PATH, got {text!r}")
    return text


def zmq_addresses(text: str) -> tuple[str, ...]:
    """Accept one address or several, comma-separated, each as `zmq_address` does."""
    parts = tuple(part.strip() for part in text.split(","))
    if not all(parts):
        raise ValueError(f"expected comma-separated tcp://HOST:PORT or ipc://PATH, got {text!r}")
    return tuple(zmq_address(part) for part in parts)


def address_setting(socket: str, flag: str | None = None, *, several: bool = False) -> Any:
    """Declare one of the run's sockets: `--<socket>` (or `flag`), `PLR_<SOCKET>_ADDR`.

    `several`: a connecting end that may connect to more than one peer (the
    recorder's predictions SUB, one address per model process); its value is
    then a tuple of addresses, read from a comma-separated list.
    """
    default = getattr(DEFAULT_ADDRESSES, socket)
    return setting(
        flag or f"--{socket}",
        zmq_addresses if several else zmq_address,
        env=env_name(socket),
        default=(default,) if several else default,
        help=f"the {socket} socket" + (" (several: comma-separated)" if several else ""),
    )


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """What every service's config has, beside its own settings."""

    logs: str = address_setting("logs")
    allow_remote: bool = setting(
        "--allow-remote",
        env="PLR_ALLOW_REMOTE",
        switch=True,
        help="allow non-loopback addresses (then use ZeroMQ CURVE across hosts)",
    )
    curve_keys: Path | None = setting(
        "--curve-keys",
        Path,
        env="PLR_CURVE_KEYS",
        help="CURVE keys folder for tcp sockets (python -m common.curve DIR writes one)",
    )
    insecure_tcp: bool = setting(
        "--insecure-tcp",
        env="PLR_INSECURE_TCP",
        switch=True,
        help="allow loopback tcp without CURVE: any user of this machine can then send to the run",
    )
    resume: bool = setting(
        "--resume",
        env="PLR_RESUME",
        switch=True,
        help="continue the run in --run-dir (the runner's --resume): the executor re-executes "
        "a replay against its journal, the recorder appends (ARCHITECTURE.md, Resume)",
    )
    disable_metrics: bool = setting(
        "--disable-metrics",
        env="PLR_DISABLE_METRICS",
        switch=True,
        help="serve no Prometheus /metrics (one switch for every service; common/metrics.py)",
    )
    stay_after_eos: bool = setting(
        "--stay-after-eos",
        env="PLR_STAY_AFTER_EOS",
        switch=True,
        help="after the work is done, wait for SIGTERM (for Procfile runners like honcho)",
    )


def require_loopback(addr: str, *, allow_remote: bool, what: str) -> None:
    """Refuse a non-loopback tcp address unless the operator asked for one."""
    if allow_remote or not addr.startswith("tcp://"):
        return
    if not is_loopback_host(urlsplit(addr).hostname or ""):
        raise ConfigError(f"{what}: {addr} is not loopback; pass --allow-remote to mean it")


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback IP address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(config: Any) -> None:
    """Every socket a service config declares is reachable by the run's own processes only.

    ipc is protected by file modes (`common.sockets`). tcp must be loopback
    unless `--allow-remote`, and CURVE-authenticated (`--curve-keys`) unless,
    on loopback only, `--insecure-tcp` says otherwise.
    """
    if config.curve_keys is not None:
        load_keys(config.curve_keys)  # a missing or unsafe key stops the start here
    for option in options_of(type(config)):
        if option.parse is zmq_address:
            addresses = (getattr(config, option.key),)
        elif option.parse is zmq_addresses:
            addresses = getattr(config, option.key)
        else:
            continue
        for address in addresses:
            if address.startswith("tcp://"):
                _check_tcp(config, option.flag, address)


def _check_tcp(config: Any, flag: str, address: str) -> None:
    require_loopback(address, allow_remote=config.allow_remote, what=flag)
    if config.curve_keys is not None:
        return
    if config.allow_remote:
        raise ConfigError(f"{flag}: --allow-remote needs --curve-keys DIR")
    if not config.insecure_tcp:
        raise ConfigError(
            f"{flag}: {address} is tcp, which any local user can reach: give "
            "--curve-keys DIR (python -m common.curve DIR) or --insecure-tcp"
        )


def public_config(config: Any) -> dict[str, Any]:
    """Return a config dataclass as plain data with every `Secret` left out."""
    result: dict[str, Any] = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, Secret):
            continue
        if isinstance(value, tuple):
            value = list(value)
        result[field.name] = value if _is_plain(value) else str(value)
    return result


def _is_plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, list))
