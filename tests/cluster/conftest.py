"""Fixtures of the cluster tests: the cluster from `make cluster` (never started here: `make
test-cluster` starts it), its API, and a restore step after every test that disturbs it."""

from __future__ import annotations

import os
import subprocess

import pytest
from cluster import (
    CLUSTER_DIR,
    CONTROL_PLANES,
    REPO_DIR,
    SECRETS,
    SERVERS,
    Api,
    healthy,
    ip,
    make_eligible,
    node,
    pools_full,
    ready_workers,
    script,
    up_workers,
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


@pytest.fixture(scope="session")
def burst_api(cluster_up):
    """A tenant whose quota admits a burst beyond the dev tenant's 20 concurrent runs."""
    out = subprocess.run([str(REPO_DIR / ".venv/bin/throwbox"), "keys", "create", "--tenant", "burst",
                          "--max-concurrent", "200", "--runs-per-minute", "1000"], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "THROWBOX_CONSUL_ADDR": f"http://{ip('s1')}:8500",
                                          "THROWBOX_CONSUL_TOKEN_FILE": str(SECRETS / "consul-control-plane.token")})
    assert out.returncode == 0, out.stderr
    return Api(out.stdout.strip().splitlines()[-1])


def restore() -> None:
    """Every server, control plane and base worker running again, healthy, pools full."""
    for n in (*SERVERS, *CONTROL_PLANES, *BASE_WORKERS):
        node("start", n)
    for extra in set(up_workers()) - set(BASE_WORKERS):   # one an autoscaler test left
        script("worker.sh", "remove", extra)
    for w in set(BASE_WORKERS) & set(up_workers()) - set(ready_workers()):   # a drain a failed test left
        make_eligible(w)
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
