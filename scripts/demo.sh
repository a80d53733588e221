#!/usr/bin/env bash
# Install the project (into .venv) and run the main job on the bundled recording.
# Until the executor and recorder exist: summarise the recording, train the model
# on it (first run only) and run that model over it, as the live path would.
EXTRAS= source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
TICKS=data/binance_btcusdt_spot_2024-08-08_10min.ticks.gz
MODEL=experiments/models/bundled.pkl
.venv/bin/python -m services.recorder.summary "$TICKS"
if [ ! -f "$MODEL" ]; then
    .venv/bin/python -m services.model.train --ticks "$TICKS" --out "$MODEL"
fi
.venv/bin/python -m services.model.offline --ckpt "$MODEL" --ticks "$TICKS" \
    --out experiments/models/bundled.predictions.jsonl
