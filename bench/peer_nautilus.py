"""The peer a user would pick instead: NautilusTrader's in-process `BacktestEngine`.

Installed by the benchmark into a virtual environment of its own
(`bench/.peer-venv`, never a project dependency), fed the same quotes as our
replay, with a strategy that orders every 1,000 quotes (`peer_nautilus_run.py`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from common.messages import Tick, TickKind

PEER_VERSION = "1.221.0"  # the release measured here; pinned so reruns compare like with like
VENV = Path(__file__).resolve().parent / ".peer-venv"
RUNNER = Path(__file__).resolve().parent / "peer_nautilus_run.py"


def peer_python() -> Path:
    python = VENV / "bin" / "python"
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run(
        [str(python), "-c", "import nautilus_trader; print(nautilus_trader.__version__)"],
        capture_output=True,
        text=True,
    )
    if probe.stdout.strip() != PEER_VERSION:
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"nautilus_trader=={PEER_VERSION}"],
            check=True,
        )
    return python


def measure(folder: Path, ticks: list[Tick]) -> dict[str, Any]:
    quotes = [t for t in ticks if t.kind is TickKind.QUOTE]
    path = folder / "peer-quotes.csv"
    path.write_text(
        "".join(f"{t.recv_ts_ns},{t.bid},{t.ask},{t.bid_size},{t.ask_size}\n" for t in quotes)
    )
    done = subprocess.run(
        [str(peer_python()), str(RUNNER), str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["detail"] = (
        f"{result['quotes']:,} quotes, {result['orders']} orders, nautilus_trader {PEER_VERSION}"
    )
    return result
