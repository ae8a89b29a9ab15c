"""The overload section: a multi-tenant burst against admission bounded by measured capacity.

Six tenants send 50 bash runs each at once (the issue's scenario, on the default 30 s queue
timeout) to a private control plane whose only capacity is a private agent with one warm bash
sandbox. Twice: first on the agent's prior start rate, then again once it has measured its rate
under the first burst's backlog. Per burst: the bound and start rate admission decided on, runs
accepted and refused, accepted runs that then failed (target 0), the time to the first and last
503, and the spread of completions across tenants.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections import Counter

import aiohttp
from infra import Agent, ControlPlane, create_key, drop_tenant, http, log, wait_until

TENANTS = 6
RUNS_EACH = 50
BURST = {"language": "bash", "files": [{"name": "main.sh", "content": "echo hi"}]}
FINAL = ("completed", "failed", "cancelled")


def _bash_capacity(cp: ControlPlane) -> dict | None:
    status, body = http("GET", cp.url + "/readyz")
    if status not in (200, 503) or not isinstance(body, dict):
        return None
    cap = body.get("capacity") or {}
    return next((v for k, v in cap.get("runtimes", {}).items() if k.startswith("bash-")), None)


async def _burst(cp: ControlPlane, keys: dict[str, str]) -> dict:
    before = _bash_capacity(cp) or {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=TENANTS * RUNS_EACH)) as s:
        for key in keys.values():   # clients in steady state: their keys are cached
            async with s.get(cp.url + "/v1/runtimes", headers={"Authorization": f"Bearer {key}"}):
                pass
        t0 = time.monotonic()

        async def one(tenant: str):
            async with s.post(cp.url + "/v1/runs", json=BURST,
                              headers={"Authorization": f"Bearer {keys[tenant]}"}) as r:
                body = await r.json()
                return tenant, r.status, body, r.headers.get("Retry-After"), time.monotonic() - t0

        answers = await asyncio.gather(*[one(t) for _ in range(RUNS_EACH) for t in keys])
        refused_at = sorted(a[4] for a in answers if a[1] == 503)
        accepted = [(t, b["id"]) for t, status, b, _, _ in answers if status == 202]

        async def final(tenant: str, run_id: str) -> dict:
            while True:
                async with s.get(f"{cp.url}/v1/runs/{run_id}",
                                 headers={"Authorization": f"Bearer {keys[tenant]}"}) as r:
                    b = await r.json()
                if b["status"] in FINAL:
                    return {"tenant": tenant, **b}
                await asyncio.sleep(0.5)

        results = await asyncio.wait_for(asyncio.gather(*[final(t, rid) for t, rid in accepted]), 300)
        drained_s = time.monotonic() - t0
    completed = Counter(r["tenant"] for r in results if r["status"] == "completed")
    per_tenant = [completed.get(t, 0) for t in keys]
    return {
        "bound_before": before.get("queued_max"), "start_rate_before_per_s": before.get("start_rate_per_s"),
        "requests": len(answers), "accepted": len(accepted),
        "refused_503": sum(1 for a in answers if a[1] == 503),
        "other_statuses": dict(Counter(a[1] for a in answers if a[1] not in (202, 503))),
        "retry_after_values": sorted({int(a[3]) for a in answers if a[3]}),
        "first_503_s": round(refused_at[0], 3) if refused_at else None,
        "last_503_s": round(refused_at[-1], 3) if refused_at else None,
        "accepted_then_failed": sum(1 for r in results if r["status"] != "completed"),
        "failed_codes": dict(Counter((r.get("error") or {}).get("code") for r in results if r["status"] != "completed")),
        "completed_per_tenant": per_tenant,
        "completion_spread": max(per_tenant) - min(per_tenant),
        "completion_mean": round(statistics.mean(per_tenant), 2),
        "drained_s": round(drained_s, 1),
        "runs_per_s_while_draining": round(len(results) / drained_s, 2) if drained_s else None,
        "bound_after": (_bash_capacity(cp) or {}).get("queued_max"),
        "start_rate_after_per_s": (_bash_capacity(cp) or {}).get("start_rate_per_s"),
    }


async def burst(results_dir, quick: bool) -> dict:
    agent = Agent(results_dir, "bash=1,*=0").start()
    tenants = {f"bench-burst-{uuid.uuid4().hex[:6]}-{i}": None for i in range(TENANTS)}
    keys = {t: create_key(t) for t in tenants}
    cp = ControlPlane(results_dir, {"key_cache_ttl_ms": 600_000}).start()
    out: dict = {"tenants": TENANTS, "runs_each": RUNS_EACH, "queue_timeout_ms": 30_000}
    try:
        wait_until(lambda: _bash_capacity(cp) is not None, 30, "the control plane sees the agent", 0.2)
        for name in (("prior",) if quick else ("prior", "measured")):
            out[name] = await _burst(cp, keys)
            log(f"  burst ({name}): {out[name]}")
    finally:
        cp.stop()
        agent.stop()
        for t, k in keys.items():
            drop_tenant(k, t)
    return out
