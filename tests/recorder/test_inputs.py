"""The recorder's data inputs: one SUB per address, so a probe must come through each."""

from __future__ import annotations

from pathlib import Path

from services.recorder.__main__ import data_inputs
from services.recorder.recorder_config import RecorderConfig


def test_one_predictions_address_is_one_input_and_several_are_one_each(tmp_path: Path) -> None:
    """Two model processes' predictions addresses give two inputs, each waited on for a probe."""
    env = {"PLR_RUN_DIR": str(tmp_path / "run-1")}
    one = RecorderConfig.from_args([], env)
    assert list(data_inputs(one)) == ["ticks", "predictions", "events"]
    addresses = f"ipc://{tmp_path}/a,ipc://{tmp_path}/b"
    two = RecorderConfig.from_args(["--predictions", addresses], env)
    assert data_inputs(two) == {
        "ticks": two.ticks,
        f"predictions ipc://{tmp_path}/a": f"ipc://{tmp_path}/a",
        f"predictions ipc://{tmp_path}/b": f"ipc://{tmp_path}/b",
        "events": two.events,
    }
