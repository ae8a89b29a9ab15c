"""`make bench` section `pools`: warm pools that follow demand vs fixed pools of the same total.

One workload, run twice against a private agent: a language mix that changes every phase (one
runtime receives most arrivals, then the next one does). Fixed pools split the total evenly
(THROWBOX_AGENT_POOL_SIZES, no burst); demand pools keep a floor of one each and give the rest
of the same total as a burst to the runtimes whose recent arrivals need it (pool_sizing.py).
A run "waited for a cold sandbox" when the agent found no idle one for it: the agent's
throwbox_agent_cold_starts_total counter, cross-checked by the run's own timings.sandbox_ms.
The ratio demand/fixed of runs that waited is the result (lower is better).
"""

from __future__ import annotations

import asyncio
import random
import re
import time

import infra
from workloads import Api, hello_request, percentiles

LANGUAGES = ("python", "javascript", "ruby")
TOTAL = 6                    # warm sandboxes in both modes
RATE_PER_S = 1.2             # arrivals per second, open loop
HOT_SHARE = 0.8              # of the arrivals in a phase go to that phase's runtime
WINDOW_S = 15                # the demand pools' arrival window (THROWBOX_AGENT_POOL_WINDOW_S)
WAITED_SANDBOX_MS = 100      # timings.sandbox_ms at or above this: the run waited for a sandbox


def fixed_pools(keys: list[str]) -> str:
    """By runtime key: a language name would cover every version of it (docs/settings.md)."""
    each = TOTAL // len(keys)
    return ",".join(f"{key}={each}" for key in keys) + ",*=0"


def demand_pools(keys: list[str]) -> str:
    return ",".join(f"{key}=1" for key in keys) + ",*=0"


def schedule(phase_s: float, seed: int) -> list[tuple[float, str]]:
    """(offset s, language) arrivals: one phase per language, that language hot in it. The same
    seed gives both modes the same arrivals."""
    rnd = random.Random(seed)
    out, t = [], 0.0
    for i, hot in enumerate(LANGUAGES):
        end = (i + 1) * phase_s
        while True:
            t += rnd.expovariate(RATE_PER_S)
            if t >= end:
                t = end
                break
            cold = [lang for lang in LANGUAGES if lang != hot]
            out.append((t, hot if rnd.random() < HOT_SHARE else rnd.choice(cold)))
    return out


def cold_starts(agent: infra.Agent) -> dict[str, float]:
    status, body = infra.http("GET", f"http://127.0.0.1:{agent.port}/metrics", timeout_s=5)
    text = body if isinstance(body, str) else ""
    out = {}
    for m in re.finditer(r'^throwbox_agent_cold_starts_total\{runtime="([^"]+)"\} ([0-9.e+]+)$', text, re.M):
        out[m.group(1)] = float(m.group(2))
    return out


async def one_mode(api: Api, agent: infra.Agent, registry, arrivals) -> dict:
    bodies = {lang: hello_request(registry.resolve(lang)) for lang in LANGUAGES}
    before = cold_starts(agent)
    t0 = time.monotonic()
    sizes_seen: list[dict] = []

    async def submit(offset: float, lang: str):
        await asyncio.sleep(max(0.0, t0 + offset - time.monotonic()))
        return lang, await api.run(bodies[lang])

    async def watch_sizes():
        while True:
            pools = await asyncio.to_thread(agent.pools)
            sizes_seen.append({"t_s": round(time.monotonic() - t0, 1),
                               **{k: v.get("size") for k, v in pools.items() if v.get("size")}})
            await asyncio.sleep(2)

    watcher = asyncio.create_task(watch_sizes())
    try:
        replies = await asyncio.gather(*(submit(o, lang) for o, lang in arrivals))
    finally:
        watcher.cancel()
    after = cold_starts(agent)
    done = [(lang, r) for lang, r in replies if r.status == 200 and (r.body or {}).get("status") == "completed"]
    waited = [r for _, r in done if r.body["timings"]["sandbox_ms"] >= WAITED_SANDBOX_MS]
    cold_by_runtime = {k: int(after.get(k, 0) - before.get(k, 0)) for k in after}
    return {"runs": len(replies), "completed": len(done), "cold_starts": sum(cold_by_runtime.values()),
            "cold_starts_by_runtime": cold_by_runtime, "waited_by_timings": len(waited),
            "e2e_ms": percentiles([r.e2e_ms for _, r in done]),
            "sandbox_ms": percentiles([r.body["timings"]["sandbox_ms"] for _, r in done]),
            "pool_sizes_over_time": sizes_seen}


