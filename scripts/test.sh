#!/usr/bin/env bash
# Install what the tests need (into .venv); lint, type-check common/, run the whole suite.
EXTRAS=test source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
.venv/bin/mypy --no-error-summary
exec .venv/bin/python -m pytest "$@"
