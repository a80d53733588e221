"""A run's ipc socket folder must be this user's alone: no other user can swap a socket."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import zmq

from common import sockets
from common.addresses import claim_folder
from common.errors import ConfigError
from common.ipc_folder import _private_group, hold_private

NOBODY = 65534


def _folder(path: Path, mode: int) -> Path:
    """A new folder with exactly `mode` (mkdir's would pass through the umask)."""
    path.mkdir()
    path.chmod(mode)
    return path


def test_a_missing_folder_is_made_0700_and_held(tmp_path: Path) -> None:
    folder = tmp_path / "run" / "sockets"
    hold_private(folder)
    assert folder.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("mode", [0o722, 0o1777, 0o777])
def test_a_folder_others_may_write_in_is_refused(tmp_path: Path, mode: int) -> None:
    folder = _folder(tmp_path / "shared", mode)
    with pytest.raises(ConfigError, match="writable by other users"):
        hold_private(folder)


@pytest.mark.skipif(os.getuid() != 0, reason="only root can give a folder to another group")
def test_a_folder_a_shared_group_may_write_in_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "team"
    folder.mkdir(mode=0o700)
    os.chown(folder, -1, NOBODY)  # nogroup: not this user's own
    folder.chmod(0o770)
    with pytest.raises(ConfigError, match="writable by other users"):
        hold_private(folder)


@pytest.mark.skipif(not _private_group(os.getgid()), reason="this user has no private group")
def test_under_umask_002_a_private_group_s_folders_pass_and_new_ones_are_made_0700(
    tmp_path: Path,
) -> None:
    """Ubuntu's and Fedora's users: a cloned repo's folders are 0775, their group the user's."""
    repo = _folder(tmp_path / "repo", 0o775)
    old = os.umask(0o002)
    try:
        held = hold_private(repo / "experiments" / "sockets")
    finally:
        os.umask(old)
    assert held == (repo / "experiments" / "sockets").resolve()
    assert [(repo / p).stat().st_mode & 0o777 for p in ("experiments", "experiments/sockets")] == [
        0o700,
        0o700,
    ]


def test_a_folder_under_one_others_may_write_in_is_refused_unless_that_one_is_sticky(
    tmp_path: Path,
) -> None:
    # Anyone could rename `parent/run` away and put their own there.
    parent = _folder(tmp_path / "open", 0o777)
    with pytest.raises(ConfigError, match=f"{parent} is writable by other users"):
        hold_private(parent / "run")
    parent.chmod(0o1777)  # sticky, like /tmp: nobody may rename another's entry
    hold_private(parent / "run")


def test_a_link_in_a_folder_others_may_write_in_is_used_once_then_its_target(
    zmq_ctx: zmq.Context, tmp_path: Path
) -> None:
    """Another user could replace the link later (a reconnect would follow it): the socket
    is bound, and connected to, at the private folder the link led to when checked."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    open_folder = _folder(tmp_path / "open", 0o777)
    (open_folder / "link").symlink_to(private)
    assert hold_private(open_folder / "link") == private.resolve()
    pub = sockets.publisher(zmq_ctx, f"ipc://{open_folder}/link/ticks")
    (open_folder / "link").unlink()  # what another user could do, and point it elsewhere
    assert (private / "ticks").exists()
    pub.close()


def test_nothing_is_made_under_a_folder_others_may_write_in(tmp_path: Path) -> None:
    shared = _folder(tmp_path / "shared", 0o777)
    with pytest.raises(ConfigError, match="writable by other users"):
        claim_folder(shared / "run")
    assert list(shared.iterdir()) == []


def test_a_symlink_is_judged_by_the_folder_it_leads_to(tmp_path: Path) -> None:
    target = _folder(tmp_path / "shared", 0o777)
    link = tmp_path / "mine"
    link.symlink_to(target)
    with pytest.raises(ConfigError, match="writable by other users"):
        hold_private(link)


@pytest.mark.skipif(os.getuid() != 0, reason="only root can give a folder to another user")
def test_a_folder_another_user_owns_is_refused_even_when_closed_to_others(tmp_path: Path) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o700)
    os.chown(folder, NOBODY, NOBODY)
    with pytest.raises(ConfigError, match=f"belongs to uid {NOBODY}"):
        hold_private(folder)


def test_sockets_refuse_to_bind_or_connect_through_a_shared_folder(
    zmq_ctx: zmq.Context, tmp_path: Path
) -> None:
    shared = _folder(tmp_path / "shared", 0o777)
    with pytest.raises(ConfigError, match="writable by other users"):
        sockets.publisher(zmq_ctx, f"ipc://{shared}/ticks")
    with pytest.raises(ConfigError, match="writable by other users"):
        sockets.subscriber(zmq_ctx, f"ipc://{shared}/ticks", [b""])
    assert not (shared / "ticks").exists()


def test_an_abstract_ipc_socket_is_refused(zmq_ctx: zmq.Context) -> None:
    with pytest.raises(ConfigError, match="abstract ipc socket"):
        sockets.target_puller(zmq_ctx, "ipc://@plr-targets")
    with pytest.raises(ConfigError, match="abstract ipc socket"):
        sockets.target_pusher(zmq_ctx, "ipc://@plr-targets")


def test_the_runner_s_address_dir_is_refused_when_shared_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    shared = _folder(tmp_path / "shared", 0o757)
    with pytest.raises(ConfigError, match="writable by other users"):
        claim_folder(shared)
    assert list(shared.iterdir()) == []
