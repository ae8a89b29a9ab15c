"""Cost: host memory per warm sandbox, including what Nomad and Docker spend on it.

A private pool job (the agent's own renderer, a private job name) gets sandboxes dispatched
from it, as the agent does, up to several sizes; at each size, after the sandboxes settle, we
read every sandbox's processes (containerd shim, runsc gofer + sandbox: PSS), its memory cgroup,
the growth of nomad/dockerd/containerd (PSS) and of the host's used memory (MemAvailable), each
against the same job with no sandbox.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import quote

from dockerio import SANDBOX_OCI
from infra import (
    NOMAD,
    BenchError,
    http,
    log,
    mem_available_bytes,
    node_id,
    pids_by_cmd,
    pss_bytes,
    purge_agent_jobs,
    shared_service_pids,
    wait_until,
)

from throwbox_agent import sandbox_job
from throwbox_agent.cgroups import find_paths
from throwbox_agent.config import AgentConfig
from throwbox_agent.container_starts import JOB_LABEL
from throwbox_agent.nomad_api import parent_job
from throwbox_common.runtimes import Registry

JOB_AGENT_NAME = "bench-mem"


def _containers(job_id: str) -> list[tuple[str, int]]:
    """(container id, pid) of the running sandboxes dispatched from the pool job."""
    import json
    import subprocess
    out = subprocess.run(["docker", "ps", "-q", "--no-trunc", "--filter", f"label={JOB_LABEL}"],
                         capture_output=True, text=True, timeout=30).stdout.split()
    res = []
    for cid in out:
        found = json.loads(subprocess.run(["docker", "inspect", cid], capture_output=True, text=True,
                                          timeout=30).stdout or "[]")
        if (found and found[0]["State"]["Running"]      # it may be gone by now
                and parent_job(found[0]["Config"]["Labels"].get(JOB_LABEL, "")) == job_id):
            res.append((cid, int(found[0]["State"]["Pid"])))
    return res


def _platform_pss() -> dict[str, int]:
    comps = shared_service_pids()
    return {k: sum(pss_bytes(p) or 0 for p in comps[k]) for k in ("nomad", "dockerd", "containerd")}


def _snapshot(job_id: str) -> dict:
    boxes = _containers(job_id)
    per_box = []
    for cid, pid in boxes:
        pids = pids_by_cmd(cid)
        procs = sum(pss_bytes(p) or 0 for p in pids)
        try:
            cg = find_paths(pid)
            cgroup = int((cg.memory / "memory.usage_in_bytes").read_text())
        except (OSError, ValueError, KeyError, Exception):  # noqa: BLE001 - best effort reading
            cgroup = 0
        per_box.append({"processes_pss": procs, "cgroup_usage": cgroup, "n_processes": len(pids)})
    return {"n": len(boxes), "boxes": per_box, "platform_pss": _platform_pss(), "mem_available": mem_available_bytes()}


def _register(job: dict) -> None:
    status, body = http("POST", f"{NOMAD}/v1/jobs", {"Job": job})
    if status != 200:
        raise BenchError(f"registering {job['ID']}: {status} {body}")


def _dispatch(job_id: str, count: int) -> None:
    for _ in range(count):
        status, body = http("POST", f"{NOMAD}/v1/job/{quote(job_id, safe='')}/dispatch", {})
        if status != 200:
            raise BenchError(f"dispatching from {job_id}: {status} {body}")


async def memory(registry: Registry, quick: bool) -> dict:
    py = registry.resolve("python")
    cfg = AgentConfig(name=JOB_AGENT_NAME, pool_sizes={py.key: 0}, sandbox_cpu_mhz=20)
    job = sandbox_job.render(cfg, registry, py, node_id(), SANDBOX_OCI)
    job_id = job["ID"]
    sizes = (1, 4) if quick else (1, 4, 8)
    levels = {}
    try:
        _register(job)
        await asyncio.sleep(3)
        base = _snapshot(job_id)
        for n in sizes:
            _dispatch(job_id, n - len(_containers(job_id)))
            t0 = time.monotonic()
            while len(_containers(job_id)) < n:
                if time.monotonic() - t0 > 180:
                    raise BenchError(f"{job_id}: {n} sandboxes not running after 180 s")
                await asyncio.sleep(0.5)
            await asyncio.sleep(8 if quick else 12)     # boot settled, Go heaps collected
            snap = _snapshot(job_id)
            boxes = snap["boxes"]
            mib = 1024 * 1024
            plat = {k: round((snap["platform_pss"][k] - base["platform_pss"][k]) / n / mib, 1)
                    for k in snap["platform_pss"]}
            levels[str(n)] = {
                "sandboxes": len(boxes),
                "sandbox_processes_pss_mib": round(sum(b["processes_pss"] for b in boxes) / len(boxes) / mib, 1),
                "sandbox_cgroup_usage_mib": round(sum(b["cgroup_usage"] for b in boxes) / len(boxes) / mib, 1),
                "processes_per_sandbox": round(sum(b["n_processes"] for b in boxes) / len(boxes), 1),
                "platform_growth_pss_mib_per_sandbox": plat,
                "host_used_growth_mib_per_sandbox": round((base["mem_available"] - snap["mem_available"]) / n / mib, 1),
            }
            log(f"  memory at {n}: {levels[str(n)]}")
    finally:
        purge_agent_jobs(JOB_AGENT_NAME)
        try:
            await asyncio.to_thread(wait_until, lambda: not _containers(job_id), 60, f"{job_id} gone", 0.5)
        except BenchError as e:
            log(f"  {e}")
    return {"runtime": py.key, "levels": levels}
