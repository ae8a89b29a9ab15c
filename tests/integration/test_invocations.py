# ruff: noqa: F811 - pytest fixtures imported from cp_stack are used as arguments
"""Event-driven callers over the real Kafka, control plane, agent and gVisor sandboxes.

A private control plane (its own port) is started for the module; like every control-plane
instance it joins the consumer group throwbox-invocations, so any instance of the group may
answer a request: the tests only rely on what the contract promises.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid

import pytest
from cp_stack import Api, ControlPlane, tenant_key  # noqa: F401 - a fixture
from kafka_callers import TopicWatcher, kafka_tenant, python_run, send
from pipeline import delete_topic
from stack import KAFKA_BOOTSTRAP, REPO_DIR, require_stack

from throwbox_common import topics
from throwbox_control import kafka_tenants
from throwbox_control.invocations.consumer import invocation_run_id

pytestmark = pytest.mark.timeout(420)
REPLY_S = 150  # generous: a loaded 2-core machine, a cold sandbox, a group rebalance


def rid(prefix: str = "it") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def cp():
    require_stack("kafka", "consul", "nomad", "agent")
    c = ControlPlane(key_cache_ttl_ms=500).start()
    yield c
    c.stop()


async def test_a_function_invoked_over_kafka_replies_on_the_tenants_topic_with_its_run(cp, tenant_key):
    tenant, key = tenant_key()
    replies = await kafka_tenant(KAFKA_BOOTSTRAP, tenant)
    api = Api(cp.url, key)
    r = await api.call("PUT", "/v1/functions/add", {"language": "python", "files": [{
        "name": "main.py", "content": "import json, sys\nd = json.load(sys.stdin)\nprint(d['a'] + d['b'])\n"}]})
    assert r.status == 201, r
    request_id = rid()
    async with TopicWatcher(KAFKA_BOOTSTRAP, replies) as results:
        await send(KAFKA_BOOTSTRAP, {"request_id": request_id, "tenant": tenant, "function": "add",
                                     "input": {"a": 2, "b": 40}})
        reply = await results.reply(request_id, REPLY_S)
    result = reply["result"]
    assert reply["request_id"] == request_id
    assert result["status"] == "completed", result
    assert (result["outcome"], result["stdout"]) == ("ok", "42\n")
    assert result["id"] == invocation_run_id(tenant, request_id)
    # The tenant's run, like any other. The reply may come from another control plane of the
    # invocations group (the stack's): this one's run view follows throwbox.events on its own
    # and may show the end a moment later (the last output now rides with Finished).
    got = await api.call("GET", f"/v1/runs/{result['id']}")
    for _ in range(100):
        if got.status != 200 or got.json["status"] not in ("queued", "running"):
            break
        await asyncio.sleep(0.1)
        got = await api.call("GET", f"/v1/runs/{result['id']}")
    assert got.status == 200 and got.json["status"] == "completed" and got.json["stdout"] == "42\n"


async def test_a_request_sent_again_yields_the_same_run_and_the_same_result(cp, tenant_key):
    tenant, _ = tenant_key()
    replies = await kafka_tenant(KAFKA_BOOTSTRAP, tenant)
    request_id = rid()
    # A fresh random token per run: a second run would print a different one.
    req = {"request_id": request_id, "tenant": tenant,
           "run": python_run("import uuid, time\ntime.sleep(1)\nprint(uuid.uuid4())")}
    run_id = invocation_run_id(tenant, request_id)
    async with TopicWatcher(KAFKA_BOOTSTRAP, replies) as results, \
            TopicWatcher(KAFKA_BOOTSTRAP, topics.EVENTS) as events:
        await send(KAFKA_BOOTSTRAP, req, req)   # a producer retry: the same request twice at once
        first, second = await results.wait(request_id, REPLY_S, count=2)
        await send(KAFKA_BOOTSTRAP, req)        # and once more after it finished
        third = (await results.wait(request_id, REPLY_S, count=3))[2]
        submitted = [json.loads(r.value) for r in events.records[run_id.encode()]]
    answers = [json.loads(r.value)["result"] for r in (first, second, third)]
    assert answers[0]["status"] == "completed", answers[0]
    assert {a["id"] for a in answers} == {run_id}
    assert len({a["stdout"] for a in answers}) == 1, answers
    assert [e["type"] for e in submitted].count("submitted") == 1, submitted


async def test_bad_requests_get_failed_results_with_the_contract_error_codes(cp, tenant_key):
    tenant, _ = tenant_key()
    replies = await kafka_tenant(KAFKA_BOOTSTRAP, tenant)
    cases = {
        rid("json"): ((None, b"{this is not json"), "invalid_request"),
        # A record names another tenant than its topic's: never acted on as that tenant.
        rid("tenant"): ({"tenant": f"another-tenant-{uuid.uuid4().hex[:8]}", "run": python_run("print(1)")},
                        "unauthorized"),
        rid("fn"): ({"tenant": tenant, "function": "does-not-exist", "input": 1}, "not_found"),
        rid("fname"): ({"tenant": tenant, "function": "Bad_Name!", "input": 1}, "not_found"),
        rid("file"): ({"tenant": tenant, "run": {"language": "python",
                                                 "files": [{"name": "../escape.py", "content": "print(1)"}]}},
                      "invalid_request"),
        rid("runtime"): ({"tenant": tenant, "run": {"language": "intercal", "files": [{"name": "a", "content": "x"}]}},
                         "unknown_runtime"),
        rid("field"): ({"tenant": tenant, "run": python_run("print(1)"), "priority": "high"}, "invalid_request"),
        rid("limits"): ({"tenant": tenant, "run": python_run("print(1)", limits={"memory_mb": 10**9})},
                        "invalid_request"),
        rid("both"): ({"tenant": tenant, "function": "f", "run": python_run("print(1)")}, "invalid_request"),
        rid("reply"): ({"tenant": tenant, "run": python_run("print(1)"), "reply_to": topics.EVENTS},
                       "invalid_request"),
        rid("other-replies"): ({"run": python_run("print(1)"), "reply_to": topics.RESULTS_PREFIX + "someone-else"},
                               "invalid_request"),
    }
    records = []
    for request_id, (body, _) in cases.items():
        if isinstance(body, tuple):
            records.append((request_id.encode(), body[1]))  # unreadable value: the key is the request_id
        else:
            records.append({"request_id": request_id, **body})
    async with TopicWatcher(KAFKA_BOOTSTRAP, replies) as results:
        await send(KAFKA_BOOTSTRAP, *records, tenant=tenant)
        answers = {r: await results.reply(r, REPLY_S) for r in cases}
    for request_id, (_, code) in cases.items():
        result = answers[request_id]["result"]
        assert answers[request_id]["request_id"] == request_id
        assert result["status"] == "failed", (request_id, result)
        assert result["error"]["code"] == code, (request_id, result["error"])
        assert result["error"]["message"]


async def test_unreadable_records_go_to_the_dead_letter_topic_and_the_consumer_keeps_serving(cp, tenant_key):
    tenant, _ = tenant_key()
    replies = await kafka_tenant(KAFKA_BOOTSTRAP, tenant)
    garbage = b"\x00\xffnot json at all " + uuid.uuid4().hex.encode()
    no_id = json.dumps({"tenant": tenant, "run": python_run("print(1)"), "note": uuid.uuid4().hex}).encode()
    after = rid()
    async with TopicWatcher(KAFKA_BOOTSTRAP, topics.DLQ) as dlq, \
            TopicWatcher(KAFKA_BOOTSTRAP, replies) as results:
        await send(KAFKA_BOOTSTRAP, (None, garbage), (None, no_id),
                   {"request_id": after, "tenant": tenant, "run": python_run("print('still here')")}, tenant=tenant)
        dead = await dlq.wait(None, REPLY_S, count=2)
        reply = await results.reply(after, REPLY_S)
    values = {r.value for r in dlq.records[None]}
    assert garbage in values and no_id in values   # the original bytes, unchanged
    for rec in dead:
        headers = dict(rec.headers)
        assert headers["throwbox-dlq-reason"], headers
        assert headers["throwbox-dlq-source"].startswith((topics.INVOCATIONS_PREFIX + tenant).encode() + b"/")
    assert reply["result"]["status"] == "completed" and reply["result"]["stdout"] == "still here\n"


async def test_a_reply_whose_topic_is_gone_is_dead_lettered_with_the_reason(cp, tenant_key):
    tenant, _ = tenant_key()
    replies = await kafka_tenant(KAFKA_BOOTSTRAP, tenant)
    await delete_topic(KAFKA_BOOTSTRAP, replies)     # as when the tenant's Kafka access is revoked mid-request
    request_id = rid()
    async with TopicWatcher(KAFKA_BOOTSTRAP, topics.DLQ) as dlq:
        await send(KAFKA_BOOTSTRAP, {"request_id": request_id, "run": python_run("print(7)")}, tenant=tenant)
        rec = (await dlq.wait(request_id, REPLY_S))[0]
    assert replies.encode() in dict(rec.headers)["throwbox-dlq-reason"]
    assert json.loads(rec.value)["result"]["stdout"] == "7\n"   # the reply itself is kept


async def test_a_tenant_over_its_quota_waits_and_every_request_still_completes(cp, tenant_key):
    tenant, _ = tenant_key(max_concurrent=1)
    replies = await kafka_tenant(KAFKA_BOOTSTRAP, tenant)
    ids = [rid("quota") for _ in range(3)]
    async with TopicWatcher(KAFKA_BOOTSTRAP, replies) as results:
        await send(KAFKA_BOOTSTRAP, *({"request_id": r, "tenant": tenant,
                                       "run": python_run("import time\ntime.sleep(1.5)\nprint('done')")}
                                      for r in ids))
        replies = [await results.reply(r, 3 * REPLY_S) for r in ids]
    runs = sorted((r["result"] for r in replies), key=lambda r: r["created_at"])
    assert [r["status"] for r in runs] == ["completed"] * 3, runs
    # max_concurrent = 1: each run was admitted only after the one before it had finished
    for before, after in zip(runs, runs[1:], strict=False):
        assert after["created_at"] >= before["finished_at"], (before, after)


async def test_the_documented_example_caller_runs_against_the_stack(cp, tenant_key, tmp_path, monkeypatch):
    tenant, _ = tenant_key()
    # As the operator hands a tenant its Kafka credentials (`throwbox keys kafka`).
    monkeypatch.setenv("THROWBOX_KAFKA_BOOTSTRAP", KAFKA_BOOTSTRAP)
    credentials = tmp_path / "tenant.properties"
    await asyncio.to_thread(kafka_tenants.grant, tenant, credentials)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO_DIR / "docs" / "examples" / "kafka_caller.py"),
        "--bootstrap", KAFKA_BOOTSTRAP, "--credentials", str(credentials), "--tenant", tenant,
        "--python", "print('hello from kafka')", "--timeout-s", str(REPLY_S),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), REPLY_S + 30)
    assert proc.returncode == 0, (out, err)
    reply = json.loads(out)
    assert reply["result"]["stdout"] == "hello from kafka\n"


async def test_a_run_or_a_function_invoked_over_kafka_takes_tests(cp, tenant_key):
    tenant, key = tenant_key()
    replies = await kafka_tenant(KAFKA_BOOTSTRAP, tenant)
    api = Api(cp.url, key)
    r = await api.call("PUT", "/v1/functions/double", {"language": "python", "files": [{
        "name": "main.py", "content": "print(2 * int(input()))\n"}]})
    assert r.status == 201, r
    by_function, by_run = rid(), rid()
    async with TopicWatcher(KAFKA_BOOTSTRAP, replies) as results:
        await send(KAFKA_BOOTSTRAP,
                   {"request_id": by_function, "tenant": tenant, "function": "double",
                    "tests": [{"stdin": "2", "expected_stdout": "4"}, {"stdin": "3", "expected_stdout": "7"}]},
                   {"request_id": by_run, "tenant": tenant, "run": python_run(
                       "print(input())", tests=[{"stdin": "a", "expected_stdout": "a"}], compare="tokens")})
        function_result = (await results.reply(by_function, REPLY_S))["result"]
        run_result = (await results.reply(by_run, REPLY_S))["result"]
    assert [t["verdict"] for t in function_result["tests"]] == ["accepted", "wrong_answer"], function_result
    assert function_result["summary"]["verdict"] == "wrong_answer"
    assert [t["verdict"] for t in run_result["tests"]] == ["accepted"], run_result
