"""A running run's control socket: how `python -m orchestration.swap` reaches its runner.

The runner binds a REP socket at `ipc://<the run's address folder>/control`.
That folder is made 0700 and the socket file 0600 (`common.sockets`), so
only the user who runs the run can send it anything: the project's rule that
no service acts on a peer from outside the run holds for the runner too. It
is always ipc, even for `--transport tcp` runs (the address folder exists
for them as well), because nothing but a local command ever asks.

`RUN_DIR/runner.json` names the address (and the runner's pid) while the
run goes on, and is removed at its end; it holds no secret.

One request, one reply, each one JSON object (validated on decode, at most
`MAX_BYTES`): `SwapRequest` -> `SwapReply`. A request carries only the
executor-only variables of `SWAP_VARIABLES` (the live opt-ins, credentials
and the exchange URL); the runner hands them to the new executor process
alone and never writes them anywhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Final, Literal

import msgspec
import zmq

from common import sockets
from common.errors import ConfigError

CONTROL_SOCKET: Final = "control"
RUNNER_FILE: Final = "runner.json"
MAX_BYTES: Final = 64 * 1024
# What a swap may bring to the new executor, and nothing else: the live gate's
# variables, the credentials, and the venue's URL (Kraken, or a loopback fake).
SWAP_VARIABLES: Final = (
    "ENABLE_REAL_LIVE_EXECUTOR",
    "CONFIRM_LIVE",
    "LIVE_EXECUTOR_PROVIDER",
    "EXCHANGE_API_KEY",
    "EXCHANGE_API_SECRET",
    "EXCHANGE_BASE_URL",
)


class NotRunning(Exception):
    """The run has no runner to ask (it ended, or never started here)."""


class SwapRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Stop the executor and start the other kind (`to`), with the run's own settings."""

    to: Literal["paper", "live"]
    no_paper_mode: bool = False
    live_executor: bool = False
    environ: dict[str, str] = {}  # only SWAP_VARIABLES; secrets among them


class SwapReply(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What came of a swap: `code` is the swap command's exit code (0, 1 or 2)."""

    ok: bool
    code: int
    detail: str  # one line, never a secret


_request_decoder = msgspec.json.Decoder(SwapRequest)
_reply_decoder = msgspec.json.Decoder(SwapReply)


def control_address(address_dir: Path) -> str:
    return f"ipc://{address_dir}/{CONTROL_SOCKET}"


def write_runner_file(run_dir: Path, address: str) -> None:
    (run_dir / RUNNER_FILE).write_text(
        json.dumps({"control": address, "pid": os.getpid()}, indent=2) + "\n"
    )


def remove_runner_file(run_dir: Path) -> None:
    (run_dir / RUNNER_FILE).unlink(missing_ok=True)


def runner_address(run_dir: Path) -> str:
    """The control address of the runner of `run_dir`.

    Raises:
        NotRunning: no runner.json, no live runner behind it, or no socket file.
    """
    try:
        found: dict[str, Any] = json.loads((run_dir / RUNNER_FILE).read_text())
        address, pid = str(found["control"]), int(found["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        raise NotRunning(f"{run_dir} is not a running run (no {RUNNER_FILE})") from None
    try:
        os.kill(pid, 0)  # signal 0: is that process there at all
    except ProcessLookupError:
        raise NotRunning(f"{run_dir}: its runner (pid {pid}) is gone") from None
    except PermissionError:
        pass  # there, and another user's: the socket's mode answers for it
    if not address.startswith("ipc://") or not Path(address.removeprefix("ipc://")).exists():
        raise NotRunning(f"{run_dir}: its runner has no control socket") from None
    return address


def decode_request(payload: bytes) -> SwapRequest:
    """Raises `ConfigError` naming what is wrong (never echoing the payload: it holds secrets)."""
    if len(payload) > MAX_BYTES:
        raise ConfigError(f"control request over {MAX_BYTES} bytes")
    try:
        request = _request_decoder.decode(payload)
    except msgspec.DecodeError:
        raise ConfigError("unreadable control request") from None
    unknown = sorted(set(request.environ) - set(SWAP_VARIABLES))
    if unknown:
        raise ConfigError(f"a swap cannot set {', '.join(unknown)}")
    return request


def encode(message: SwapRequest | SwapReply) -> bytes:
    return msgspec.json.encode(message)


def ask(address: str, request: SwapRequest, timeout_s: float) -> SwapReply:
    """Send one request to a runner and wait up to `timeout_s` for its reply.

    Raises:
        TimeoutError: no reply in time (the runner may still be swapping).
    """
    with zmq.Context() as ctx, sockets.control_requester(ctx, address) as sock:
        sock.send(encode(request))
        if not sock.poll(int(timeout_s * 1000)):
            raise TimeoutError(f"no answer from the runner in {timeout_s:g} s")
        payload = sock.recv()
    if len(payload) > MAX_BYTES:
        raise ValueError("control reply too large")
    return _reply_decoder.decode(payload)
