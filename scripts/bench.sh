#!/usr/bin/env bash
# Install what the benchmarks need (into .venv: the test extras for psutil, the bench
# extra for scikit-learn) and run them all in one go; arguments go to `python -m bench`
# (--smoke: tiny inputs, --peer: also NautilusTrader in its own venv, --out FILE).
EXTRAS=test,bench source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
exec .venv/bin/python -m bench "$@"
