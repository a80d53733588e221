"""Run ids and directories; log records shipped over ZeroMQ."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import zmq

from common import sockets
from common.errors import ConfigError
from common.logs import format_log_frames, setup_logging
from common.runs import check_run_id, new_run_id, run_dir
from tests.conftest import scaled


def test_run_ids_sort_by_time_and_are_unique() -> None:
    """Later runs sort after earlier ones; ids made together never collide."""
    t0 = 1_795_600_000_000_000_000
    ordered = [new_run_id(t0 + step * 1_000_000) for step in (0, 1, 1000, 86_400_000)]
    assert ordered == sorted(ordered)
    same_instant = {new_run_id(t0) for _ in range(200)}
    assert len(same_instant) == 200
    assert all(check_run_id(run_id) == run_id for run_id in same_instant)


@pytest.mark.parametrize("bad", ["..", "../escape", "a/b", "", "x" * 200, " lead"])
def test_run_id_that_could_escape_the_artifacts_dir_is_refused(bad: str) -> None:
    """A run id is a single safe folder name."""
    with pytest.raises(ConfigError):
        check_run_id(bad)


def test_run_dir_is_created_under_the_artifacts_dir(tmp_path: Path) -> None:
    """experiments/artifacts/<run_id>/ exists after run_dir."""
    path = run_dir(tmp_path / "experiments" / "artifacts", "20261125T000000.000Z-abcdef")
    assert path.is_dir()
    assert path.parent.name == "artifacts"


def test_log_records_arrive_at_the_collector_naming_their_service(
    zmq_ctx: zmq.Context, tmp_path: Path
) -> None:
    """A service's log line crosses ZeroMQ and becomes a run.log line naming it."""
    addr = f"ipc://{tmp_path}/logs"
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    with sockets.log_collector(zmq_ctx, addr) as collector:
        log_sock = setup_logging("model", zmq_ctx, addr)
        assert log_sock is not None
        try:
            line = None
            # PUB->SUB joins asynchronously: repeat the record until one arrives.
            for _ in range(int(scaled(300))):
                logging.getLogger("services.model").warning("dropped %d targets", 3)
                if collector.poll(10):
                    line = format_log_frames(collector.recv_multipart())
                    break
        finally:
            root.handlers[:] = saved[0]
            root.setLevel(saved[1])
            log_sock.close()
    assert line is not None
    assert line.startswith("[model] ")
    assert "WARNING services.model: dropped 3 targets" in line


def test_records_logged_before_the_collector_listens_still_reach_it_first(
    zmq_ctx: zmq.Context, tmp_path: Path
) -> None:
    """A service logs its model or journal line before the recorder hears it: not lost.

    (A plain PUB drops what it sends before a subscriber has joined.)
    """
    addr = f"ipc://{tmp_path}/logs"
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    log_sock = setup_logging("executor", zmq_ctx, addr)
    assert log_sock is not None
    lines: list[str] = []
    try:
        early = logging.getLogger("services.executor")
        early.info("journal restored: %d orders", 7)
        early.info("model loaded")
        with sockets.log_collector(zmq_ctx, addr) as collector:
            for n in range(int(scaled(300))):
                early.info("later line %d", n)  # repeated until the collector has joined
                while collector.poll(10):
                    line = format_log_frames(collector.recv_multipart())
                    assert line is not None
                    lines.append(line)
                if len(lines) >= 3:
                    break
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        log_sock.close()
    assert "journal restored: 7 orders" in lines[0]
    assert "model loaded" in lines[1]


def test_frames_that_are_not_log_records_are_ignored() -> None:
    """A stray frame on the log socket does not become a run.log line."""
    assert format_log_frames([b"only one frame"]) is None
    assert format_log_frames([b"", b"text"]) is None


def test_line_formatter_stamps_lines_like_the_recorder_does() -> None:
    """One timestamp format in run.log: every service's line is stamped as `utc_now_text` does.

    The once-a-second date cache changes the cost, not one character of a line.
    """
    from common.logs import LINE_FORMAT, LineFormatter, utc_now_text

    ours = LineFormatter(LINE_FORMAT)
    base = 1_764_580_000.0
    for created in (base, base + 0.0015, base + 0.9994, base + 1.0, base + 61.25, base + 0.5):
        record = logging.LogRecord(
            "services.executor", logging.WARNING, "", 0, "x %s", ("y",), None
        )
        record.created, record.msecs = created, (created - int(created)) * 1000
        stamp = utc_now_text(int(created) * 1_000_000_000 + int(record.msecs) * 1_000_000)
        assert ours.format(record) == f"{stamp} WARNING services.executor: x y"


def test_a_log_record_is_one_line_of_run_log_whatever_it_holds() -> None:
    """Newlines and terminal escapes are shown, never obeyed: no record forges another line."""
    forged = b"ok\n[executor] LiveOrderExecutor (LIVE via ccxt) ready\x1b[2K\r"
    line = format_log_frames([b"model.INFO", forged])
    assert line is not None and "\n" not in line and "\x1b" not in line and "\r" not in line
    assert line.startswith("[model] ok\\n[executor]")
    assert format_log_frames([b"not a service.INFO", b"x"]) is None
