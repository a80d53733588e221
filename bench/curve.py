"""What CURVE costs: loopback tcp with and without CURVE, measured in the same rounds.

- Hop level: the baseline chain (`chain.py`: publisher -> relay -> sink, three
  processes, nothing but the hops) over loopback tcp, plain and with every
  process's sockets made CURVE sockets (`sockets.use_curve`, as the services
  do with `--curve-keys`). Ticks/s one tick a message, and the one-way latency
  of paced ticks (`chain.measure_latency`) at the chain's rates.
- Service level: the real four services, `orchestration.paper_live --speed 0`
  (batched, the runner's default) on the same recording, over
  `--transport tcp --insecure-tcp`, `--transport tcp --curve-keys DIR`, and
  the default ipc for reference (`pipeline.measure_replay`).

Plain and CURVE are measured in alternating rounds (the order flips every
round) and each figure is the median round, like the latency figures of
`python -m bench`: the machine's neighbours come and go in bursts.

    python -m bench.curve [--smoke] [--out FILE]     (also a section of python -m bench)
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import chain, pipeline, report
from common import wire
from common.curve import create_keys
from common.messages import Tick

ROUNDS = 3
CHAIN_PORTS = 3  # publisher, relay, ready
RUNNER_PORTS = 7  # orchestration.paper_live --tcp-port: that port and the six after it


def free_tcp_port(count: int) -> int:
    """A loopback port P such that P .. P + count - 1 are all free (for now).

    P comes from binding to port 0; the ones after it are tried by binding.
    """
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port: int = first.getsockname()[1]
        if port + count - 1 <= 65535 and all(_free(port + i) for i in range(count)):
            return port
    raise RuntimeError(f"no {count} consecutive free loopback ports found")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _sides(n: int, sides: list[Any]) -> list[Any]:
    """Round `n`'s order: each side goes first in turn."""
    shift = n % len(sides)
    return sides[shift:] + sides[:shift]


def measure_chain(
    folder: Path,
    keys: Path,
    tick: Tick,
    payloads: list[bytes],
    rates: tuple[int, ...],
    seconds: float,
    rounds: int = ROUNDS,
) -> dict[str, Any]:
    """The chain over tcp, plain vs CURVE, alternating: ticks/s unbatched, latency per rate.

    `seconds` of paced ticks per rate and side, split over the rounds.
    """
    sides: list[tuple[str, Path | None]] = [("plain", None), ("curve", keys)]
    speeds: dict[str, list[float]] = {name: [] for name, _ in sides}
    delays: dict[int, dict[str, list[dict[str, Any]]]] = {
        rate: {name: [] for name, _ in sides} for rate in rates
    }
    for n in range(rounds):
        for name, curve_keys in _sides(n, sides):
            measured = chain.measure_throughput(
                folder,
                payloads,
                batched=False,
                tcp_port=free_tcp_port(CHAIN_PORTS),
                curve_keys=curve_keys,
            )
            speeds[name].append(measured["ticks_per_s"])
        for rate in rates:
            for name, curve_keys in _sides(n, sides):
                delays[rate][name].append(
                    chain.measure_latency(
                        folder,
                        tick,
                        rate,
                        seconds / rounds,
                        tcp_port=free_tcp_port(CHAIN_PORTS),
                        curve_keys=curve_keys,
                    )
                )
    return {
        "rounds": rounds,
        "ticks": len(payloads),
        "ticks_per_s": {name: statistics.median(v) for name, v in speeds.items()},
        "ticks_per_s_rounds": speeds,
        "latency": {
            str(rate): {name: chain.median_round(r) for name, r in by_side.items()}
            for rate, by_side in delays.items()
        },
    }


