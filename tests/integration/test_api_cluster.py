# ruff: noqa: F811 - pytest fixtures imported from cp_stack are used as arguments
"""Several control-plane instances behind one address, and restarts: Kafka is the record."""

from __future__ import annotations

import asyncio

import pytest
from cp_stack import Api, ControlPlane, control_plane, tenant_key  # noqa: F401 - fixtures

pytestmark = pytest.mark.timeout(240)
WAIT_FOR_STDIN = "import sys\nprint(sys.stdin.read())\n"


async def test_a_run_submitted_on_one_instance_is_followed_on_another(control_plane, tenant_key):
    _, key = tenant_key()
    with ControlPlane() as other:
        a, b = Api(control_plane.url, key), Api(other.url, key)
        run_id = (await a.submit(WAIT_FOR_STDIN, interactive=True)).json["id"]
        seen_on_b = await b.call("GET", f"/v1/runs/{run_id}")  # at once: B waits for its view to catch up
        assert seen_on_b.status == 200 and seen_on_b.json["id"] == run_id
        follower = asyncio.create_task(b.sse(f"/v1/runs/{run_id}/events"))
        await asyncio.sleep(0.3)
        assert (await b.call("DELETE", f"/v1/runs/{run_id}")).status == 202  # cancel on B
        events_b = await asyncio.wait_for(follower, 30)
        events_a = await a.sse(f"/v1/runs/{run_id}/events")
    assert events_b[-1][1]["result"]["status"] == "cancelled"
    assert events_a == events_b  # same seq numbers and content on both instances


async def test_runs_outlive_a_control_plane_restart(tenant_key):
    _, key = tenant_key()
    with ControlPlane() as cp:
        api = Api(cp.url, key)
        run_id = (await api.submit(WAIT_FOR_STDIN, interactive=True)).json["id"]
        await api.call("DELETE", f"/v1/runs/{run_id}")
        before = await api.sse(f"/v1/runs/{run_id}/events")
        result_before = (await api.call("GET", f"/v1/runs/{run_id}")).json
    with ControlPlane() as cp:
        api = Api(cp.url, key)
        after = await api.sse(f"/v1/runs/{run_id}/events")
        result_after = (await api.call("GET", f"/v1/runs/{run_id}")).json
    assert after == before
    assert result_after == result_before and result_after["status"] == "cancelled"


async def test_an_idempotency_key_holds_across_instances(control_plane, tenant_key):
    _, key = tenant_key()
    with ControlPlane() as other:
        first = await Api(control_plane.url, key).submit(idempotency_key="across")
        second = await Api(other.url, key).submit(idempotency_key="across")
    assert first.json["id"] == second.json["id"]
