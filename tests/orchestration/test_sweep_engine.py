"""The engine: a sweep given a scheduler's address submits to that cluster, not a new one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dask.distributed import LocalCluster

from orchestration.sweep import engine


@pytest.fixture
def users_cluster() -> Iterator[LocalCluster]:
    """A cluster that exists before the sweep (in this process: threads, no worker processes)."""
    cluster = LocalCluster(n_workers=1, processes=False, dashboard_address=None)
    yield cluster
    cluster.close()


def test_scheduler_address_submits_to_that_cluster(users_cluster: LocalCluster) -> None:
    """Tasks run on the given cluster's workers, and stopping the sweep leaves the cluster up."""
    client, where = engine.start(users_cluster.scheduler_address, None)
    try:
        assert users_cluster.scheduler_address in where and "1 workers" in where
        assert client.submit(sum, [1, 2, 3]).result(timeout=30) == 6
        assert client.scheduler_info()["id"] == users_cluster.scheduler_info["id"]
    finally:
        engine.stop(client)
    assert users_cluster.status.name == "running"
