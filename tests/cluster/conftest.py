"""Fixtures of the cluster tests: the cluster from `make cluster` (never started here: `make
test-cluster` starts it), its API, and a restore step after every test that disturbs it."""

from __future__ import annotations

import os

import pytest
from cluster import (
    CLUSTER_DIR,
    CONTROL_PLANES,
    SERVERS,
    Api,
    healthy,
    node,
    pools_full,
    ready_workers,
    wait_until,
)

BASE_WORKERS = ("w1", "w2")


@pytest.fixture(scope="session")
def cluster_up():
    ok, report = healthy()
    if not ok:
        message = f"the cluster is not up and healthy (make cluster):\n{report}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def api(cluster_up):
    return Api((CLUSTER_DIR / "dev-key").read_text().strip())


def restore() -> None:
    """Every server, control plane and base worker running again, healthy, pools full."""
    for n in (*SERVERS, *CONTROL_PLANES, *BASE_WORKERS):
        node("start", n)
    wait_until(lambda: set(BASE_WORKERS) <= set(ready_workers()), 180, "base workers ready")
    wait_until(lambda: healthy()[0], 240, "cluster healthy")
    for w in BASE_WORKERS:
        wait_until(lambda w=w: pools_full(w), 240, f"{w}'s pools full")


@pytest.fixture
def restored(cluster_up):
    """For tests that break something: the cluster is whole before and after."""
    restore()
    yield
    restore()
