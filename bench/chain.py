"""The same-run baseline: a bare 3-process ZeroMQ chain, publisher -> relay -> sink.

It moves the project's own encoded `Tick`s over the pipeline's transport and
socket policy (`common.sockets`, lossless PUB/SUB, ipc) and does no other work:
the relay forwards frames untouched, the sink only counts (or, for latency,
decodes the stamp). Unbatched is one tick per message; batched packs
`BATCH` encoded ticks into one msgpack array per message.

    python -m bench.chain relay IN OUT
    python -m bench.chain sink IN READY RESULT.json [--latency]
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import zmq

from common import sockets, wire
from common.messages import Eos, Tick

BATCH = 64
BATCH_TOPIC = b"batch"


def relay(in_addr: str, out_addr: str) -> int:
    with (
        zmq.Context() as ctx,
        sockets.subscriber(ctx, in_addr, [b""], lossless=True) as sub,
        sockets.publisher(ctx, out_addr, lossless=True) as pub,
    ):
        while True:
            topic = sub.recv()
            payload = sub.recv()
            pub.send(topic, zmq.SNDMORE)
            pub.send(payload)
            if topic == wire.EOS_TOPIC:
                return 0


def sink(in_addr: str, ready_addr: str, result_path: str, latency: bool) -> int:
    """Count ticks (batches count BATCH each) from the first data message to eos."""
    answered = False
    count = 0
    first_ns = 0
    delays_ns: list[int] = []
    with zmq.Context() as ctx, sockets.subscriber(ctx, in_addr, [b""], lossless=True) as sub:
        while True:
            topic = sub.recv()
            payload = sub.recv()
            if topic == wire.HELLO_TOPIC:
                if not answered:
                    answered = sockets.answer_hello(ctx, ready_addr, "sink", timeout_s=5.0)
                continue
            if topic == wire.EOS_TOPIC:
                break
            if first_ns == 0:
                first_ns = time.perf_counter_ns()
            if latency:
                tick = wire.decode(payload)
                assert isinstance(tick, Tick)
                delays_ns.append(time.time_ns() - tick.recv_ts_ns)
            count += BATCH if topic == BATCH_TOPIC else 1
        elapsed_s = (time.perf_counter_ns() - first_ns) / 1e9
    result: dict[str, Any] = {"ticks": count, "ticks_per_s": count / elapsed_s}
    if latency:
        result |= percentiles_us(delays_ns)
    Path(result_path).write_text(json.dumps(result))
    return 0


def percentiles_us(samples_ns: Sequence[int]) -> dict[str, float]:
    values = np.asarray(samples_ns, dtype=np.float64) / 1e3
    return {
        "p50_us": float(np.percentile(values, 50)),
        "p99_us": float(np.percentile(values, 99)),
        "p999_us": float(np.percentile(values, 99.9)),
        "samples": len(values),
    }


class Chain:
    """Start relay and sink processes in `folder`; this process is the publisher."""

    def __init__(self, folder: Path, *, latency: bool = False) -> None:
        self.folder = folder
        self.result = folder / "chain.json"
        addr = f"ipc://{folder}"
        self.ctx = zmq.Context()
        self.pub = sockets.publisher(self.ctx, f"{addr}/chain-in", lossless=True)
        self.ready = sockets.ready_replier(self.ctx, f"{addr}/chain-ready")
        node = [sys.executable, "-m", "bench.chain"]
        self.procs = [
            subprocess.Popen([*node, "relay", f"{addr}/chain-in", f"{addr}/chain-out"]),
            subprocess.Popen(
                [*node, "sink", f"{addr}/chain-out", f"{addr}/chain-ready", str(self.result)]
                + (["--latency"] if latency else [])
            ),
        ]
        sockets.wait_for_subscribers(self.pub, self.ready, ["sink"], source="bench", timeout_s=30)

    def finish(self) -> dict[str, Any]:
        sockets.publish(self.pub, Eos(source="bench", last_seq=0, ts_ns=time.time_ns()))
        for proc in self.procs:
            proc.wait(60)
        self.pub.close()
        self.ready.close()
        self.ctx.term()
        result: dict[str, Any] = json.loads(self.result.read_text())
        return result


def measure_throughput(folder: Path, payloads: list[bytes], *, batched: bool) -> dict[str, Any]:
    """Ticks/s through the chain, as fast as the publisher can send."""
    chain = Chain(folder)
    pub = chain.pub
    if batched:
        for start in range(0, len(payloads) - BATCH + 1, BATCH):
            pub.send(BATCH_TOPIC, zmq.SNDMORE)
            pub.send(msgspec.msgpack.encode(payloads[start : start + BATCH]))
    else:
        topic = wire.tick_topic("BTC/USDT")
        for payload in payloads:
            pub.send(topic, zmq.SNDMORE)
            pub.send(payload)
    return chain.finish()


def measure_latency(folder: Path, tick: Tick, rate_per_s: float, seconds: float) -> dict[str, Any]:
    """One-way publisher -> sink delay of ticks stamped at send, paced at `rate_per_s`."""
    chain = Chain(folder, latency=True)
    paced_send(chain.pub, [tick], rate_per_s, seconds)
    return chain.finish()


def paced_send(pub: zmq.Socket, ticks: Sequence[Tick], rate_per_s: float, seconds: float) -> int:
    """Publish `ticks` in turn, re-stamped (`recv_ts_ns` = now, new seq), on a fixed schedule.

    The pipeline's latency figure sends with this same function.
    """
    gc.collect()
    gc.freeze()  # no collector pause of ours in the figures (the caller may hold a recording)
    replace = msgspec.structs.replace
    total = int(rate_per_s * seconds)
    wait = threading.Event()
    started = time.perf_counter()
    for seq in range(1, total + 1):
        delay = started + seq / rate_per_s - time.perf_counter()
        if delay > 0:
            wait.wait(delay)  # pacing on the schedule, not synchronisation
        tick = ticks[(seq - 1) % len(ticks)]
        sockets.publish(pub, replace(tick, seq=seq, recv_ts_ns=time.time_ns()))
    return total


def main(argv: Sequence[str]) -> int:
    if argv[0] == "relay":
        return relay(argv[1], argv[2])
    if argv[0] == "sink":
        return sink(argv[1], argv[2], argv[3], latency="--latency" in argv)
    print(f"usage: {__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
