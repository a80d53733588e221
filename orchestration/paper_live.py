"""The one-command paper-live run: ``python -m orchestration.paper_live``.

Starts the four services the `Procfile` names (recorder, model, executor,
feed), with one run id and one environment, waits for them (the feed starts
only once the others proved they receive), shows progress, stops them
cleanly on `--max-ticks`, the end of the replay or Ctrl-C, and prints where
the artifacts are. While it runs, its control socket (`RUN_DIR/runner.json`)
takes `python -m orchestration.swap` requests: the executor is swapped paper
<-> live (`orchestration.handover`) and its exit is not taken for a failure.
With no arguments: a paper run over the bundled recording, with a model
trained on it on first use.

`--resume --run-id ID` continues that run (an interrupted one) with the
settings in its config.json (`orchestration/resume.py`); without `--resume`
a folder that already holds a run is refused: runs are never merged.

Live orders (`--no-paper-mode --live-executor`) need every opt-in of the
live gate and live market data (`--use-ws`): a replay never drives real
orders. Exit codes: 0 a complete run; 1 a service failed (named) or the run
was interrupted; 2 bad usage, or a live request without every opt-in (before
any process, socket or network call).
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from honcho.environ import parse_procfile

from common.addresses import FIRST_TCP_PORT, SOCKET_NAMES, Addresses, claim_folder
from common.alerts import AlertSender
from common.config import (
    Option,
    Secret,
    int_between,
    option_of,
    parse_settings,
    positive_float,
    setting,
)
from common.curve import CurveKeys, load_keys
from common.errors import ConfigError, TickFileError
from common.limits import SymbolLimits
from common.messages import BATCH_MAX
from common.runs import DEFAULT_ARTIFACTS_DIR, check_run_id, new_run_id
from common.tickfile import TickFileReader
from orchestration.control_channel import ControlChannel
from orchestration.drain import DEFAULT_DRAIN_TIMEOUT_S, DrainWatch
from orchestration.handover import Handover
from orchestration.outcome import (
    DEFAULT_STOP_TIMEOUT_S,
    STOP_ORDER,
    failures,
    settle_result,
    stop_in_order,
)
from orchestration.progress import ProgressLine
from orchestration.resume import RUN_SHAPING, resumed_env
from orchestration.run_alerts import RunnerAlerts
from orchestration.service_output import ServiceOutput
from services.executor.executor_config import ExecutorConfig, rate_limit_tier
from services.executor.gate import CREDENTIAL_VARIABLES, missing_live_opt_ins
from services.feed.feed_config import FeedConfig
from services.model.checkpoint import load_checkpoint
from services.model.errors import CheckpointError
from services.model.plugins import add_plugin_paths
from services.model.service_config import DEFAULT_POLICY, ModelConfig
from services.recorder.recorder_config import RecorderConfig
from services.recorder.run_summary import summary_lines

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_TICKS = PROJECT_ROOT / "data" / "binance_btcusdt_spot_2024-08-08_10min.ticks.gz"
DEFAULT_MODEL = PROJECT_ROOT / "experiments" / "models" / "bundled.skops"
PROG: Final = "python -m orchestration.paper_live"
SHUTDOWN_TIMEOUT_S = 60.0
POSITION_FILE: Final = "feed.position"  # in the run's address folder
ARTIFACTS: Final = ("run.log", "result.json", "events.jsonl", "ticks.gz", "report.html")
# A fast replay batches ticks (TickBatch) unless told otherwise: every decision,
# fill and artifact is the same as unbatched (tested), at about twice the rate (bench/README.md).
# As many as a batch holds: each message costs every stage a wake and a turn,
# and 256 a message replayed 10-20 % faster than 64 (bench/README.md, tenth pass).
FAST_REPLAY_BATCH = BATCH_MAX
SERVICE_CONFIGS: Final = {
    "feed": FeedConfig,
    "model": ModelConfig,
    "executor": ExecutorConfig,
    "recorder": RecorderConfig,
}


def transport(text: str) -> str:
    if text not in ("ipc", "tcp"):
        raise ValueError(f"expected ipc or tcp, got {text!r}")
    return text


def borrow(config_class: type, name: str, default: Any = None, *, forward: bool = False) -> Any:
    """A service's setting taken as it is declared there (flag, parser, variable, help).

    Only the default differs (None: the service's own default applies), so a
    value the runner accepts is exactly one the service accepts, and a bad one
    is refused here, naming the same flag, before anything starts. With
    `forward`, a value given to the runner reaches the services through the
    setting's own variable.
    """
    option = dataclasses.replace(option_of(config_class, name), default=default)
    return dataclasses.field(default=default, metadata={"option": option, "forward": forward})


def _tier_text(text: str) -> str:
    """--rate-limit-tier as the executor reads it; "off" kept as text (None means unset)."""
    rate_limit_tier(text)  # a bad name fails here, before anything starts
    return text.strip().lower()


@dataclass(frozen=True, kw_only=True)
class RunnerConfig:
    ckpt: Path | None = borrow(ModelConfig, "ckpt")
    ckpt_sha256: str | None = borrow(ModelConfig, "ckpt_sha256", forward=True)
    plugin_path: tuple[Path, ...] | None = borrow(ModelConfig, "plugin_path", forward=True)
    use_ws: bool = borrow(FeedConfig, "use_ws")
    replay: Path | None = borrow(FeedConfig, "replay")
    max_ticks: int | None = borrow(FeedConfig, "max_ticks", forward=True)
    symbols: tuple[str, ...] | None = borrow(FeedConfig, "symbols")
    speed: float | None = borrow(FeedConfig, "speed")  # None: 0, as fast as possible
    replay_batch: int | None = borrow(FeedConfig, "replay_batch")
    ws_url: str | None = borrow(FeedConfig, "ws_url")
    no_paper_mode: bool = borrow(ExecutorConfig, "no_paper_mode")
    live_executor: bool = borrow(ExecutorConfig, "live_executor")
    shadow: bool = borrow(ExecutorConfig, "shadow")
    max_order_notional: SymbolLimits | None = borrow(
        ExecutorConfig, "max_order_notional", forward=True
    )
    max_position: SymbolLimits | None = borrow(ExecutorConfig, "max_position", forward=True)
    max_loss: float | None = borrow(ExecutorConfig, "max_loss", forward=True)
    balances: tuple[str, ...] | None = borrow(ExecutorConfig, "balances", forward=True)
    margin: bool | None = borrow(ExecutorConfig, "margin", forward=True)
    rate_limit_tier: str | None = dataclasses.field(
        default=None,
        metadata={
            "option": dataclasses.replace(
                option_of(ExecutorConfig, "rate_limit_tier"), default=None, parse=_tier_text
            ),
            "forward": True,
        },
    )
    fee_30d_volume: float | None = borrow(ExecutorConfig, "fee_30d_volume", forward=True)
    maker_fee_bps: float | None = borrow(ExecutorConfig, "maker_fee_bps", forward=True)
    taker_fee_bps: float | None = borrow(ExecutorConfig, "taker_fee_bps", forward=True)
    execution: str | None = borrow(ExecutorConfig, "execution", forward=True)
    limit_offset_bps: float | None = borrow(ExecutorConfig, "limit_offset_bps", forward=True)
    limit_offset_ticks: int | None = borrow(ExecutorConfig, "limit_offset_ticks", forward=True)
    requote_bps: float | None = borrow(ExecutorConfig, "requote_bps", forward=True)
    # Paper's latency model; a shadow run's twin's too (--latency-ms 0: the most hopeful).
    latency_ms: float | None = borrow(ExecutorConfig, "latency_ms", forward=True)
    latency_jitter_ms: float | None = borrow(ExecutorConfig, "latency_jitter_ms", forward=True)
    latency_seed: int | None = borrow(ExecutorConfig, "latency_seed", forward=True)
    # Not forwarded: config.json must not hold the URL (it may carry a token).
    alert_webhook: Secret | None = borrow(RecorderConfig, "alert_webhook")
    transport: str = setting(
        "--transport",
        transport,
        default="ipc",
        help="ipc: socket files only this user can reach (default); "
        "tcp: loopback ports, CURVE-authenticated (--curve-keys)",
    )
    tcp_port: int = setting(
        "--tcp-port",
        int_between(1024, 65535 - len(SOCKET_NAMES) + 1),  # the seven ports must exist
        default=FIRST_TCP_PORT,
        help="--transport tcp: the first of seven loopback ports (ARCHITECTURE.md, Sockets)",
    )
    curve_keys: Path | None = borrow(FeedConfig, "curve_keys", forward=True)
    insecure_tcp: bool | None = borrow(FeedConfig, "insecure_tcp", forward=True)
    allow_remote: bool | None = borrow(FeedConfig, "allow_remote", forward=True)
    run_id: str | None = setting("--run-id", check_run_id, help="default: a new, unique one")
    resume: bool = setting(
        "--resume",
        help="continue the run --run-id names (interrupted), with the settings in its "
        "config.json: a replay ends as if never interrupted (ARCHITECTURE.md, Resume)",
        switch=True,
    )
    artifacts_dir: Path = setting("--artifacts-dir", Path, default=DEFAULT_ARTIFACTS_DIR)
    drain_timeout: float = setting(
        "--drain-timeout",
        positive_float,
        env="PLR_DRAIN_TIMEOUT_S",
        default=DEFAULT_DRAIN_TIMEOUT_S,
        help="seconds the services get to finish after the feed ends; past it the ones "
        "still running are stopped and the run is incomplete (service_hung)",
    )
    stop_timeout: float = setting(
        "--stop-timeout",
        positive_float,
        env="PLR_STOP_TIMEOUT_S",
        default=DEFAULT_STOP_TIMEOUT_S,
        help="seconds each service gets to finish once told to stop (Ctrl-C, a failure, "
        "the drain deadline); one still running then is killed and named in result.json",
    )
    address_dir: Path | None = setting(
        "--address-dir",
        Path,
        help="ipc:// sockets in this folder (made 0700, one run at a time), not loopback ports",
    )

    @property
    def live(self) -> bool:
        return bool(self.no_paper_mode or self.live_executor or self.shadow)


@dataclass(frozen=True)
class Plan:
    """A run that passed every check: nothing has been started or created yet."""

    env: dict[str, str]
    folder: Path
    total: int | None
    addresses: Addresses
    address_dir: Path  # private to the run (0700): its ipc sockets and the control socket
    address_lock: IO[str]
    own_address_dir: Path | None  # made for this run alone: removed at its end
    keys: CurveKeys | None  # tcp: the run's CURVE keys (the runner's log socket is a client too)
    resumed: bool  # the folder holds the run already: nothing in it is replaced
    drain_timeout: float
    stop_timeout: float
    model_warning: str | None = None  # the model card's, repeated under the run's summary
    alert_webhook: Secret | None = None  # to the recorder's environment, never config.json


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = parse_settings(RunnerConfig, PROG, argv, os.environ)
        _check_live_gate(config)
        plan = _plan(config, os.environ)
    except (ConfigError, CheckpointError, TickFileError) as e:
        print(f"paper_live: {e}", file=sys.stderr)
        return 2
    if config.live:
        print(
            f"paper_live: LIVE execution via {os.environ['LIVE_EXECUTOR_PROVIDER']}: "
            "real orders will be sent",
            file=sys.stderr,
        )
    try:
        return _run(plan)
    finally:
        plan.address_lock.close()
        if plan.own_address_dir is not None:
            shutil.rmtree(plan.own_address_dir, ignore_errors=True)


def _check_live_gate(config: RunnerConfig) -> None:
    if not config.live:
        return
    missing = missing_live_opt_ins(
        no_paper_mode=config.no_paper_mode, live_executor=config.live_executor, environ=os.environ
    )
    if not config.use_ws and not config.resume:  # resumed: config.json holds it
        missing.append("--use-ws (live orders never run on a replay)")
    if missing:
        refused = "shadow mode refused" if config.shadow else "live execution refused"
        raise ConfigError(f"{refused}; missing: {', '.join(missing)}; nothing was started")


def _plan(config: RunnerConfig, environ: Mapping[str, str]) -> Plan:
    """Check everything a run needs, and build every service's environment, before starting it."""
    model_warning = None
    if config.resume:
        if config.run_id is None:
            raise ConfigError("--resume needs the --run-id of the run to continue")
        folder = (config.artifacts_dir / config.run_id).resolve()
        retyped = [
            field.metadata["option"].flag
            for field in dataclasses.fields(config)
            if field.name in RUN_SHAPING and getattr(config, field.name) not in (None, False)
        ]
        env, total = resumed_env(folder, retyped=retyped, live=config.live)
        if folder.is_dir():
            _check_creatable(folder)
    else:
        folder, env, total = _fresh_run(config)
        model_warning = _check_model(config, Path(env["PLR_CKPT"]))
    env |= _forwarded(config)
    # The run's sockets are files in a folder only this user can enter: a fresh
    # one per run, or the one given (held for the run, so two runs never share it).
    own = Path(tempfile.gettempdir()) / f"plr-{secrets.token_hex(6)}"  # short: ipc paths are
    address_dir = (config.address_dir or own).resolve()  # limited to about 100 bytes
    if config.transport == "tcp":
        addresses = Addresses.on_loopback(config.tcp_port)
    else:
        addresses = Addresses.in_folder(address_dir)
    if config.transport == "tcp" and config.curve_keys is None and not config.insecure_tcp:
        raise ConfigError(
            "--transport tcp: give --curve-keys DIR (python -m common.curve DIR), "
            "or --insecure-tcp to let any local user reach the run"
        )
    env |= addresses.environ()
    _validate_services({**environ, **env})
    lock = claim_folder(address_dir)  # tcp: held all the same, the run's private scratch folder
    return Plan(
        env=env,
        folder=folder,
        total=total,
        addresses=addresses,
        address_dir=address_dir,
        address_lock=lock,
        own_address_dir=address_dir if config.address_dir is None else None,
        keys=load_keys(config.curve_keys) if config.curve_keys is not None else None,
        resumed=config.resume,
        drain_timeout=config.drain_timeout,
        stop_timeout=config.stop_timeout,
        model_warning=model_warning,
        alert_webhook=config.alert_webhook,
    )


def _fresh_run(config: RunnerConfig) -> tuple[Path, dict[str, str], int | None]:
    """A new run's folder (checked, not made), its services' settings and its ticks expected."""
    run_id = config.run_id or new_run_id()
    folder = (config.artifacts_dir / run_id).resolve()
    if folder.exists():  # a second run there would trade on top of the first one's journal
        raise ConfigError(
            f"--run-id {run_id}: {folder} already holds a run; runs are never merged "
            "(--resume continues an interrupted one), choose another id"
        )
    _check_creatable(folder)
    ckpt = (config.ckpt or _default_model()).resolve()
    env: dict[str, str] = {
        "PLR_RUN_DIR": str(folder),
        "PLR_CKPT": str(ckpt),
        "PLR_EXPECT": "model,executor,recorder",
        "PLR_WAIT_FOR_EXECUTOR": "1",  # lossless: the model's first targets are not dropped
        "PLR_CONFIG_JSON": str(folder / "config.json"),
        "PLR_MODE": "paper",
        "PLR_EXECUTOR_CLASS": "PaperOrderExecutor",
        "PLR_STAY_AFTER_EOS": "0",  # this runner stops the services itself
    }
    if config.no_paper_mode and config.live_executor:  # _check_live_gate saw every other opt-in
        env |= {
            "PLR_NO_PAPER_MODE": "1",
            "PLR_LIVE_EXECUTOR": "1",
            "PLR_MODE": "live",
            "PLR_EXECUTOR_CLASS": "LiveOrderExecutor",
        }
        if config.shadow:  # live at minimum size, each order also paper's (ARCHITECTURE.md)
            env |= {"PLR_SHADOW": "1", "PLR_EXECUTOR_CLASS": "ShadowLiveExecutor"}
    total = None
    if config.use_ws:
        env |= {
            "PLR_USE_WS": "1",
            "PLR_SYMBOLS": ",".join(config.symbols or ("BTC/USD",)),
            "PLR_VENUE": "kraken",
        }
        if config.ws_url:
            env["KRAKEN_WS_URL"] = config.ws_url
    else:
        replay = (config.replay or BUNDLED_TICKS).resolve()
        with TickFileReader(replay) as reader:
            header = reader.header
        speed = config.speed or 0.0
        fast_replay = speed == 0
        env |= {
            "PLR_REPLAY": str(replay),
            "PLR_SPEED": repr(speed),
            "PLR_REPLAY_BATCH": str(
                config.replay_batch or (FAST_REPLAY_BATCH if fast_replay else 1)
            ),
            "PLR_LOSSLESS": "1",
            "PLR_VENUE": header.venue,
            "PLR_SYMBOLS": ",".join(header.symbols),
        }
        total = config.max_ticks or _count_ticks(replay)
    return folder, env, total


def _check_model(config: RunnerConfig, ckpt: Path) -> str | None:
    """Load the checkpoint as the model service will, before any service starts; its card's warning.

    Pin, plug-ins, the estimator against the feature row, a dry run: a model
    that cannot run is refused here in one line (exit 2), not after the other
    services started. A checkpoint of only our own types loads without scikit-learn
    (`services/model/skops_own.py`); any other skops file costs the runner 2 s of imports.
    """
    try:
        add_plugin_paths(config.plugin_path or ())
        model = load_checkpoint(ckpt, config.ckpt_sha256, DEFAULT_POLICY)
    except CheckpointError as e:
        raise ConfigError(f"--ckpt: {e}") from None
    warning = model.card.get("warning")
    return str(warning) if warning else None


def _check_creatable(folder: Path) -> None:
    """The run folder exists or can be made, and can be written in: checked, nothing created."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"--artifacts-dir: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):  # EROFS too, even for root
        raise ConfigError(f"--artifacts-dir: cannot write in {existing}")


def _forwarded(config: RunnerConfig) -> dict[str, str]:
    """The borrowed settings given to the runner, as the variables the services read."""
    env: dict[str, str] = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.metadata.get("forward") and value is not None:
            option: Option = field.metadata["option"]
            env[option.env or ""] = option.to_text(value)
    return env


def _validate_services(environ: Mapping[str, str]) -> None:
    """Every service's settings, as each will read them: a bad one stops the run here."""
    for name, config_class in SERVICE_CONFIGS.items():
        try:
            config_class.from_args([], environ)
        except ConfigError as e:
            raise ConfigError(f"{name}: {e}") from None


def _default_model() -> Path:
    if not DEFAULT_MODEL.is_file():
        print(
            "paper_live: training the default model on the bundled recording (first run)",
            file=sys.stderr,
        )
        from services.model import train  # deferred: only the first run needs it

        # The demo's linear policy trades on any edge, costs ignored: the cost-aware
        # default would never trade this model, and the demo shows the whole pipeline.
        demo = ["--ticks", str(BUNDLED_TICKS), "--out", str(DEFAULT_MODEL), "--policy", "linear"]
        if train.main(demo) != 0:
            raise ConfigError("could not train the default model")
    return DEFAULT_MODEL


def _count_ticks(path: Path) -> int:
    with TickFileReader(path) as reader:
        return reader.count_records()


def _run(plan: Plan) -> int:
    folder = plan.folder
    if not plan.resumed:  # resumed, the run's folder and its config.json stay as they are
        folder.mkdir(parents=True)  # new: _plan refused a folder that already held a run
        public = {k: v for k, v in sorted(plan.env.items()) if "SECRET" not in k and "KEY" not in k}
        (folder / "config.json").write_text(json.dumps(public, indent=2) + "\n")
    # The feed's position for the progress line: scratch, like the sockets, so not in config.json.
    position_file = plan.address_dir / POSITION_FILE
    env = {**os.environ, **plan.env, "PLR_FEED_POSITION_FILE": str(position_file)}
    # The exchange key and secret go to the executor alone, not to every process.
    env_without_credentials = {k: v for k, v in env.items() if k not in CREDENTIAL_VARIABLES}
    alerts = _alerts(plan, environ=env)
    recorder_env = env_without_credentials
    if plan.alert_webhook is not None:  # to the recorder alone: the URL may hold a token
        recorder_env = recorder_env | {"PLR_ALERT_WEBHOOK": plan.alert_webhook.reveal()}
    commands = parse_procfile((PROJECT_ROOT / "Procfile").read_text()).processes
    procs: dict[str, subprocess.Popen[bytes]] = {}
    interrupted = False

    def on_interrupt(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True

    signal.signal(signal.SIGINT, on_interrupt)
    signal.signal(signal.SIGTERM, on_interrupt)
    outputs: dict[str, ServiceOutput] = {}

    def launch(name: str, service_env: dict[str, str]) -> subprocess.Popen[bytes]:
        argv = [
            sys.executable if part == "python" else part for part in shlex.split(commands[name])
        ]
        previous = outputs.get(name)
        if previous is not None:  # a swapped-out executor, exited: its last lines are in
            previous.close()
        proc = subprocess.Popen(
            argv,
            cwd=PROJECT_ROOT,
            env=service_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        outputs[name] = ServiceOutput(folder / f"{name}.stderr")  # appends: one file per service
        outputs[name].follow(proc.stdout)  # type: ignore[arg-type]  # PIPE: never None
        return proc

    progress = ProgressLine(position_file, plan.total)  # clears an old file: before the feed
    # Bound before any service starts: if it cannot be, nothing is left running.
    control = ControlChannel(folder, plan.address_dir, plan.addresses.logs, plan.keys)
    for name in commands:  # the Procfile's order: recorder first, feed last
        service_env = {"executor": env, "recorder": recorder_env}.get(name, env_without_credentials)
        procs[name] = launch(name, service_env)
    started = "resumed" if plan.resumed else "started"
    print(f"paper_live: run {folder.name} {started} ({', '.join(procs)})", file=sys.stderr)

    def last_words(name: str) -> str:
        if procs[name].poll() is not None:  # exited: wait for its last lines to be read
            outputs[name].close()
        return outputs[name].why()

    handover = Handover(
        folder,
        env,
        procs,
        lambda executor_env: launch("executor", executor_env),
        plan.env["PLR_MODE"],
        lambda: last_words("executor"),
    )
    stopped: set[str] = set()  # told to stop by us: their SIGTERM exit is no failure
    killed: list[str] = []  # told to stop, still running past --stop-timeout
    drain = DrainWatch(plan.drain_timeout)
    try:
        while any(p.poll() is None for p in procs.values()):
            progress.update()
            if alerts is not None:
                alerts.watch(failures(procs, stopped), last_words)
            if (failures(procs, stopped) or interrupted or drain.overdue(procs)) and not stopped:
                killed = stop_in_order(procs, stopped, plan.stop_timeout)
            # The monitor's refresh interval (0.2 s) is the wait for a control request.
            control.serve_one(0.2, handover.swap if not stopped else None)
    finally:
        control.close()
        progress.close()
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT_S
        for name in STOP_ORDER:  # the recorder last, even when killing
            try:
                procs[name].wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                procs[name].kill()
                procs[name].wait()
        for output in outputs.values():
            output.close()
    failed = failures(procs, stopped, killed)
    if alerts is not None:
        alerts.watch(failed, last_words)
    return _report(
        folder,
        procs,
        outputs,
        failed,
        drain,
        killed,
        interrupted,
        plan.total,
        plan.model_warning,
        alerts,
    )


def _report(
    folder: Path,
    procs: dict[str, subprocess.Popen[bytes]],
    outputs: dict[str, ServiceOutput],
    failed: list[str],
    drain: DrainWatch,
    killed: list[str],
    interrupted: bool,
    expected_ticks: int | None,
    model_warning: str | None = None,
    alerts: RunnerAlerts | None = None,
) -> int:
    for name in failed:
        print(
            f"paper_live: {name} failed (exit {procs[name].returncode}): {outputs[name].why()}",
            file=sys.stderr,
        )
    for name in drain.hung:
        print(
            f"paper_live: {name} hung: still running {drain.timeout_s:g} s after the feed "
            "ended; stopped",
            file=sys.stderr,
        )
    for name in killed:
        print(
            f"paper_live: {name} still running --stop-timeout after SIGTERM; killed",
            file=sys.stderr,
        )
    result = settle_result(
        folder,
        failed=failed,
        hung=drain.hung,
        killed=killed,
        interrupted=interrupted,
        expected_ticks=expected_ticks,
    )
    for output in outputs.values():
        if output.unwritten is not None:
            print(f"paper_live: cut short: {output.unwritten}", file=sys.stderr)
    if "unwritten" in result:
        print(f"paper_live: result.json not settled: {result['unwritten']}", file=sys.stderr)
    for line in summary_lines(result):
        print(f"paper_live: {line}")
    if model_warning:
        print(f"paper_live: note: {model_warning}")
    _write_report(folder)
    if alerts is not None:
        alerts.ended(result)
    present = [name for name in ARTIFACTS if (folder / name).exists()]
    print(f"paper_live: artifacts in {folder}: {', '.join(present) or 'none'}")
    return 0 if result["complete"] else 1


def _alerts(plan: Plan, environ: Mapping[str, str]) -> RunnerAlerts | None:
    if plan.alert_webhook is None:
        return None
    recorder = RecorderConfig.from_args([], {**environ, "PLR_RUN_DIR": str(plan.folder)})
    sender = AlertSender(
        plan.alert_webhook.reveal(),
        run_id=plan.folder.name,
        min_interval_s=recorder.alert_interval_s,
        telegram_chat_id=recorder.alert_telegram_chat_id,
    )
    return RunnerAlerts(sender)


def _write_report(folder: Path) -> None:
    """The run's report page, whatever the run's end; a failure is said, never fatal."""
    from services.recorder.report import write_report  # deferred: plotly loads in ~1 s

    try:
        write_report(folder)
    except (OSError, KeyError, ValueError, TickFileError) as e:
        print(f"paper_live: no report.html: {e}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
