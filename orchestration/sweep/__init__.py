"""Sweeps: many ordinary runs at once, on Dask, then one comparison (docs/SWEEPS.md).

`python -m orchestration.sweep SPEC` expands a spec (tick files or slices of
them x checkpoints x a grid of runner flags) into combinations; each one is
an ordinary `orchestration.paper_live` run with its own run id and folder,
executed as a subprocess on a Dask worker. A state file per combination
makes the sweep resumable; `table.py` and `plot.py` compare the runs.
"""
