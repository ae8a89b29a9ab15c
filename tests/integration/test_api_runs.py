# ruff: noqa: F811 - pytest fixtures imported from cp_stack are used as arguments
"""Runs through the real Kafka and Consul: submission, jobs on throwbox.runs, cancel,
idempotency, tenant isolation and admission (these need no executor agent)."""

from __future__ import annotations

import asyncio
import json
import time

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer
from cp_stack import Api, ControlPlane, control_plane, tenant_key  # noqa: F401 - fixtures
from stack import KAFKA_BOOTSTRAP, require_stack

from throwbox_common import kafka_client, topics
from throwbox_common.messages import run_job_decoder

pytestmark = pytest.mark.timeout(180)
WAIT_FOR_STDIN = "import sys\nprint(sys.stdin.read())\n"  # an interactive run stays open


class TopicTail:
    """Reads a topic from its current end, every partition, no consumer group."""

    def __init__(self, topic: str):
        self.topic = topic

    async def __aenter__(self) -> TopicTail:
        self.consumer = AIOKafkaConsumer(self.topic, **kafka_client.options(KAFKA_BOOTSTRAP), group_id=None,
                                         enable_auto_commit=False, fetch_max_wait_ms=50,
                                         auto_offset_reset="latest")
        await self.consumer.start()
        deadline = time.monotonic() + 10
        while not self.consumer.assignment():  # without a group every partition is assigned to us
            assert time.monotonic() < deadline, f"no partitions of {self.topic}"
            await asyncio.sleep(0.05)
        parts = list(self.consumer.assignment())
        await self.consumer.seek_to_end(*parts)
        for tp in parts:
            await self.consumer.position(tp)  # resolve the end now, before the test writes
        return self

    async def __aexit__(self, *exc) -> None:
        await self.consumer.stop()

    async def record_for(self, key: str, timeout_s: float = 15):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batches = await self.consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for r in records:
                    if r.key == key.encode():
                        return r
        raise AssertionError(f"no record with key {key} on {self.topic} within {timeout_s}s")


async def wait_status(api: Api, run_id: str, statuses: set[str], timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = await api.call("GET", f"/v1/runs/{run_id}")
        assert r.status == 200, r
        if r.json["status"] in statuses:
            return r.json
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} not in {statuses} after {timeout_s}s")


async def test_a_submitted_run_is_202_with_links_and_its_job_reaches_throwbox_runs(control_plane, tenant_key):
    require_stack("kafka")
    tenant, key = tenant_key()
    api = Api(control_plane.url, key)
    async with TopicTail(topics.RUNS) as tail:
        reply = await api.submit("print(1)", args=["a"], env={"K": "V"}, stdin="in",
                                 limits={"wall_time_ms": 5000})
        assert reply.status == 202, reply
        body = reply.json
        run_id = body["id"]
        assert body["status"] == "queued"
        assert body["links"] == {"self": f"/v1/runs/{run_id}", "events": f"/v1/runs/{run_id}/events",
                                 "ws": f"/v1/runs/{run_id}/ws"}
        record = await tail.record_for(run_id)
    job = run_job_decoder.decode(record.value)
    assert (job.run_id, job.tenant, job.language, job.entrypoint) == (run_id, tenant, "python", "main.py")
    assert job.files[0].content == b"print(1)"
    assert (job.args, job.env, job.stdin) == (["a"], {"K": "V"}, b"in")
    assert job.limits.wall_time_ms == 5000 and job.start_deadline_ms > job.created_at_ms
    view = await api.call("GET", f"/v1/runs/{run_id}")
    assert view.status == 200 and view.json["id"] == run_id
    assert view.json["status"] in ("queued", "running", "completed", "failed")


async def test_the_submitted_record_precedes_the_job_and_names_the_tenant(control_plane, tenant_key):
    tenant, key = tenant_key()
    api = Api(control_plane.url, key)
    async with TopicTail(topics.EVENTS) as tail:
        run_id = (await api.submit()).json["id"]
        record = await tail.record_for(run_id)
    first = json.loads(record.value)
    assert first["type"] == "submitted" and first["tenant"] == tenant


async def test_another_tenants_run_is_404_everywhere(control_plane, tenant_key):
    owner = Api(control_plane.url, tenant_key()[1])
    other = Api(control_plane.url, tenant_key()[1])
    run_id = (await owner.submit(WAIT_FOR_STDIN, interactive=True)).json["id"]
    try:
        for method, path in (("GET", ""), ("DELETE", ""), ("GET", "/events")):
            r = await other.call(method, f"/v1/runs/{run_id}{path}")
            assert (r.status, r.error_code) == (404, "not_found"), (method, path, r)
        ws = await other.call("GET", f"/v1/runs/{run_id}/ws")
        assert (ws.status, ws.error_code) == (404, "not_found")
        assert (await owner.call("GET", f"/v1/runs/{run_id}")).status == 200
    finally:
        await owner.call("DELETE", f"/v1/runs/{run_id}")


async def test_cancel_is_202_and_the_run_ends_cancelled(control_plane, tenant_key):
    api = Api(control_plane.url, tenant_key()[1])
    run_id = (await api.submit(WAIT_FOR_STDIN, interactive=True)).json["id"]
    async with TopicTail(topics.CONTROL) as tail:
        reply = await api.call("DELETE", f"/v1/runs/{run_id}")
        assert reply.status == 202 and reply.json["id"] == run_id
        cancel = json.loads((await tail.record_for(run_id)).value)
    assert cancel == {"type": "cancel", "run_id": run_id}
    result = await wait_status(api, run_id, {"cancelled"})
    assert result["outcome"] is None and result["finished_at"] is not None
    events = await api.sse(f"/v1/runs/{run_id}/events")
    assert events[-1][1]["type"] == "result" and events[-1][1]["result"]["status"] == "cancelled"
    assert [seq for seq, _ in events] == list(range(1, len(events) + 1))
    assert (await api.call("DELETE", f"/v1/runs/{run_id}")).status == 202  # cancelling again is harmless


