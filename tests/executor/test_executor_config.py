"""The executor's settings: the dead-man switch's timeout, Kraken's fee tiers."""

from __future__ import annotations

import pytest

from common.errors import ConfigError
from services.executor.executor_config import ExecutorConfig
from venues.kraken.fees import FeeTier, load_fee_schedule


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


@pytest.mark.parametrize(
    ("argv", "maker_taker"),
    [
        ([], (25.0, 40.0)),  # Kraken's entry tier, the 40 bps taker the project always charged
        (["--fee-30d-volume", "9999.99"], (25.0, 40.0)),
        (["--fee-30d-volume", "10000"], (20.0, 35.0)),
        (["--fee-30d-volume", "1000000"], (6.0, 16.0)),
        (["--fee-30d-volume", "1000000", "--taker-fee-bps", "26"], (6.0, 26.0)),
        (["--maker-fee-bps", "0", "--taker-fee-bps", "10"], (0.0, 10.0)),
    ],
)
def test_fees_follow_kraken_s_volume_tiers_unless_set(
    argv: list[str], maker_taker: tuple[float, float]
) -> None:
    config = ExecutorConfig.from_args(argv, {})
    assert (config.maker_fee_bps, config.taker_fee) == maker_taker


def test_the_fee_schedule_is_dated_data_with_its_source() -> None:
    schedule = load_fee_schedule()
    assert schedule.taken == "2026-01-12" and schedule.name == "crypto"
    assert schedule.tier_at(0) == FeeTier(0, 25.0, 40.0)
    assert schedule.tier_at(1e12).taker_bps == 5.0


def test_a_negative_volume_fails_fast() -> None:
    with pytest.raises(ConfigError, match="--fee-30d-volume"):
        ExecutorConfig.from_args(["--fee-30d-volume", "-1"], {})


def test_execution_style_flags_build_the_style_and_refuse_two_offsets() -> None:
    """--execution and its offsets reach the style; an offset in bps and in ticks is refused."""
    from services.executor.execution_style import ExecutionKind

    assert ExecutorConfig.from_args([], {}).execution_style.kind is ExecutionKind.MARKET
    style = ExecutorConfig.from_args(
        ["--execution", "post-only", "--limit-offset-ticks", "2"], {"PLR_REQUOTE_BPS": "3"}
    ).execution_style
    assert (style.kind, style.offset_ticks, style.requote_bps) == (ExecutionKind.POST_ONLY, 2, 3)
    with pytest.raises(ConfigError, match="not both"):
        ExecutorConfig.from_args(["--limit-offset-bps", "1", "--limit-offset-ticks", "1"], {})
    with pytest.raises((ConfigError, SystemExit)):
        ExecutorConfig.from_args(["--execution", "maker"], {})


def test_a_limit_style_reaches_the_live_executor_with_every_opt_in() -> None:
    """The live executor sends limit orders and cancels, so live + post-only is a live config."""
    live = {
        "ENABLE_REAL_LIVE_EXECUTOR": "1",
        "CONFIRM_LIVE": "1",
        "LIVE_EXECUTOR_PROVIDER": "ccxt",
        "EXCHANGE_API_KEY": "key",
        "EXCHANGE_API_SECRET": "c2VjcmV0",
    }
    argv = ["--no-paper-mode", "--live-executor", "--execution", "post-only"]
    config = ExecutorConfig.from_args(argv, live)
    assert config.live and config.execution_style.resting
