"""The runner's alerts (`common/alerts.py`): a service dying, and the end of the run.

The recorder alerts on what it hears (breaker, venue halt, feed down); only
the runner sees a process exit and the settled result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.alerts import RUN_ENDED, SERVICE_DIED, Alert, AlertSender
from services.recorder.run_summary import summary_lines


class RunnerAlerts:
    def __init__(self, sender: AlertSender) -> None:
        self.sender = sender
        self._told: set[str] = set()  # services whose death was alerted

    def watch(self, failed: list[str], last_words: Callable[[str], str]) -> None:
        """Alert each newly failed service once, with what it said last."""
        for name in failed:
            if name in self._told:
                continue
            self._told.add(name)
            why = last_words(name)
            self.sender.send(
                Alert(SERVICE_DIED, f"{name} died: {why}", {"service": name, "last_words": why})
            )

    def ended(self, result: dict[str, Any]) -> None:
        """The run's end, with its summary; then deliver what is queued."""
        pnl = result.get("pnl") or {}
        counts = result.get("counts") or {}
        self.sender.send(
            Alert(
                RUN_ENDED,
                "\n".join([f"run ended: {result.get('exit_reason')}", *summary_lines(result)]),
                {
                    "exit_reason": result.get("exit_reason"),
                    "complete": result.get("complete"),
                    "pnl_total": pnl.get("total"),
                    "fills": counts.get("fills"),
                },
            )
        )
        self.sender.close()
