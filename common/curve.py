"""CURVE on every tcp socket: per-deployment keys and an allow-list of client keys.

An ipc socket is protected by its folder (0700) and file (0600); a tcp port is
reachable by every user of the machine, and by other hosts with
`--allow-remote`. So every tcp socket of a run is a CURVE socket: the binding
end is a CURVE server holding the deployment's server key, every connecting
end a CURVE client holding a client key, and a ZAP authenticator in each
process that binds lets in only the client public keys found in the keys
folder's `authorized/` (an allow-list). A peer without an authorized key never
gets a message through; each refused handshake is counted.

Keys folder (`python -m common.curve DIR` writes one, 0700, secret files 0600):

    server.key, server.key_secret    the deployment's server key pair
    client.key, client.key_secret    the run's client key pair
    authorized/client.key            the client public keys allowed in

Copy the whole folder to each host of a deployment (ARCHITECTURE.md,
"Deployment across hosts"); a host given only `authorized/` and `server.key`
cannot bind. A secret file readable by others is refused.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from common.errors import ConfigError

AUTHORIZED: Final = "authorized"


@dataclass(frozen=True)
class CurveKeys:
    """A deployment's keys as loaded from its folder."""

    server_public: bytes
    server_secret: bytes
    client_public: bytes
    client_secret: bytes
    authorized: Path  # folder of allowed client public keys


def load_keys(folder: Path) -> CurveKeys:
    """Read a keys folder; one-line `ConfigError` naming what is missing or unsafe."""
    for name in ("server.key_secret", "client.key_secret"):
        path = folder / name
        if not path.is_file():
            raise ConfigError(f"--curve-keys {folder}: no {name} (python -m common.curve DIR)")
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"--curve-keys: {path} is readable by other users (chmod 600)")
    if not (folder / AUTHORIZED).is_dir():
        raise ConfigError(f"--curve-keys {folder}: no {AUTHORIZED}/ folder of client keys")
    try:
        server_public, server_secret = zmq.auth.load_certificate(folder / "server.key_secret")
        client_public, client_secret = zmq.auth.load_certificate(folder / "client.key_secret")
    except (OSError, ValueError) as e:
        raise ConfigError(f"--curve-keys {folder}: unreadable key ({e})") from None
    if server_secret is None or client_secret is None:
        raise ConfigError(f"--curve-keys {folder}: a key_secret file holds no secret key")
    return CurveKeys(
        server_public, server_secret, client_public, client_secret, folder / AUTHORIZED
    )


def create_keys(folder: Path) -> None:
    """Write a new keys folder (refuses to overwrite one)."""
    if folder.exists() and any(folder.iterdir()):
        raise ConfigError(f"{folder} is not empty; keys are never overwritten")
    old_umask = os.umask(0o077)  # every file and folder private from the start
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        zmq.auth.create_certificates(folder, "server")
        zmq.auth.create_certificates(folder, "client")
        (folder / AUTHORIZED).mkdir(mode=0o700)
        shutil.copy(folder / "client.key", folder / AUTHORIZED / "client.key")
    finally:
        os.umask(old_umask)


class CountingAuthenticator(ThreadAuthenticator):
    """pyzmq's ZAP authenticator (in its own thread), counting the handshakes it refuses."""

    denied = 0

    def _send_zap_reply(
        self,
        request_id: bytes,
        status_code: bytes,
        status_text: bytes,
        user_id: str = "anonymous",
    ) -> None:
        if status_code != b"200":
            self.denied += 1  # only the ZAP thread writes it
        super()._send_zap_reply(request_id, status_code, status_text, user_id)


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) != 1:
        print("usage: python -m common.curve DIR", file=sys.stderr)
        return 2
    try:
        create_keys(Path(args[0]))
    except ConfigError as e:
        print(f"curve: {e}", file=sys.stderr)
        return 2
    print(f"curve: keys written to {args[0]} (copy the folder to every host of the deployment)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
