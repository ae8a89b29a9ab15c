"""Capacity: sustained single-use runs/s against the machine's raw sandbox creation rate,
host CPU per run, and the control plane's admission rate on one core (and past capacity)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import aiohttp
import infra
from aiokafka import AIOKafkaProducer
from dockerio import SANDBOX_OCI, Docker
from infra import (
    CONSUL,
    KAFKA_BOOTSTRAP,
    Agent,
    ControlPlane,
    SyntheticCapacity,
    host_cpu_s,
    http,
    kafka_pid,
    log,
    pid_file,
    pids_by_cmd,
    proc_cpu_s,
    shared_service_pids,
)
from workloads import Api, hello_request, percentiles

from throwbox_agent.container_starts import ALLOC_LABEL, started_alloc
from throwbox_agent.docker_api import DockerClient
from throwbox_agent.nomad_api import NomadClient
from throwbox_common import kafka_client, topics
from throwbox_common.aio import cancel_and_wait
from throwbox_common.runtimes import Registry

BENCH_DIR = Path(__file__).resolve().parent


# ---------------------------------------------------------------- raw creation rate

async def raw_creation(image: str, quick: bool) -> dict:
    """W workers, each: create + start a sandbox-like runsc container, then remove it (a
    single-use sandbox is destroyed too). Rate = containers started per second."""
    docker = Docker()
    sweep = {}
    try:
        for workers in ((2, 4) if quick else (1, 2, 4, 8)):
            duration = 6 if quick else 15
            started: list[float] = []
            stop_at = time.monotonic() + duration

            async def worker(stop_at=stop_at, started=started):
                while time.monotonic() < stop_at:
                    t0 = time.perf_counter()
                    cid = await docker.run_detached(image, SANDBOX_OCI)
                    started.append((time.perf_counter() - t0) * 1000)
                    await docker.remove(cid)
            t0 = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(workers)))
            elapsed = time.monotonic() - t0
            sweep[workers] = {"per_s": round(len(started) / elapsed, 2), "create_start_ms": percentiles(started)}
            log(f"  raw creation, {workers} workers: {sweep[workers]['per_s']}/s")
    finally:
        await docker.close()
    best = max(sweep, key=lambda w: sweep[w]["per_s"])
    return {"sweep": {str(k): v for k, v in sweep.items()}, "best_workers": best, "best_per_s": sweep[best]["per_s"]}


# ---------------------------------------------------------------- sustained throughput + CPU per run

def _component_pids(agent: Agent, cp: ControlPlane) -> dict[str, list[int]]:
    comps = shared_service_pids()
    comps["agent (private)"] = [agent.pid()]
    comps["control plane (private)"] = [cp.proc.pid]
    comps["kafka (private)"] = [p for p in [kafka_pid()] if p]
    comps["bench client"] = [os.getpid()]
    return comps


def _cpu_of(comps: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(proc_cpu_s(p) or 0.0 for p in pids) for name, pids in comps.items()}


async def throughput(api: Api, agent: Agent, cp: ControlPlane, registry: Registry, quick: bool,
                     clients: int) -> dict:
    py = registry.resolve("python")
    body = hello_request(py)
    warmup_s, window_s = (5, 15) if quick else (10, 40)
    # Idle baseline: what the host burns with nothing running (shared stack idling, other tenants).
    await asyncio.to_thread(infra.wait_until, lambda: agent.full(py.key), 240, "a full pool")
    await asyncio.sleep(2)
    b0 = host_cpu_s()[0]
    baseline_s = 5 if quick else 10
    await asyncio.sleep(baseline_s)
    b1 = host_cpu_s()[0]
    baseline_cores = (b1 - b0) / baseline_s

    done: list = []
    stop = False

    async def client():
        while not stop:
            r = await api.run(body)
            done.append((time.monotonic(), r))

    comps = _component_pids(agent, cp)
    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    await asyncio.sleep(warmup_s)
    cpu0, host0, n0 = _cpu_of(comps), host_cpu_s()[0], len(done)
    await asyncio.sleep(window_s)
    cpu1, host1, n1 = _cpu_of(comps), host_cpu_s()[0], len(done)
    stop = True
    await asyncio.gather(*tasks, return_exceptions=True)
    window = [r for t, r in done[n0:n1]]
    good = [r for r in window if r.status == 200 and r.body.get("status") == "completed"]
    user_cpu_s = sum(r.body["usage"]["cpu_ms"] for r in good) / 1000
    busy = host1 - host0
    per_comp = {k: round((cpu1[k] - cpu0[k]) / max(len(good), 1) * 1000, 1) for k in cpu0}
    listed = sum(cpu1[k] - cpu0[k] for k in cpu0)
    outside = busy - baseline_cores * window_s - user_cpu_s
    return {
        "clients": clients, "pool": agent.pools().get(py.key, {}).get("size"),
        "window_s": window_s, "completed": len(good), "failed": len(window) - len(good),
        "runs_per_s": round(len(good) / window_s, 2),
        "e2e_ms": percentiles([r.e2e_ms for r in good]),
        "timings": {f: percentiles([float(r.body["timings"][f]) for r in good])
                    for f in ("queued_ms", "sandbox_ms", "run_ms", "total_ms")},
        "cpu": {
            "host_busy_cores": round(busy / window_s, 2), "idle_baseline_cores": round(baseline_cores, 2),
            "user_program_ms_per_run": round(user_cpu_s / max(len(good), 1) * 1000, 1),
            "outside_program_ms_per_run": round(outside / max(len(good), 1) * 1000, 1),
            "by_component_ms_per_run": per_comp,
            # Per-sandbox processes (containerd shims, runsc sandbox + gofer: gone after each run),
            # the kernel and anything unlisted: host busy minus the listed processes and baseline.
            "unlisted_ms_per_run": round((busy - listed - baseline_cores * window_s) / max(len(good), 1) * 1000, 1),
        },
    }


# ---------------------------------------------------------------- refill rate (no runs)

async def refill(agent: Agent, registry: Registry, quick: bool) -> dict:
    """The pool's refill rate without runs: every sandbox of the (full) pool is killed through
    Docker as soon as its container runs, as the agent destroys a sandbox after a run; the agent
    sees it end (Nomad's allocation events) and creates the next one, so pool-size creations are
    always under way. Rate = new sandboxes whose task started in the window (Nomad's own task
    timestamps), per second: comparable to the raw creation rate, with no program, Kafka or
    control plane in it. (After a run the agent creates the successor at once; here it learns
    of the end from Nomad, later, which does not matter while pool-size creations keep the
    host's cores busy.)

    The harness follows Docker's start events (the moment the agent could hand the sandbox to
    a waiting run, up to 200 ms before the Nomad client reports it running); it makes no Nomad
    call, so Nomad's CPU in the table is the platform's own."""
    py = registry.resolve("python")
    await asyncio.to_thread(infra.wait_until, lambda: agent.full(py.key), 240, "a full pool")
    job = agent.pools()[py.key]["job"]
    window_s = 15 if quick else 30
    comps = {k: v for k, v in shared_service_pids().items() if k in ("nomad", "dockerd", "containerd")}
    comps["agent (private)"] = [agent.pid()]
    nomad, docker = NomadClient(infra.NOMAD), DockerClient()
    await nomad.start()
    await docker.start()
    live, _ = await nomad.live_allocs([job])
    stops = [asyncio.create_task(docker.kill(f"sandbox-{a.id}")) for a in live]   # the full pool, at once
    stopped = {a.id for a in live}
    opened = asyncio.Event()

    async def follow() -> None:
        filters = {"type": ["container"], "event": ["start"], "label": [ALLOC_LABEL]}
        async for event in docker.events(filters, int(time.time()) - 1, on_open=opened.set):
            alloc = started_alloc(event, {job})
            if alloc and alloc not in stopped:
                stopped.add(alloc)
                stops.append(asyncio.create_task(docker.kill(f"sandbox-{alloc}")))
    follower = asyncio.create_task(follow())
    try:
        await asyncio.wait_for(opened.wait(), 10)
        cpu0, host0 = _cpu_of(comps), host_cpu_s()[0]
        t0 = time.time()
        await asyncio.sleep(window_s)
        t1 = time.time()
        cpu1, host1 = _cpu_of(comps), host_cpu_s()[0]
    finally:
        await cancel_and_wait(follower)
        await asyncio.gather(*stops, return_exceptions=True)
        await docker.close()
        await nomad.close()
    allocs = infra.sandbox_allocs(job)
    started = []
    for a in allocs:
        events = ((a.get("TaskStates") or {}).get("sandbox") or {}).get("Events") or []
        started += [e["Time"] / 1e9 for e in events if e.get("Type") == "Started"]
    n = sum(1 for t in started if t0 <= t <= t1)
    per = max(n, 1)
    return {"pool": agent.pools().get(py.key, {}).get("size"), "window_s": round(t1 - t0, 1),
            "replacements_started": n, "per_s": round(n / (t1 - t0), 2),
            "host_busy_cores": round((host1 - host0) / (t1 - t0), 2),
            "by_component_ms_per_refill": {k: round((cpu1[k] - cpu0[k]) / per * 1000, 1) for k in cpu0},
            "allocs_kept_by_nomad": len(allocs or [])}


# ---------------------------------------------------------------- admission

def _wrk(url: str, key: str, connections: int, duration_s: int, cpus: str = "0") -> dict:
    env = {**os.environ, "TB_KEY": key}
    cmd = ["taskset", "-c", cpus, "wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", "--timeout", "10s",
           "-s", str(BENCH_DIR / "wrk_runs.lua"), url + "/v1/runs"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=duration_s + 60)
    m = re.search(r"^WRKJSON (.*)$", out.stdout, re.M)
    if not m:
        raise RuntimeError(f"wrk: {out.stdout[-1000:]} {out.stderr[-1000:]}")
    return json.loads(m.group(1))


def _queued(cp: ControlPlane) -> int | None:
    status, text = http("GET", cp.url + "/metrics")
    if status != 200 or not isinstance(text, str):
        return None
    m = re.search(r"^throwbox_runs_queued(?:\{[^}]*\})? ([0-9.e+]+)$", text, re.M)
    return int(float(m.group(1))) if m else None


def _pin(pid: int | None, cpus: str) -> None:
    if pid:
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], capture_output=True)


async def dependency_floors(n: int) -> dict:
    """What one admission waits for at least: a Consul KV check-and-set (a Raft write, as the
    admission counters do per batch) and a Kafka produce with acks=all (as the submission does)."""
    key = f"throwbox/bench-probe/{uuid.uuid4().hex[:8]}"
    cas, produce = [], []
    async with aiohttp.ClientSession() as s:
        index = 0
        for i in range(n):
            t0 = time.perf_counter()
            async with s.put(f"{CONSUL}/v1/kv/{key}?cas={index}", data=str(i).encode()) as r:
                ok = await r.text()
            cas.append((time.perf_counter() - t0) * 1000)
            async with s.get(f"{CONSUL}/v1/kv/{key}") as r:
                index = (await r.json())[0]["ModifyIndex"] if ok.strip() == "true" else index
        async with s.delete(f"{CONSUL}/v1/kv/{key}"):
            pass
    producer = AIOKafkaProducer(**kafka_client.options(KAFKA_BOOTSTRAP), acks="all", linger_ms=0)
    await producer.start()
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            await producer.send_and_wait(topics.DLQ, b"{}", key=b"bench-probe")
            produce.append((time.perf_counter() - t0) * 1000)
    finally:
        await producer.stop()
    return {"consul_cas_ms": percentiles(cas), "kafka_produce_acks_all_ms": percentiles(produce)}


async def admission(results_dir: Path, key: str, quick: bool) -> dict:
    """A private control plane pinned to CPU 1, wrk pinned to CPU 0 (so is the private broker,
    for the duration); no agent consumes the bench's runs topic, so every accepted run stays
    queued. A synthetic capacity registration lifts the queue bound to the fixed outer limit:
    this section measures the request path, the overload section measures the bound."""
    duration = 5 if quick else 15
    out: dict = {"cpu_count": os.cpu_count(), "dependency_floors": await dependency_floors(30 if quick else 100)}
    log(f"  dependency floors: {out['dependency_floors']}")
    _pin(kafka_pid(), "0")
    try:
        with SyntheticCapacity():
            await _admission_levels(results_dir, key, quick, duration, out)
    finally:
        _pin(kafka_pid(), f"0-{(os.cpu_count() or 1) - 1}")
    return out


async def _admission_levels(results_dir: Path, key: str, quick: bool, duration: int, out: dict) -> None:
    """First a low queue cap (the fixed outer limit) to watch load shedding, then no cap."""
    # Past capacity: the global queue cap is reached and everything after it is shed.
    cap = 300
    cp = ControlPlane(results_dir, {"max_queue_depth": cap, "queue_timeout_ms": 3_600_000}, cpus="1").start()
    try:
        r = await asyncio.to_thread(_wrk, cp.url, key, 64, duration)
        r["queue_cap"] = cap
        r["queued_after"] = _queued(cp)
        out["overload"] = r
        log(f"  overload: {r}")
    finally:
        cp.stop()
    cp = ControlPlane(results_dir, {"max_queue_depth": 10_000_000, "max_active_runs": 10_000_000,
                                    "queue_timeout_ms": 3_600_000}, cpus="1").start()
    try:
        levels = {}
        for conns in ((8, 32) if quick else (4, 16, 64)):
            c0 = proc_cpu_s(cp.proc.pid) or 0.0
            r = await asyncio.to_thread(_wrk, cp.url, key, conns, duration)
            r["cp_cores"] = round(((proc_cpu_s(cp.proc.pid) or 0.0) - c0) / duration, 2)
            levels[str(conns)] = r
            log(f"  admission c={conns}: {r['rps']} req/s p99 {r['p99_ms']} ms statuses {r['statuses']}")
        out["levels"] = levels
    finally:
        cp.stop()


def consul_pid() -> int | None:
    return pid_file("consul") or next(iter(pids_by_cmd("consul agent")), None)
