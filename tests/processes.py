"""Start real service processes for tests and always clean them up."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psutil

from common.addresses import Addresses
from tests.conftest import PROJECT_ROOT, scaled


class Services:
    """Service processes of one test; each one's stderr goes to a file in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, module: str, args: Sequence[str], env: dict[str, str] | None = None):
        """Start `python -m module args`; every socket it does not name lives in `folder`.

        The test's own ipc addresses go under its environment (`os.environ`
        unless `env` replaces it; flags win over both), so no service of a
        test ever binds a default port.
        """
        env = {**Addresses.in_folder(self.folder).environ(), **(os.environ if env is None else env)}
        err = open(self.folder / f"{name}.stderr", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=PROJECT_ROOT,
            stdout=err,
            stderr=subprocess.STDOUT,
            env=env,
        )
        proc.log_file = err  # type: ignore[attr-defined]
        self.procs[name] = proc
        return proc

    def wait(self, name: str, timeout_s: float = 60) -> int:
        return self.procs[name].wait(scaled(timeout_s))

    def output(self, name: str) -> str:
        return (self.folder / f"{name}.stderr").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait(scaled(10))
            proc.log_file.close()  # type: ignore[attr-defined]


@contextmanager
def services(folder: Path) -> Iterator[Services]:
    group = Services(folder)
    try:
        yield group
    finally:
        group.stop_all()


def start_runner(
    tmp_path: Path, checkpoint: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `python -m orchestration.paper_live` with artifacts in `tmp_path/artifacts`.

    Its output is collected (stdout and stderr together) for failure messages.
    """
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestration.paper_live",
            *("--ckpt", str(checkpoint), "--artifacts-dir", str(tmp_path / "artifacts")),
            *args,
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )


def service_pid(runner: subprocess.Popen[bytes], module: str) -> int:
    """The pid of the runner's service whose command line names `module`."""
    for child in psutil.Process(runner.pid).children(recursive=True):
        try:
            if module in " ".join(child.cmdline()):
                return child.pid
        except psutil.NoSuchProcess:
            continue
    raise LookupError(module)


def wait_for_runner(runner: subprocess.Popen[bytes], timeout_s: float) -> int:
    """The runner's exit code; if it has not ended within `timeout_s`, the test fails
    naming the services still running and quoting the runner's output (all killed first)."""
    try:
        return runner.wait(timeout_s)
    except subprocess.TimeoutExpired:
        pass
    alive = []
    for child in psutil.Process(runner.pid).children(recursive=True):
        try:
            alive.append(f"{child.pid} {' '.join(child.cmdline()[1:3])} ({child.status()})")
            child.kill()
        except psutil.Error:
            continue
    runner.kill()
    try:
        output, _ = runner.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        output = b"(its output could not be read)"
    still = "; ".join(alive) or "no service"
    text = (output or b"").decode(errors="replace")[-3000:]
    raise AssertionError(f"the runner did not end in {timeout_s:.0f} s; {still} still ran\n{text}")
