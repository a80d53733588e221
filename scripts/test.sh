#!/usr/bin/env bash
# Install what the tests need (into .venv) and run the whole suite.
EXTRAS=test source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
exec .venv/bin/python -m pytest "$@"
