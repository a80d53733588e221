"""The model's targets socket: a `TargetBatch` over the payload cap goes as valid halves."""

from __future__ import annotations

from pathlib import Path

import zmq

from common import sockets, wire
from common.messages import BATCH_MAX, Target, TargetBatch
from services.model.__main__ import SocketOutput
from tests.factories import make_target


def test_a_batch_over_the_payload_cap_arrives_as_valid_batches_in_order(
    tmp_path: Path, zmq_ctx: zmq.Context
) -> None:
    """Ids and symbols near their 128-character cap: the batch is cut, nothing lost or reordered."""
    address = f"ipc://{tmp_path}/targets"
    symbol = "S" * 128
    targets = [
        make_target(id=f"{n:03d}" + "i" * 125, symbol=symbol, tick_seq=n) for n in range(BATCH_MAX)
    ]
    batch = TargetBatch(source="model", targets=targets, through=BATCH_MAX + 5)
    assert len(wire.encode(batch)) > wire.MAX_PAYLOAD_BYTES
    with (
        sockets.target_puller(zmq_ctx, address, lossless=True) as pull,
        sockets.target_pusher(zmq_ctx, address, lossless=True) as push,
    ):
        assert push.poll(5_000, zmq.POLLOUT)  # connected: IMMEDIATE would refuse before
        output = SocketOutput(predictions=push, targets=push, inbox=None)  # type: ignore[arg-type]
        assert output.push(batch)
        received: list[TargetBatch] = []
        while sum(len(b.targets) for b in received) < BATCH_MAX and pull.poll(5_000):
            message = wire.decode(pull.recv())
            assert isinstance(message, TargetBatch)
            received.append(message)
    assert len(received) >= 2
    arrived: list[Target] = [t for b in received for t in b.targets]
    assert arrived == targets
    assert received[-1].through == batch.through  # the last carries the batch's watermark
    for part in received[:-1]:  # the others are done through their last target
        assert part.through == part.targets[-1].tick_seq
