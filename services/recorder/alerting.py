"""Which of the run's messages become alerts (`common/alerts.py`), as the recorder hears them.

- a `circuit_breaker_tripped` risk event: `breaker_tripped`;
- a `venue_halted` risk event: `venue_halted`;
- a feed symbol (or the whole feed) stale, down or resyncing for longer than
  `feed_down_after_s` without going live again: `feed_down`, once per episode.

Pure but for the sender: the time goes in (`now_s`, monotonic seconds). The
runner alerts on a service dying and on the run's end; the recorder cannot
see those.
"""

from __future__ import annotations

from common.alerts import BREAKER_TRIPPED, FEED_DOWN, VENUE_HALTED, Alert, AlertSender
from common.messages import FeedState, FeedStatus, Message, RiskEvent

UNHEALTHY = frozenset({FeedState.STALE, FeedState.DOWN, FeedState.RESYNCING})
RISK_ALERTS = {"circuit_breaker_tripped": BREAKER_TRIPPED, "venue_halted": VENUE_HALTED}


class RunAlerts:
    def __init__(self, sender: AlertSender, *, feed_down_after_s: float) -> None:
        self.sender, self.feed_down_after_s = sender, feed_down_after_s
        # Per symbol ("*": the whole feed): since when unhealthy, in which state,
        # and whether this episode was alerted.
        self._unhealthy: dict[str, tuple[float, FeedState, bool]] = {}

    def on_message(self, message: Message, now_s: float) -> None:
        if isinstance(message, RiskEvent) and message.kind in RISK_ALERTS:
            where = f" on {message.symbol}" if message.symbol else ""
            self.sender.send(
                Alert(
                    RISK_ALERTS[message.kind],
                    f"{message.kind}{where}: {message.detail}".rstrip(": "),
                    {"symbol": message.symbol, **message.values},
                    message.ts_ns,
                )
            )
        elif isinstance(message, FeedStatus):
            symbol = message.symbol or "*"
            if message.state in UNHEALTHY:
                if symbol not in self._unhealthy:
                    self._unhealthy[symbol] = (now_s, message.state, False)
                else:
                    since, _, alerted = self._unhealthy[symbol]
                    self._unhealthy[symbol] = (since, message.state, alerted)
            else:
                self._unhealthy.pop(symbol, None)
        self.check(now_s)

    def check(self, now_s: float) -> None:
        """Alert each feed symbol unhealthy past the threshold (once per episode)."""
        for symbol, (since, state, alerted) in list(self._unhealthy.items()):
            waited_s = now_s - since
            if alerted or waited_s < self.feed_down_after_s:
                continue
            self._unhealthy[symbol] = (since, state, True)
            self.sender.send(
                Alert(
                    FEED_DOWN,
                    f"feed {symbol} {state} for {waited_s:.0f} s",
                    {"symbol": symbol, "state": str(state), "seconds": round(waited_s, 1)},
                )
            )

    def close(self) -> None:
        self.sender.close()
