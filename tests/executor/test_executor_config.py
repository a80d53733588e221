"""The executor's settings: the dead-man switch's timeout is bounded and checked against others."""

from __future__ import annotations

import pytest

from common.errors import ConfigError
from services.executor.executor_config import ExecutorConfig


def test_dead_man_timeout_defaults_to_kraken_advice_and_reaches_the_live_timings() -> None:
    """60 s unless set; the flag wins over PLR_DEAD_MAN_TIMEOUT_S."""
    assert ExecutorConfig.from_args([], {}).live_timings.dead_man_timeout_s == 60
    config = ExecutorConfig.from_args(
        ["--dead-man-timeout-s", "30"], {"PLR_DEAD_MAN_TIMEOUT_S": "45"}
    )
    assert config.live_timings.dead_man_timeout_s == 30
    from_env = ExecutorConfig.from_args([], {"PLR_DEAD_MAN_TIMEOUT_S": "45"})
    assert from_env.dead_man_timeout_s == 45


@pytest.mark.parametrize("value", ["1", "86400", "0", "-5", "soon"])
def test_dead_man_timeout_outside_its_bounds_is_refused(value: str) -> None:
    """Below 2 s, a day or more, or not an integer: a configuration error."""
    with pytest.raises((ConfigError, SystemExit)):
        ExecutorConfig.from_args(["--dead-man-timeout-s", value], {})


def test_dead_man_timeout_not_longer_than_one_venue_call_is_refused() -> None:
    """One slow call must not outlast the switch it pushes back."""
    with pytest.raises(ConfigError, match="dead-man"):
        ExecutorConfig.from_args(["--dead-man-timeout-s", "5", "--venue-timeout-s", "5"], {})


def test_balances_default_to_the_documented_spot_account_and_read_the_environment() -> None:
    """USD and USDT 10,000, no base asset, unless --balances or PLR_BALANCES say otherwise."""
    assert ExecutorConfig.from_args([], {}).balances == ("USD=10000", "USDT=10000")
    config = ExecutorConfig.from_args([], {"PLR_BALANCES": "USDT=500,BTC=0.05"})
    assert config.balances == ("USDT=500", "BTC=0.05")


def test_bad_balances_are_a_configuration_error() -> None:
    """A negative balance stops the executor before it starts."""
    with pytest.raises((ConfigError, SystemExit)):
        ExecutorConfig.from_args(["--balances", "USD=-5"], {})


def test_margin_is_an_explicit_opt_in() -> None:
    """Spot unless --margin or PLR_MARGIN says otherwise."""
    assert ExecutorConfig.from_args([], {}).margin is False
    assert ExecutorConfig.from_args(["--margin"], {}).margin is True
    assert ExecutorConfig.from_args([], {"PLR_MARGIN": "1"}).margin is True
