"""The distributed engine: Dask. A local cluster sized to the machine, or the user's own.

Dask (`dask[distributed]`), not Ray: the client, scheduler and workers are
plain Python packages of a few MB that start a local cluster in about a
second, and pointing a sweep at a cluster is one address
(`--scheduler tcp://host:8786`, what `dask scheduler` prints). Ray's wheel
is ~200 MB and its runtime several processes per node, for features a sweep
of subprocesses does not use. Each worker is a process with one thread, so
each holds one run (a run is itself four processes: one per two cores).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Final

from common.errors import ConfigError

CORES_PER_RUN: Final = 2


def default_workers() -> int:
    return max(1, (os.cpu_count() or CORES_PER_RUN) // CORES_PER_RUN)


def start(scheduler: str | None, workers: int | None) -> tuple[Any, str]:
    """A connected Dask client, and one line saying where the runs go.

    Raises:
        ConfigError: Dask is not installed, or the scheduler cannot be reached.
    """
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(
            "sweeps need Dask: pip install -e '.[sweep]' (dask[distributed])"
        ) from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError) as e:
            raise ConfigError(f"--scheduler {scheduler}: cannot connect: {e}") from None
        count = len(client.scheduler_info().get("workers", {}))
        return client, f"the Dask cluster at {scheduler} ({count} workers)"
    count = workers or default_workers()
    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=count,
        threads_per_worker=1,  # one run per worker process
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = Client(cluster)  # type: ignore[no-untyped-call]
    return client, f"a local Dask cluster of {count} workers"


def stop(client: Any) -> None:
    """Close the client, and the local cluster if this command started it."""
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()
