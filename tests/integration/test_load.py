# ruff: noqa: F811 - pytest fixtures imported from cp_stack are used as arguments
"""A bounded load test on loopback: several tenants, one of them flooding.

At most LOAD_S seconds of load against a private control plane (the real agent, Kafka, Consul
and gVisor behind it). The abusive tenant fires requests back to back from many connections;
the others submit one run a second each. Then every accepted run must end with a result
(nothing accepted is lost), the flood must have been refused with 429 (its quota), no answer
may be a 5xx other than 503, and every other tenant must have had runs admitted and completed.
The counts are printed (run with -s to see them).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import pytest
from cp_stack import Api, ControlPlane, tenant_key  # noqa: F401 - fixtures
from kafka_callers import python_run
from stack import require_stack

pytestmark = pytest.mark.timeout(600)
LOAD_S = 25
NORMAL_TENANTS = 3
FLOOD_CONNECTIONS = 8
RESULT_S = 300
FINAL = ("completed", "failed", "cancelled")


@pytest.fixture(scope="module")
def cp():
    require_stack("docker", "kafka", "consul", "nomad", "agent")
    c = ControlPlane(key_cache_ttl_ms=500).start()
    yield c
    c.stop()


class Tally:
    def __init__(self):
        self.answers: Counter[str] = Counter()   # "202", "429 quota_exceeded", ...
        self.accepted: list[str] = []
        self.unexpected: list[str] = []

    def record(self, status: int, body: dict | None) -> None:
        code = (body or {}).get("error", {}).get("code") if status >= 400 else None
        self.answers[f"{status} {code}" if code else str(status)] += 1
        if status == 202:
            self.accepted.append(body["id"])
        elif (status, code) not in ((429, "quota_exceeded"), (429, "rate_limited"), (503, "overloaded")):
            self.unexpected.append(f"{status} {body}")


async def submit(session: aiohttp.ClientSession, cp: ControlPlane, key: str, tally: Tally, code: str) -> None:
    try:
        async with session.post(f"{cp.url}/v1/runs", json=python_run(code),
                                headers={"Authorization": f"Bearer {key}"}) as r:
            body = await r.json(content_type=None)
            tally.record(r.status, body)
    except (aiohttp.ClientError, TimeoutError) as e:
        tally.unexpected.append(f"no answer: {e!r}")


async def test_a_flooding_tenant_is_refused_while_the_others_keep_being_served_and_nothing_accepted_is_lost(
        cp, tenant_key):
    normal = [tenant_key(max_concurrent=4, runs_per_minute=600) for _ in range(NORMAL_TENANTS)]
    abuser = tenant_key(max_concurrent=4, runs_per_minute=120)
    tallies = {t: Tally() for t, _ in normal + [abuser]}
    end = time.monotonic() + LOAD_S
    timeout = aiohttp.ClientTimeout(total=60)

    async def polite(tenant: str, key: str) -> None:
        async with aiohttp.ClientSession(timeout=timeout) as s:
            while time.monotonic() < end:
                await submit(s, cp, key, tallies[tenant], f"print('{tenant}')")
                await asyncio.sleep(1)

    async def flood(tenant: str, key: str) -> None:
        async with aiohttp.ClientSession(timeout=timeout) as s:
            while time.monotonic() < end:
                await submit(s, cp, key, tallies[tenant], "print('flood')")

    started = time.monotonic()
    await asyncio.gather(*(polite(t, k) for t, k in normal), *(flood(*abuser) for _ in range(FLOOD_CONNECTIONS)))
    load_s = time.monotonic() - started

    # Nothing accepted is lost: every accepted run of every tenant ends with a result.
    results: dict[str, Counter[str]] = {}
    for tenant, key in normal + [abuser]:
        api = Api(cp.url, key)
        ends: Counter[str] = Counter()
        deadline = time.monotonic() + RESULT_S
        for rid in tallies[tenant].accepted:
            while True:
                r = await api.call("GET", f"/v1/runs/{rid}", timeout_s=30)
                assert r.status == 200, r
                if r.json["status"] in FINAL:
                    ends[r.json["status"] + ("" if r.json["status"] != "failed" else f" {r.json['error']['code']}")] += 1
                    break
                assert time.monotonic() < deadline, f"run {rid} of {tenant} has no result after {RESULT_S}s"
                await asyncio.sleep(0.5)
        results[tenant] = ends

    print(f"\nload: {load_s:.1f}s, {NORMAL_TENANTS} polite tenants + 1 flooding over {FLOOD_CONNECTIONS} connections")
    for tenant, _ in normal + [abuser]:
        t = tallies[tenant]
        role = "flood " if tenant == abuser[0] else "polite"
        print(f"  {role} {tenant}: {sum(t.answers.values())} requests, accepted {len(t.accepted)}, "
              f"rejected 429 {t.answers['429 quota_exceeded'] + t.answers['429 rate_limited']}, "
              f"rejected 503 {t.answers['503 overloaded']}, results {dict(results[tenant])}")

    assert load_s <= LOAD_S + 15   # bounded: the last requests were sent before the deadline
    for t in tallies.values():
        assert not t.unexpected, t.unexpected[:5]
    flood_tally = tallies[abuser[0]]
    assert flood_tally.answers["429 quota_exceeded"] + flood_tally.answers["429 rate_limited"] > 0
    for tenant, _ in normal:
        assert len(tallies[tenant].accepted) >= 5, (tenant, tallies[tenant].answers)
        assert results[tenant]["completed"] >= 3, (tenant, results[tenant])
