"""The sweep's plan: the spec, its combinations and keys, slices, who judges a run, the lock."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from common.config import parse_settings
from common.errors import ConfigError
from common.tickfile import TickFileReader, TickFileWriter, new_header
from orchestration.paper_live import PROG, RunnerConfig
from orchestration.sweep.combinations import Combination, TickSource, combinations, flag_args
from orchestration.sweep.command import main
from orchestration.sweep.slices import slice_bounds, tick_sources
from orchestration.sweep.spec import load_spec
from orchestration.sweep.state import RunState, claim_sweep, judge, needs_run
from tests.conftest import PROJECT_ROOT
from tests.factories import make_tick


def _recording(path: Path, n: int) -> Path:
    with TickFileWriter(path, new_header("kraken", ["BTC/USD"], "test", 0)) as writer:
        for seq in range(1, n + 1):
            writer.write(make_tick(seq=seq, bid=60_000.0 + seq, ask=60_001.0 + seq))
    return path


def _spec(tmp_path: Path, text: str) -> Path:
    (tmp_path / "a.skops").write_bytes(b"a")
    (tmp_path / "b.skops").write_bytes(b"b")
    _recording(tmp_path / "day1.ticks", 10)
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


SPEC = """
[data]
ticks = "day1.ticks"
slices = 2
[models]
checkpoints = ["a.skops", "b.skops"]
[grid]
max-position = [0.01, 0.05]
execution = ["market", "limit"]
[fixed]
max-loss = 100
margin = false
"""


def test_spec_expands_to_sources_times_checkpoints_times_grid(tmp_path: Path) -> None:
    """2 slices x 2 checkpoints x (2 x 2) grid points: 16 runs, each key and run id distinct."""
    spec = load_spec(_spec(tmp_path, SPEC))
    found = combinations(spec, tick_sources(spec, tmp_path / "slices"))
    assert len(found) == 16
    assert len({c.key for c in found}) == 16
    assert len({c.run_id for c in found}) == 16
    first = found[0]
    assert first.flags == (
        ("execution", "market"),
        ("margin", False),
        ("max-loss", 100),
        ("max-position", 0.01),
    )
    args = first.runner_args(tmp_path / "runs")
    assert args[args.index("--run-id") + 1] == first.run_id
    assert args[-6:] == ["--execution", "market", "--max-loss", "100", "--max-position", "0.01"]


def test_key_is_stable_and_changes_with_anything_that_shapes_the_run(tmp_path: Path) -> None:
    """The same spec names the same runs; another flag value, slice or checkpoint is another run."""
    spec_path = _spec(tmp_path, SPEC)
    spec = load_spec(spec_path)
    keys = [c.key for c in combinations(spec, tick_sources(spec, tmp_path / "slices"))]
    again = load_spec(spec_path)
    assert keys == [c.key for c in combinations(again, tick_sources(again, tmp_path / "slices"))]
    base = Combination(TickSource(Path("/r"), 0, 5), Path("/s"), Path("/c"), (), (("x", 1),))
    assert base.key != Combination(base.ticks, base.replay, base.checkpoint, (), (("x", 2),)).key
    assert base.key != Combination(base.ticks, base.replay, base.checkpoint, (), (("x", "1"),)).key
    assert (
        base.key
        != Combination(TickSource(Path("/r"), 5, 5), base.replay, Path("/c"), (), base.flags).key
    )
    assert base.key != Combination(base.ticks, base.replay, Path("/d"), (), base.flags).key


def test_flags_pass_through_true_as_a_switch_and_false_as_absent() -> None:
    """A flag the runner learns later needs nothing here: names and values go as written."""
    assert flag_args((("margin", True), ("quiet", False), ("latency-ms", 2.5))) == [
        "--margin",
        "--latency-ms",
        "2.5",
    ]


DATA = "[data]\nticks = 'day1.ticks'\n"
MODELS = "[models]\ncheckpoints = ['a.skops']\n"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (DATA + MODELS + "[grid]\nreplay = ['x']\n", "--replay"),
        (DATA + MODELS + "[fixed]\nno-paper-mode = true\n", "never trades live"),
        (DATA + MODELS + "[grid]\nmax-loss = []\n", "non-empty list"),
        (DATA + MODELS + "[grid]\nmax-loss = [1, 1]\n", "listed twice"),
        (DATA + MODELS + "[grid]\nmax-loss = [1]\n[fixed]\nmax-loss = 2\n", "both"),
        (DATA + "slices = 0\n" + MODELS, "positive"),
        (DATA + "slices = 2\nslice_ticks = 5\n" + MODELS, "not both"),
        (DATA + "surprise = 1\n" + MODELS, "unknown key"),
        (DATA + "[models]\ncheckpoints = ['missing.skops']\n", "does not exist"),
        ("[grid\n", "not TOML"),
    ],
)
def test_bad_spec_is_refused_naming_the_key(tmp_path: Path, text: str, names: str) -> None:
    """Each mistake is one ConfigError naming what is wrong, before anything runs."""
    with pytest.raises(ConfigError, match=names):
        load_spec(_spec(tmp_path, text))


def test_a_folder_of_recordings_stands_for_its_tick_files(tmp_path: Path) -> None:
    """`ticks = "days/"` lists every *.ticks and *.ticks.gz in it, by name."""
    days = tmp_path / "days"
    days.mkdir()
    _recording(days / "b.ticks.gz", 3)
    _recording(days / "a.ticks", 3)
    (days / "notes.txt").write_text("not ticks")
    path = _spec(tmp_path, "[data]\nticks = 'days'\n[models]\ncheckpoints = 'a.skops'\n")
    assert [p.name for p in load_spec(path).ticks] == ["a.ticks", "b.ticks.gz"]


def test_slice_bounds_cover_the_recording_in_order() -> None:
    """N slices as equal as can be, or slices of K ticks, optionally only the first few."""
    assert slice_bounds(10, slices=3, slice_ticks=None, max_slices=None) == [(0, 4), (4, 3), (7, 3)]
    assert slice_bounds(10, slices=None, slice_ticks=4, max_slices=None) == [(0, 4), (4, 4), (8, 2)]
    assert slice_bounds(10, slices=None, slice_ticks=4, max_slices=2) == [(0, 4), (4, 4)]
    assert slice_bounds(10, slices=None, slice_ticks=None, max_slices=None) == []
    with pytest.raises(ConfigError, match="only 10 ticks"):
        slice_bounds(10, slices=11, slice_ticks=None, max_slices=None)


def test_slice_files_hold_exactly_their_ticks_and_are_reused(tmp_path: Path) -> None:
    """Each slice file is the recording's header and its run of ticks; a second plan reuses it."""
    spec = load_spec(_spec(tmp_path, SPEC))
    sources = tick_sources(spec, tmp_path / "slices")
    with TickFileReader(tmp_path / "day1.ticks") as reader:
        header, ticks = reader.header, list(reader)
    for source, path in sources:
        with TickFileReader(path) as reader:
            assert reader.header == header
            assert list(reader) == ticks[source.first : source.first + (source.count or 0)]
    stamps = [path.stat().st_mtime_ns for _, path in sources]
    assert [p.stat().st_mtime_ns for _, p in tick_sources(spec, tmp_path / "slices")] == stamps


