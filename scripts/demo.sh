#!/usr/bin/env bash
# Install the project (into .venv) and run the main job: a paper-live run over the
# bundled real recording, through the four services, with a model trained on
# first use. Extra arguments go to the runner (e.g. --speed 1, --max-ticks 5000).
EXTRAS= source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
exec .venv/bin/python -m orchestration.paper_live "$@"
