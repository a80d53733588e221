"""`.env.example`, the Procfile's environment under honcho, is a run every service accepts."""

from __future__ import annotations

from honcho.environ import parse

from orchestration.paper_live import SERVICE_CONFIGS
from tests.conftest import PROJECT_ROOT


def test_every_service_accepts_the_env_example_and_stays_after_its_eos() -> None:
    """Each service's config builds from it; finished services wait (honcho stops all at once)."""
    environ = parse((PROJECT_ROOT / ".env.example").read_text())
    # A fresh run per `honcho start` (tests/common/test_launcher.py); outside honcho, any name.
    assert environ["PLR_RUN_DIR"].endswith("/{launch}")
    environ["PLR_RUN_DIR"] = environ["PLR_RUN_DIR"].replace("{launch}", "a-run")
    configs = {name: cls.from_args([], environ) for name, cls in SERVICE_CONFIGS.items()}
    assert all(config.stay_after_eos for config in configs.values())
    assert configs["model"].ckpt.name == "bundled.skops"  # what the demo trains on first use
