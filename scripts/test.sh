#!/usr/bin/env bash
# Install what the tests need (into .venv); lint, type-check common/, run the whole suite.
EXTRAS=test source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
.venv/bin/mypy --no-error-summary
# -n 3: three test processes (pytest-xdist); `scripts/test.sh -n 0 tests/...` runs in one.
exec .venv/bin/python -m pytest -n 3 "$@"