def test_judge_counts_a_run_only_when_its_result_says_completed() -> None:
    """Done needs exit 0 and a complete result; anything else is failed, with the reason."""
    whole = {"complete": True, "exit_reason": "completed"}
    assert judge(0, whole) == (RunState.DONE, "completed")
    assert judge(0, None)[0] is RunState.FAILED
    assert judge(-9, None) == (RunState.FAILED, "no result.json (runner exit -9)")
    assert judge(1, {"complete": False, "exit_reason": "interrupted"}) == (
        RunState.FAILED,
        "runner exit 1: interrupted",
    )
    assert judge(0, {"complete": False, "exit_reason": "completed"})[0] is RunState.FAILED


def test_needs_run_skips_only_a_done_run_whose_result_still_says_so() -> None:
    """Pending, running (a dead sweep's), failed, or done with its result gone: run again."""
    whole = {"complete": True, "exit_reason": "completed"}
    assert not needs_run({"state": "done"}, whole)
    assert needs_run({"state": "done"}, None)
    assert needs_run({"state": "running"}, whole)
    assert needs_run({"state": "failed"}, whole)
    assert needs_run(None, None)


def test_a_flag_the_runner_does_not_take_stops_the_sweep_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every grid point's flags are parsed as the runner parses them: exit 2, one line, no run."""
    spec = _spec(tmp_path, DATA + MODELS + "[grid]\nmax-loss = [100, -1]\n")
    assert main([str(spec), "--out", str(tmp_path / "sweep")]) == 2
    assert "--max-loss" in capsys.readouterr().err
    assert not (tmp_path / "sweep" / "runs").exists()
    assert not (tmp_path / "sweep" / "state").exists()


def test_the_example_spec_names_only_flags_the_runner_takes() -> None:
    """examples/sweep/bundled.toml's grid and fixed keys parse as runner flags."""
    raw = tomllib.loads((PROJECT_ROOT / "examples" / "sweep" / "bundled.toml").read_text())
    fixed = tuple(raw["fixed"].items())
    for flag, values in raw["grid"].items():
        for value in values:
            parse_settings(RunnerConfig, PROG, flag_args(((flag, value), *fixed)), {})


def test_a_second_sweep_on_a_held_folder_is_refused(tmp_path: Path) -> None:
    """One sweep command per folder: a second one is told who holds it."""
    lock = claim_sweep(tmp_path / "sweep")
    try:
        with pytest.raises(ConfigError, match="in use by a running sweep"):
            claim_sweep(tmp_path / "sweep")
    finally:
        lock.close()
    claim_sweep(tmp_path / "sweep").close()  # released with its holder
