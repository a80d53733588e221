"""Training: a checkpoint, a pin and a card; too little data is a clear error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from common.tickfile import TickFileReader, TickFileWriter
from services.model.checkpoint import sha256_of
from tests.conftest import PROJECT_ROOT
from tests.model.conftest import BUNDLED


def test_training_writes_checkpoint_sidecar_and_card(trained_checkpoint: Path) -> None:
    """The card names features, horizon, span and honest out-of-sample figures."""
    sidecar = trained_checkpoint.with_name(trained_checkpoint.name + ".sha256")
    assert sidecar.read_text().split()[0] == sha256_of(trained_checkpoint)
    card = json.loads(
        trained_checkpoint.with_name(trained_checkpoint.name + ".card.json").read_text()
    )
    assert card["model_id"] == sha256_of(trained_checkpoint)
    assert len(card["features"]) == 7
    assert card["horizon_ticks"] == 50
    assert card["data"]["ticks"] == 85_175
    split = card["split"]
    assert split["by"] == "time" and split["train_rows"] > split["test_rows"] > 0
    for sample in ("in_sample", "out_of_sample"):
        assert -1.0 < card[sample]["r2"] < 1.0
        assert 0.0 <= card[sample]["hit_rate"] <= 1.0


def test_too_short_a_tick_file_is_exit_2_with_one_line(tmp_path: Path) -> None:
    """A few hundred ticks cannot train a model; the error says how many rows there were."""
    short = tmp_path / "short.ticks"
    with TickFileReader(BUNDLED) as reader, TickFileWriter(short, reader.header) as writer:
        for tick in reader:
            if tick.seq > 300:
                break
            writer.write(tick)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.model.train",
            "--ticks",
            str(short),
            "--out",
            str(tmp_path / "m.pkl"),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "usable rows, need at least" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m.pkl").exists()
