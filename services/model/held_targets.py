"""A step's targets and watermarks, held so they leave the model as one message.

When the model decides several ticks in one step (a `TickBatch`, or single
ticks that queued up), pushing each target as its own message cost a fifth of
its busy time in ZeroMQ sends and woke the executor once per target (issue
19). Held here instead, they go out at the step's end as the one message this
class builds:

- nothing held: nothing;
- only watermarks: the last one alone (a later watermark implies the earlier);
- one target and no watermark after it: that `Target`, as a tick decided alone sends;
- else one `TargetBatch` whose `through` is the last tick the step decided.

Targets are marked sent as they are held, so the step's later decisions read
`last_sent` as they would had each been pushed and taken. If the executor
refuses the message, `refused` puts `last_sent` back to what the executor
has, so the next decisions offer the position again (as a dropped target
always did).

Pure: no sockets; the stage pushes what `message` returns.
"""

from __future__ import annotations

from common.messages import BATCH_MAX, Target, TargetBatch, Watermark
from services.model.decision import DecisionStack

HeldTarget = tuple[Target, float | None]  # the target, and the prediction value it came from


class HeldTargets:
    """The targets and the newest watermark of the step being decided, in tick order."""

    def __init__(self, stack: DecisionStack, source: str) -> None:
        self.stack, self.source = stack, source
        self.targets: list[HeldTarget] = []
        self.watermark: int | None = None  # held after the last target; None if none since
        # Each touched symbol's `last_sent` as the executor has it: what a refusal restores.
        self._taken: dict[str, float | None] = {}

    def full_before(self, target: Target) -> bool:
        """Whether `target` cannot join what is held: the batch is full, or its seq falls back.

        A `TargetBatch`'s seqs never fall (a restarted feed's would): such a
        target starts the next message instead.
        """
        targets = self.targets
        return bool(targets) and (
            len(targets) >= BATCH_MAX or target.tick_seq < targets[-1][0].tick_seq
        )

    def hold(self, target: Target, value: float | None) -> None:
        """Hold `target` and count it as sent, for the step's next decisions."""
        symbols = self._taken
        if target.symbol not in symbols:
            symbols[target.symbol] = self.stack.last_sent.get(target.symbol)
        self.stack.mark_sent(target)
        self.targets.append((target, value))
        self.watermark = None  # the target's tick passes every watermark before it

    def hold_watermark(self, tick_seq: int) -> None:
        self.watermark = tick_seq

    def message(self, last_decided: int) -> Target | TargetBatch | Watermark | None:
        """The one message standing for what is held; `last_decided`: the step's last tick."""
        targets = self.targets
        if not targets:
            if self.watermark is None:
                return None
            return Watermark(source=self.source, tick_seq=self.watermark)
        if len(targets) == 1 and self.watermark is None:
            return targets[0][0]
        through = max(last_decided, targets[-1][0].tick_seq)  # a restarted feed's seqs fall
        batch = [target for target, _ in targets]
        return TargetBatch(source=self.source, targets=batch, through=through)

    def taken(self) -> list[HeldTarget]:
        """The executor took the message: what was held is sent; hand it back and start afresh."""
        held = self.targets
        for target, _ in held:
            self._taken[target.symbol] = target.target_position
        self.targets, self.watermark = [], None
        return held

    def refused(self) -> list[HeldTarget]:
        """Nobody took the message: `last_sent` goes back to what the executor has; hand
        back the dropped targets and start afresh."""
        held = self.targets
        last_sent = self.stack.last_sent
        for symbol in {target.symbol for target, _ in held}:
            position = self._taken[symbol]
            if position is None:
                last_sent.pop(symbol, None)
            else:
                last_sent[symbol] = position
        self.targets, self.watermark = [], None
        return held

    def end_step(self) -> None:
        """The step is over: nothing held may outlive it."""
        self._taken.clear()