async def measure(bench, quick: bool) -> dict:
    """Both modes back to back on the same arrivals; bench is run.Bench (its CP, key, agents)."""
    phase_s = 25.0 if quick else 60.0
    arrivals = schedule(phase_s, seed=7)
    keys = [bench.registry.resolve(lang).key for lang in LANGUAGES]
    modes = {"fixed": (fixed_pools(keys), {"THROWBOX_AGENT_POOL_BURST": "0"}),
             "demand": (demand_pools(keys), {"THROWBOX_AGENT_POOL_BURST": str(TOTAL - len(LANGUAGES)),
                                         "THROWBOX_AGENT_POOL_WINDOW_S": str(WINDOW_S)})}
    out = {"languages": list(LANGUAGES), "total_warm": TOTAL, "rate_per_s": RATE_PER_S, "hot_share": HOT_SHARE,
           "phase_s": phase_s, "arrivals": len(arrivals)}
    for mode, (pools, env) in modes.items():
        agent = bench.ensure_agent(pools, env)
        infra.log(f"  {mode} pools ({pools}, {env}): {len(arrivals)} arrivals over {phase_s * len(LANGUAGES):.0f} s")
        out[mode] = await one_mode(bench.api, agent, bench.registry, arrivals)
        infra.log(f"  {mode}: {out[mode]['cold_starts']} cold starts, {out[mode]['waited_by_timings']} waited"
                  f" (timings), e2e p50 {out[mode]['e2e_ms'].get('p50')} ms")
        bench.stop_agent()
    fixed_cold = out["fixed"]["cold_starts"]
    out["cold_ratio_demand_vs_fixed"] = round(out["demand"]["cold_starts"] / fixed_cold, 3) if fixed_cold else None
    return out


def markdown(s: dict) -> list[str]:
    f, d = s["fixed"], s["demand"]
    return [
        "", "## Warm pools that follow demand (`pools`)", "",
        f"{s['arrivals']} runs of {', '.join(s['languages'])} at {s['rate_per_s']} runs/s (open loop), in "
        f"{len(s['languages'])} phases of {s['phase_s']:.0f} s, each with {s['hot_share']:.0%} of its arrivals "
        f"going to one runtime; {s['total_warm']} warm sandboxes in both modes (fixed: split evenly; demand: one "
        "each plus the rest as a burst). Same arrivals, back to back, one private agent each. "
        "Command: `make bench ARGS='--only pools'`.", "",
        "| pools | runs completed | waited for a cold sandbox (agent) | waited (timings.sandbox_ms ≥ 100) "
        "| e2e p50 / p95 ms |",
        "|---|---|---|---|---|",
        f"| fixed | {f['completed']}/{f['runs']} | {f['cold_starts']} | {f['waited_by_timings']} | "
        f"{f['e2e_ms'].get('p50')} / {f['e2e_ms'].get('p95')} |",
        f"| demand | {d['completed']}/{d['runs']} | {d['cold_starts']} | {d['waited_by_timings']} | "
        f"{d['e2e_ms'].get('p50')} / {d['e2e_ms'].get('p95')} |", "",
        f"Ratio of runs that waited, demand / fixed: **{s['cold_ratio_demand_vs_fixed']}** "
        f"(run {s.get('run_id')}, load {s.get('loadavg_before')}).", "",
    ]
