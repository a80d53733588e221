"""The live dashboard in a real headless Chromium, during a paced replay of the four services.

The page loads from the recorder, updates by itself while ticks flow, ends
showing the same PnL and fill count as the recorder's result.json, and says
STALE once the recorder is gone. With PLR_REFRESH_SCREENSHOT=1 the test also
saves the page mid-run as docs/dashboard.png (and the page's hash beside it):
run it so whenever the page changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import urllib.request
from pathlib import Path

from services.recorder.dashboard import PAGE
from tests.browser import headless_chromium, wait_for
from tests.conftest import BUNDLED, PROJECT_ROOT, free_ports, scaled, wait_until
from tests.processes import services

SERVICES = ("recorder", "model", "executor", "feed")
SCREENSHOT = PROJECT_ROOT / "docs" / "dashboard.png"
SCREENSHOT_PAGE_HASH = PROJECT_ROOT / "docs" / "dashboard.png.page-sha256"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=scaled(2)) as answer:
            return answer.status == 200
    except OSError:
        return False


def _number(browser, element_id: str) -> float:
    text = browser.execute_script(f"return document.getElementById('{element_id}').textContent")
    return float(text.replace(",", "")) if text not in ("–", "") else float("nan")


def test_dashboard_updates_during_a_run_and_ends_on_the_recorders_figures(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    """Loads, says live, its tick count grows by itself; at the end its PnL and fills equal
    result.json's and it says the run ended; with the recorder gone it says STALE."""
    port = free_ports()
    run_dir = tmp_path / "run-dashboard"
    env = {
        **os.environ,
        "PLR_RUN_DIR": str(run_dir),
        "PLR_CKPT": str(trained_checkpoint),
        "PLR_EXPECT": "model,executor,recorder",
        "PLR_STAY_AFTER_EOS": "1",
        "PLR_DASHBOARD_PORT": str(port),
        "PLR_REPLAY": str(BUNDLED),
        "PLR_SPEED": "4",  # ~600 ticks/s: the page is watched while ticks flow
        "PLR_MAX_TICKS": "9000",
        "PLR_LOSSLESS": "1",
        "PLR_VENUE": "binance",
        "PLR_SYMBOLS": "BTC/USDT",
    }
    url = f"http://127.0.0.1:{port}/"
    with services(tmp_path) as group, headless_chromium() as browser:
        for name in SERVICES:
            group.start(name, f"services.{name}", [], env)
        wait_until(lambda: _answers(url + "api/state"), 60, "the dashboard")
        browser.get(url)
        wait_for(
            browser,
            "return document.getElementById('freshness').className === 'fresh'",
            60,
            "the page to say the run is live",
        )
        assert not (run_dir / "result.json").exists(), "the run ended before it was watched"
        ticks = _number(browser, "ticks")
        wait_until(lambda: _number(browser, "ticks") > ticks, 30, "the page's tick count to grow")
        if os.environ.get("PLR_REFRESH_SCREENSHOT") == "1":
            wait_until(lambda: _number(browser, "fills") > 0, 30, "a fill to show")
            browser.save_screenshot(str(SCREENSHOT))
            SCREENSHOT_PAGE_HASH.write_text(hashlib.sha256(PAGE.read_bytes()).hexdigest() + "\n")
        wait_until((run_dir / "result.json").exists, 120, "result.json")
        result = json.loads((run_dir / "result.json").read_text())
        wait_for(
            browser,
            "return document.getElementById('freshness').className === 'ended'",
            30,
            "the page to say the run ended",
        )
        assert _number(browser, "fills") == result["counts"]["fills"] > 0
        assert _number(browser, "pnl-total") == round(result["pnl"]["total"], 2)
        assert _number(browser, "ticks") == result["counts"]["ticks"]
        for name in SERVICES:
            group.procs[name].send_signal(signal.SIGTERM)
        for name in SERVICES:
            assert group.wait(name, 30) == 0, group.output(name)
        wait_for(
            browser,
            "return document.getElementById('freshness').className === 'stale'",
            30,
            "the page to say STALE once the recorder is gone",
        )
        assert _number(browser, "fills") == result["counts"]["fills"]  # the last figures stay


def test_the_screenshot_in_docs_shows_the_current_page() -> None:
    """docs/dashboard.png was taken of this very page (refresh: PLR_REFRESH_SCREENSHOT=1
    pytest tests/integration/test_dashboard.py)."""
    assert SCREENSHOT.stat().st_size > 10_000
    recorded = SCREENSHOT_PAGE_HASH.read_text().strip()
    assert recorded == hashlib.sha256(PAGE.read_bytes()).hexdigest(), (
        "the dashboard page changed since docs/dashboard.png was taken: refresh it"
    )
