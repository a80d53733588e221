"""The runner's end of the control socket: one request at a time, answered, and logged.

Bound for the run's length at `control.control_address` (an ipc file in the
run's private address folder), announced in `RUN_DIR/runner.json`, which is
removed when the channel closes. The runner's own lines about swaps go to its
stderr and, as `[runner]` lines, to run.log through the run's log socket.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

import zmq

from common import sockets
from common.curve import CurveKeys
from common.errors import ConfigError
from common.logs import LINE_FORMAT, CollectorHandler, LineFormatter
from orchestration.control import (
    SwapReply,
    SwapRequest,
    control_address,
    decode_request,
    encode,
    remove_runner_file,
    write_runner_file,
)

Handle = Callable[[SwapRequest], SwapReply]


class ControlChannel:
    def __init__(
        self, folder: Path, address_dir: Path, logs_addr: str, keys: CurveKeys | None
    ) -> None:
        self.folder = folder
        self.ctx = zmq.Context()
        # On tcp the recorder's log socket admits the run's CURVE clients only; this is one.
        self.authenticator = sockets.use_curve(self.ctx, keys) if keys is not None else None
        self.address = control_address(address_dir)
        self.rep = sockets.control_replier(self.ctx, self.address)
        self.log_sock = sockets.log_publisher(self.ctx, logs_addr)
        self.logger = logging.getLogger("orchestration")
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False  # the runner prints its own lines; these are the swap's
        self.handlers: list[logging.Handler] = [
            CollectorHandler(self.log_sock, "runner"),
            logging.StreamHandler(sys.stderr),
        ]
        self.handlers[0].setFormatter(LineFormatter(LINE_FORMAT))
        self.handlers[1].setFormatter(logging.Formatter("paper_live: %(message)s"))
        for handler in self.handlers:
            self.logger.addHandler(handler)
        write_runner_file(folder, self.address)

    def serve_one(self, timeout_s: float, handle: Handle | None) -> None:
        """Wait up to `timeout_s` for one request, answer it (`handle` None: the run is ending)."""
        if not self.rep.poll(int(timeout_s * 1000)):
            return
        payload = self.rep.recv()
        try:
            request = decode_request(payload)
        except ConfigError as e:
            reply = SwapReply(ok=False, code=2, detail=str(e))
        else:
            if handle is None:
                reply = SwapReply(ok=False, code=1, detail="the run is stopping")
            else:
                reply = handle(request)
        self.rep.send(encode(reply))  # a REP must answer, or it can never receive again

    def close(self) -> None:
        remove_runner_file(self.folder)
        for handler in self.handlers:
            self.logger.removeHandler(handler)
        self.rep.close(linger=0)
        self.log_sock.close(linger=0)
        if self.authenticator is not None:
            self.authenticator.stop()
        self.ctx.term()
