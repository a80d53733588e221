#!/usr/bin/env bash
# Install the project (into .venv) and run the main job on the bundled recording.
EXTRAS= source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
exec .venv/bin/python -m services.recorder.summary data/binance_btcusdt_spot_2024-08-08_10min.ticks.gz "$@"
