"""The runner's side of a paper <-> live swap: stop the executor, start the other kind.

A swap (`SwapRequest`, from `python -m orchestration.swap` over the control
socket) goes:

1. Checked before anything changes (refused: exit 2, the executor untouched):
   the other kind, not the running one; live needs every opt-in of the live
   gate (`missing_live_opt_ins`, on the variables the request brought) and a
   `--use-ws` run (replayed prices never drive real orders); the new
   executor's whole configuration must validate.
2. The running executor gets SIGTERM and is waited for (it finishes its
   journal, lets live orders already sent settle, disarms the dead-man
   switch). Its exit is the swap's, not a failure of the run.
3. The other kind starts with the run's own environment plus its mode's
   variables; live opt-ins and credentials go to that process alone, and a
   paper executor is given none of them.
4. It is up once its journal holds its `SESSION_TRADING` mark (live: after
   reconciling with the venue). If it exits first or never gets there, the
   runner starts a paper executor instead (paper never sends an order
   anywhere) and the swap fails (exit 1); if that fails too, the run stops as
   for any failed service.

Targets the model sent before the swap never act in the new executor: the
engine supersedes a target computed from a tick it never saw.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from common.errors import ConfigError, JournalCorrupt
from common.journal import JOURNAL_FILES, SESSION_TRADING, read_entries
from common.messages import RiskEvent
from orchestration.control import SWAP_VARIABLES, SwapReply, SwapRequest
from orchestration.outcome import DEFAULT_STOP_TIMEOUT_S
from services.executor.executor_config import ExecutorConfig
from services.executor.gate import missing_live_opt_ins

log = logging.getLogger("orchestration.handover")

STOP_WAIT_S: Final = DEFAULT_STOP_TIMEOUT_S  # a live executor lets orders settle first
START_WAIT_S: Final = 60.0  # a live start reconciles with the venue first
MODE_VARIABLES: Final = {
    "paper": {"PLR_MODE": "paper", "PLR_EXECUTOR_CLASS": "PaperOrderExecutor"},
    "live": {
        "PLR_MODE": "live",
        "PLR_EXECUTOR_CLASS": "LiveOrderExecutor",
        "PLR_NO_PAPER_MODE": "1",
        "PLR_LIVE_EXECUTOR": "1",
    },
}
# Never inherited by a swapped-in executor: live comes only from the request.
# A swap also ends shadow mode (PLR_SHADOW): the new executor is plain paper or live.
_NOT_INHERITED: Final = frozenset(SWAP_VARIABLES) | {
    "PLR_NO_PAPER_MODE",
    "PLR_LIVE_EXECUTOR",
    "PLR_SHADOW",
}

Start = Callable[[dict[str, str]], "subprocess.Popen[bytes]"]


def executor_env(run_env: Mapping[str, str], to: str, brought: Mapping[str, str]) -> dict[str, str]:
    """The environment of a swapped-in executor: the run's, its mode's, and (live) `brought`."""
    env = {k: v for k, v in run_env.items() if k not in _NOT_INHERITED}
    if to == "live":
        env |= brought
    return env | MODE_VARIABLES[to]


def refusal(request: SwapRequest, current: str, run_env: Mapping[str, str]) -> str | None:
    """Why this swap must not happen (nothing is changed then), or None."""
    if request.to == current:
        return f"the executor is already {current}"
    env = executor_env(run_env, request.to, request.environ)
    if request.to == "live":
        missing = missing_live_opt_ins(
            no_paper_mode=request.no_paper_mode,
            live_executor=request.live_executor,
            environ=env,
        )
        if run_env.get("PLR_USE_WS") != "1":
            missing.append("--use-ws (live orders never run on a replay)")
        if missing:
            return f"live execution refused; missing: {', '.join(missing)}; nothing was changed"
    try:
        ExecutorConfig.from_args([], env)
    except ConfigError as e:
        return f"executor: {e}; nothing was changed"
    return None


@dataclass
class Handover:
    """Swaps the run's executor process; `procs["executor"]` is always the current one."""

    folder: Path
    run_env: Mapping[str, str]
    procs: dict[str, subprocess.Popen[bytes]]
    start: Start
    mode: str
    # What the executor said last (the runner keeps its output: a full disk cannot cut it).
    last_words: Callable[[], str]
    retired: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def swap(self, request: SwapRequest) -> SwapReply:
        why = refusal(request, self.mode, self.run_env)
        if why is not None:
            return SwapReply(ok=False, code=2, detail=why)
        old = self.procs["executor"]
        if old.poll() is not None:
            return SwapReply(ok=False, code=1, detail=f"the executor has ended (exit {old.poll()})")
        log.info("swap %s -> %s: stopping the %s executor", self.mode, request.to, self.mode)
        exit_code = self._retire(old)
        if self._bring_up(request.to, executor_env(self.run_env, request.to, request.environ)):
            log.info(
                "swap %s -> %s done (the old executor exited %s)", self.mode, request.to, exit_code
            )
            self.mode = request.to
            return SwapReply(ok=True, code=0, detail=f"the executor is now {request.to}")
        failed = self._last_line()
        log.error("swap to %s failed: %s; starting a paper executor instead", request.to, failed)
        self._retire(self.procs["executor"])
        if self._bring_up("paper", executor_env(self.run_env, "paper", {})):
            self.mode = "paper"
            return SwapReply(
                ok=False,
                code=1,
                detail=f"{request.to} executor did not come up ({failed}); paper again",
            )
        self.mode = "none"
        return SwapReply(
            ok=False,
            code=1,
            detail=f"{request.to} executor did not come up ({failed}); the run stops",
        )

    def _retire(self, proc: subprocess.Popen[bytes]) -> int | None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()  # live: the dead-man switch cancels what it left open
                proc.wait()
        self.retired.append(proc)
        return proc.returncode

    def _bring_up(self, mode: str, env: dict[str, str]) -> bool:
        """Start an executor of `mode`; True once its journal says it trades."""
        journal = self.folder / JOURNAL_FILES[mode]
        before = _trading_marks(journal)
        proc = self.procs["executor"] = self.start(env)
        deadline = time.monotonic() + START_WAIT_S
        while time.monotonic() < deadline:
            if _trading_marks(journal) > before:
                return True
            if proc.poll() is not None:
                return False
            time.sleep(0.1)  # how often the child's journal is looked at, not a synchronisation
        return _trading_marks(journal) > before

    def _last_line(self) -> str:
        proc = self.procs["executor"]
        state = "still starting" if proc.poll() is None else f"exit {proc.returncode}"
        return f"{state}: {self.last_words()}"


def _trading_marks(journal: Path) -> int:
    """How many executor processes of this journal got as far as trading."""
    try:
        entries = read_entries(journal)
    except (OSError, JournalCorrupt):
        return 0
    return sum(isinstance(e, RiskEvent) and e.kind == SESSION_TRADING for e in entries)