async def test_wait_true_answers_202_with_links_after_the_wait_cap(control_plane, tenant_key):
    api = Api(control_plane.url, tenant_key()[1])
    started = time.monotonic()
    reply = await api.call("POST", "/v1/runs?wait=true",
                           {"language": "python", "interactive": True,
                            "files": [{"name": "main.py", "content": WAIT_FOR_STDIN}]})
    elapsed = time.monotonic() - started
    assert reply.status == 202, reply
    assert 2.5 <= elapsed < 20  # the test instance's wait cap is 3 s
    assert reply.json["links"]["self"] == f"/v1/runs/{reply.json['id']}"
    await api.call("DELETE", f"/v1/runs/{reply.json['id']}")


async def test_the_same_idempotency_key_gives_the_same_run_only_within_one_tenant(control_plane, tenant_key):
    a = Api(control_plane.url, tenant_key()[1])
    b = Api(control_plane.url, tenant_key()[1])
    first = await a.submit(idempotency_key="order-17")
    again = await a.submit(idempotency_key="order-17")
    other = await b.submit(idempotency_key="order-17")
    assert first.status == again.status == other.status == 202
    assert first.json["id"] == again.json["id"]
    assert other.json["id"] != first.json["id"]
    assert (await a.submit(idempotency_key="order-18")).json["id"] != first.json["id"]


async def test_concurrent_requests_with_one_idempotency_key_make_one_run(control_plane, tenant_key):
    api = Api(control_plane.url, tenant_key(max_concurrent=20)[1])
    replies = await asyncio.gather(*(api.submit(idempotency_key="burst") for _ in range(6)))
    assert {r.status for r in replies} == {202}
    assert len({r.json["id"] for r in replies}) == 1


async def test_a_tenant_at_max_concurrent_gets_429_quota_exceeded_until_a_run_ends(control_plane, tenant_key):
    api = Api(control_plane.url, tenant_key(max_concurrent=1)[1])
    first = await api.submit(WAIT_FOR_STDIN, interactive=True)
    assert first.status == 202, first
    refused = await api.submit()
    assert (refused.status, refused.error_code) == (429, "quota_exceeded")
    assert int(refused.headers["Retry-After"]) >= 1
    await api.call("DELETE", f"/v1/runs/{first.json['id']}")
    await wait_status(api, first.json["id"], {"cancelled", "completed", "failed"})
    deadline = time.monotonic() + 15
    while True:  # the slot is released when the Finished record is seen
        again = await api.submit(WAIT_FOR_STDIN, interactive=True)
        if again.status == 202:
            await api.call("DELETE", f"/v1/runs/{again.json['id']}")
            return
        assert again.error_code == "quota_exceeded" and time.monotonic() < deadline, again
        await asyncio.sleep(0.2)


async def test_a_tenant_over_its_runs_per_minute_gets_429_rate_limited(control_plane, tenant_key):
    api = Api(control_plane.url, tenant_key(runs_per_minute=2, max_concurrent=50)[1])
    ids = []
    for _ in range(2):
        r = await api.submit(WAIT_FOR_STDIN, interactive=True)
        assert r.status == 202, r
        ids.append(r.json["id"])
    limited = await api.submit()
    assert (limited.status, limited.error_code) == (429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    for run_id in ids:
        await api.call("DELETE", f"/v1/runs/{run_id}")


async def test_quotas_hold_across_two_instances(control_plane, tenant_key):
    _, key = tenant_key(max_concurrent=1)
    with ControlPlane(wait_cap_ms=3000) as other:
        a, b = Api(control_plane.url, key), Api(other.url, key)
        first = await a.submit(WAIT_FOR_STDIN, interactive=True)
        assert first.status == 202
        refused = await b.submit()
        assert (refused.status, refused.error_code) == (429, "quota_exceeded")
        await a.call("DELETE", f"/v1/runs/{first.json['id']}")


async def test_the_global_active_cap_answers_503_overloaded(tenant_key):
    api_key = tenant_key(max_concurrent=50)[1]
    with ControlPlane(max_active_runs=1) as cp:
        api = Api(cp.url, api_key)
        replies = [await api.submit(WAIT_FOR_STDIN, interactive=True) for _ in range(2)]
        refused = [r for r in replies if r.status == 503]
        assert refused, replies
        assert refused[0].error_code == "overloaded" and int(refused[0].headers["Retry-After"]) >= 1
        for r in replies:
            if r.status == 202:
                await api.call("DELETE", f"/v1/runs/{r.json['id']}")


async def test_a_run_result_matches_the_contract_fields(control_plane, tenant_key):
    api = Api(control_plane.url, tenant_key()[1])
    run_id = (await api.submit(WAIT_FOR_STDIN, interactive=True)).json["id"]
    await api.call("DELETE", f"/v1/runs/{run_id}")
    result = await wait_status(api, run_id, {"cancelled", "completed", "failed"})
    expected = {"id", "language", "version", "status", "outcome", "exit_code", "signal", "stdout", "stderr",
                "stdout_truncated", "stderr_truncated", "compile", "usage", "timings", "error",
                "created_at", "finished_at"}
    assert expected <= set(result)
    assert set(result["usage"]) >= {"wall_ms", "cpu_ms", "memory_peak_bytes"}
    assert set(result["timings"]) >= {"queued_ms", "sandbox_ms", "run_ms", "total_ms"}
    msgspec.json.decode(json.dumps(result).encode())
