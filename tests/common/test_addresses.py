"""The run's socket addresses: one type, one folder per run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from common.addresses import (
    DEFAULT_ADDRESSES,
    DEFAULT_FOLDER,
    SOCKET_NAMES,
    Addresses,
    claim_folder,
)
from common.errors import ConfigError
from tests.conftest import PROJECT_ROOT


def test_in_folder_names_all_seven_sockets_as_ipc_files(tmp_path: Path) -> None:
    """Progress included: a forgotten socket would fall back to a default port."""
    environ = Addresses.in_folder(tmp_path).environ()
    assert sorted(environ) == sorted(f"PLR_{name.upper()}_ADDR" for name in SOCKET_NAMES)
    assert all(address.startswith(f"ipc://{tmp_path}/") for address in environ.values())


def test_claim_creates_the_folder_private_and_refuses_a_second_claim(tmp_path: Path) -> None:
    """A new folder is made 0700; while one run holds it another is refused; then it is free."""
    folder = tmp_path / "new" / "run"
    with claim_folder(folder):
        assert folder.stat().st_mode & 0o777 == 0o700
        with pytest.raises(ConfigError, match="in use by a running run"):
            claim_folder(folder)
    claim_folder(folder).close()


def test_env_example_lists_every_socket_in_one_private_folder() -> None:
    """`.env.example` (honcho) and `Addresses` cannot drift apart."""
    lines = (PROJECT_ROOT / ".env.example").read_text().splitlines()
    listed = dict(
        line.split("=", 1) for line in lines if line.startswith("PLR_") and "_ADDR=" in line
    )
    assert listed == Addresses.in_folder(Path("experiments/sockets")).environ()


def test_the_default_addresses_are_files_in_this_users_own_folder() -> None:
    """A service started alone never listens on a port anyone on the machine can reach."""
    assert DEFAULT_ADDRESSES == Addresses.in_folder(DEFAULT_FOLDER)
    assert str(os.getuid()) in DEFAULT_FOLDER.name
