"""The same-run baseline: a bare 3-process ZeroMQ chain, publisher -> relay -> sink.

It moves the project's own encoded `Tick`s over the pipeline's transport and
socket policy (`common.sockets`, lossless PUB/SUB, ipc) and does no other work:
the relay forwards frames untouched, the sink only counts (or, for latency,
decodes the stamp). Unbatched is one tick per message; batched packs
`BATCH` encoded ticks into one msgpack array per message.

Given `tcp_port` it runs over loopback tcp instead (three ports), and given
`curve_keys` too, every process makes its tcp sockets CURVE sockets
(`sockets.use_curve`), as the services do with `--curve-keys`: `bench.curve`.

    python -m bench.chain relay IN OUT [--curve-keys DIR]
    python -m bench.chain sink IN READY RESULT.json [--latency] [--curve-keys DIR]
"""

from __future__ import annotations

import gc
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import zmq

from common import sockets, wire
from common.curve import load_keys
from common.messages import BATCH_MAX, Eos, Tick

# The runner's batch (`paper_live.FAST_REPLAY_BATCH`): the batched replay is
# read against a chain that moves ticks the same way.
BATCH = BATCH_MAX
BATCH_TOPIC = b"batch"


@contextmanager
def context(curve_keys: Path | None) -> Iterator[zmq.Context[zmq.Socket[bytes]]]:
    """A context; with `curve_keys`, its tcp sockets are CURVE sockets (`sockets.use_curve`)."""
    with zmq.Context() as ctx:
        if curve_keys is None:
            yield ctx
            return
        authenticator = sockets.use_curve(ctx, load_keys(curve_keys))
        try:
            yield ctx
        finally:
            authenticator.stop()


def relay(in_addr: str, out_addr: str, curve_keys: Path | None = None) -> int:
    with (
        context(curve_keys) as ctx,
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


def sink(
    in_addr: str, ready_addr: str, result_path: str, latency: bool, curve_keys: Path | None = None
) -> int:
    """Count ticks (batches count BATCH each) from the first data message to eos."""
    answered = False
    count = 0
    first_ns = 0
    delays_ns: list[int] = []
    with (
        context(curve_keys) as ctx,
        sockets.subscriber(ctx, in_addr, [b""], lossless=True) as sub,
    ):
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


def median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each percentile's median over the rounds (samples: their sum)."""
    keys = ("p50_us", "p99_us", "p999_us")
    result: dict[str, Any] = {k: statistics.median(r[k] for r in rounds) for k in keys}
    result["samples"] = sum(r["samples"] for r in rounds)
    return result


class Chain:
    """Start relay and sink processes in `folder`; this process is the publisher.

    Over ipc in `folder`, or loopback tcp on `tcp_port` and the two after it;
    with `curve_keys` (a `python -m common.curve` folder), CURVE on all three processes.
    """

    def __init__(
        self,
        folder: Path,
        *,
        latency: bool = False,
        tcp_port: int | None = None,
        curve_keys: Path | None = None,
    ) -> None:
        self.folder = folder
        self.result = folder / "chain.json"
        if tcp_port is None:
            addr_in, addr_out, addr_ready = (
                f"ipc://{folder}/chain-{name}" for name in ("in", "out", "ready")
            )
        else:
            addr_in, addr_out, addr_ready = (f"tcp://127.0.0.1:{tcp_port + i}" for i in range(3))
        self.ctx = zmq.Context()
        self.authenticator = None
        curve = []
        if curve_keys is not None:
            self.authenticator = sockets.use_curve(self.ctx, load_keys(curve_keys))
            curve = ["--curve-keys", str(curve_keys)]
        self.pub = sockets.publisher(self.ctx, addr_in, lossless=True)
        self.ready = sockets.ready_replier(self.ctx, addr_ready)
        node = [sys.executable, "-m", "bench.chain"]
        self.procs = [
            subprocess.Popen([*node, "relay", addr_in, addr_out, *curve]),
            subprocess.Popen(
                [*node, "sink", addr_out, addr_ready, str(self.result), *curve]
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
        if self.authenticator is not None:
            self.authenticator.stop()
        self.ctx.term()
        result: dict[str, Any] = json.loads(self.result.read_text())
        return result


def measure_throughput(
    folder: Path,
    payloads: list[bytes],
    *,
    batched: bool,
    tcp_port: int | None = None,
    curve_keys: Path | None = None,
) -> dict[str, Any]:
    """Ticks/s through the chain, as fast as the publisher can send."""
    chain = Chain(folder, tcp_port=tcp_port, curve_keys=curve_keys)
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


def measure_latency(
    folder: Path,
    tick: Tick,
    rate_per_s: float,
    seconds: float,
    *,
    tcp_port: int | None = None,
    curve_keys: Path | None = None,
) -> dict[str, Any]:
    """One-way publisher -> sink delay of ticks stamped at send, paced at `rate_per_s`."""
    chain = Chain(folder, latency=True, tcp_port=tcp_port, curve_keys=curve_keys)
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
    args = list(argv)
    keys = None
    if "--curve-keys" in args:
        at = args.index("--curve-keys")
        keys = Path(args[at + 1])
        del args[at : at + 2]
    if args[0] == "relay":
        return relay(args[1], args[2], keys)
    if args[0] == "sink":
        return sink(args[1], args[2], args[3], latency="--latency" in args, curve_keys=keys)
    print(f"usage: {__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