def measure_replays(
    folder: Path,
    keys: Path,
    recording: Path,
    checkpoint: Path,
    ticks: int,
    rounds: int = ROUNDS,
) -> dict[str, Any]:
    """The runner on `recording` at --speed 0, batched: ipc, tcp plain, tcp CURVE, alternating."""

    def runner_args(side: str) -> list[str]:
        if side == "ipc":
            return []  # the runner's default transport
        tcp = ["--transport", "tcp", "--tcp-port", str(free_tcp_port(RUNNER_PORTS))]
        return tcp + (["--insecure-tcp"] if side == "plain" else ["--curve-keys", str(keys)])

    def replay(name: str, n: int) -> dict[str, Any]:
        try:
            return pipeline.measure_replay(
                folder / f"replay-{name}-{n}", recording, checkpoint, ticks, chain.BATCH,
                runner_args=runner_args(name),
            )  # fmt: skip
        except subprocess.CalledProcessError as e:
            # The ports were free when probed, but the run's own connections take
            # ephemeral ports from the same range before every service has bound
            # its own: once in a while one is gone. Once more, on fresh ports.
            tail = (e.stderr or b"").decode(errors="replace").strip().splitlines()[-3:]
            print(f"bench: {name} replay failed ({' / '.join(tail)}); once more", flush=True)
            return pipeline.measure_replay(
                folder / f"replay-{name}-{n}-again", recording, checkpoint, ticks, chain.BATCH,
                runner_args=runner_args(name),
            )  # fmt: skip

    sides = ["ipc", "plain", "curve"]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    for n in range(rounds):
        for name in _sides(n, sides):
            runs[name].append(replay(name, n))
    return {
        "rounds": rounds,
        "ticks_in_file": ticks,
        "ticks_per_message": chain.BATCH,
        "ticks_per_s": {
            name: statistics.median(r["ticks_per_s"] for r in by_side)
            for name, by_side in runs.items()
        },
        "ticks_per_s_rounds": {
            name: [r["ticks_per_s"] for r in by_side] for name, by_side in runs.items()
        },
        "lossless": {name: all(r["lossless"] for r in by_side) for name, by_side in runs.items()},
    }


def measure(
    folder: Path,
    tick: Tick,
    payloads: list[bytes],
    recording: Path,
    checkpoint: Path,
    ticks: int,
    rates: tuple[int, ...],
    seconds: float,
    rounds: int = ROUNDS,
) -> dict[str, Any]:
    """Both levels, with a fresh keys folder (`common.curve.create_keys`)."""
    keys = folder / "curve-keys"
    create_keys(keys)
    return {
        "chain": measure_chain(folder, keys, tick, payloads, rates, seconds, rounds),
        "replay": measure_replays(folder, keys, recording, checkpoint, ticks, rounds),
    }


def main(argv: list[str] | None = None) -> int:
    """This section alone: the same inputs and sizes as `python -m bench`."""
    from bench.__main__ import FULL, SMOKE, machine  # deferred: bench.__main__ imports this
    from bench.recordings import BUNDLED, make_recording
    from common.tickfile import iter_ticks
    from services.model import train

    parser = argparse.ArgumentParser(prog="python -m bench.curve")
    parser.add_argument("--smoke", action="store_true", help="tiny inputs: proves it runs")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here too")
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    figures: dict[str, Any] = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC")}
    with tempfile.TemporaryDirectory(prefix="plr-bench-") as tmp:
        folder = Path(tmp)
        bundled = list(iter_ticks(BUNDLED))
        payloads = [wire.encode(tick) for tick in bundled]
        payloads = (payloads * (sizes.chain_ticks // len(payloads) + 1))[: sizes.chain_ticks]
        checkpoint = folder / "model.pkl"
        train.main(["--ticks", str(BUNDLED), "--out", str(checkpoint), "--policy", "linear"])
        if args.smoke:  # as python -m bench --smoke: a small made-up recording
            recording = make_recording(folder / "small.ticks", sizes.large_ticks)
            ticks = sizes.large_ticks
        else:
            recording, ticks = BUNDLED, len(bundled)
        figures["curve"] = measure(
            folder,
            bundled[0],
            payloads,
            recording,
            checkpoint,
            ticks,
            sizes.latency_rates,
            sizes.latency_s,
            sizes.curve_rounds,
        )
    figures["smoke"] = args.smoke
    figures["ratios"] = report.curve_ratios(figures["curve"])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(report.curve_table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
