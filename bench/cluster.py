"""Section `cluster` (opt-in, needs `make cluster`): sustained runs/s of the local cluster with
2 workers and then 1 (the other drained), and the host CPU per run of each kind of node, so the
per-node overhead of the design is known. All nodes share this machine's cores: the ratio
shows the design's overhead, not a fleet's scaling (docs/cluster.md has the paper model).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
STATE = Path(os.environ.get("THROWBOX_STATE_DIR", REPO / ".state"))
CLUSTER_DIR = Path(os.environ.get("THROWBOX_CLUSTER_DIR", STATE / "cluster"))
NAME = os.environ.get("THROWBOX_CLUSTER_NAME", "tbx")
NET = os.environ.get("THROWBOX_CLUSTER_NET", "10.77.0")
NOMAD = f"http://{NET}.11:4646"
CPS = (f"http://{NET}.21:8080", f"http://{NET}.22:8080")
HELLO = {"language": "python", "files": [{"name": "main.py", "content": "print('hello')"}]}
TICKS = os.sysconf("SC_CLK_TCK")


def _ns_pids(node: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "pids", f"{NAME}-{node}"], capture_output=True, text=True)
    return out.stdout.split()


def _cpu_s(pid: str) -> float:
    """CPU of a process and its waited-for children (s)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / TICKS   # utime stime cutime cstime


def _host_cpu_s() -> float:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(f) for i, f in enumerate(fields) if i not in (3, 4))   # all but idle and iowait
    return busy / TICKS


def cpu_by_part(workers: list[str]) -> dict[str, float]:
    parts = {"servers (Consul, Nomad, Kafka)": ["s1", "s2", "s3"], "control planes": ["c1", "c2"],
             "workers' Nomad clients and agents": workers}
    out = {part: sum(_cpu_s(p) for n in nodes for p in _ns_pids(n)) for part, nodes in parts.items()}
    out["host"] = _host_cpu_s()
    return out


def _sustain(key: str, clients: int, duration_s: float) -> tuple[int, int, float]:
    """`clients` loops of POST ?wait=true for duration_s: (completed, other answers, seconds)."""
    deadline = time.monotonic() + duration_s
    headers = {"Authorization": f"Bearer {key}"}

    def loop(i: int) -> tuple[int, int]:
        ok = other = 0
        with httpx.Client(base_url=CPS[i % 2], headers=headers, timeout=120) as c:
            while time.monotonic() < deadline:
                r = c.post("/v1/runs?wait=true", json=HELLO)
                if r.status_code == 200 and r.json().get("outcome") == "ok":
                    ok += 1
                else:
                    other += 1
                    time.sleep(0.5)
        return ok, other

    began = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        counts = list(pool.map(loop, range(clients)))
    return sum(c[0] for c in counts), sum(c[1] for c in counts), time.monotonic() - began


def measure_workers(key: str, workers: list[str], clients: int, duration_s: float) -> dict:
    before = cpu_by_part(workers)
    load_before = os.getloadavg()[0]
    ok, other, took = _sustain(key, clients, duration_s)
    after = cpu_by_part(workers)
    used = {k: after[k] - before[k] for k in before}
    rest = used["host"] - sum(v for k, v in used.items() if k != "host")
    per_run = {k: round(1000 * v / max(ok, 1)) for k, v in used.items() if k != "host"}
    per_run["Docker, sandboxes and the rest of the host"] = round(1000 * rest / max(ok, 1))
    return {"workers": workers, "clients": clients, "completed": ok, "other_answers": other,
            "seconds": round(took, 1), "runs_per_s": round(ok / took, 2), "cpu_ms_per_run": per_run,
            "host_cpu_ms_per_run": round(1000 * used["host"] / max(ok, 1)), "loadavg_before": load_before}


def _node_id(name: str) -> str:
    nodes = sorted((n["CreateIndex"], n["ID"]) for n in httpx.get(f"{NOMAD}/v1/nodes").json() if n["Name"] == name)
    return nodes[-1][1]


def _wait(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout_s} s")
        time.sleep(2)


def _agent_ok(worker: str) -> bool:
    ip = f"{NET}.{30 + int(worker[1:])}"
    try:
        return httpx.get(f"http://{ip}:9464/healthz", timeout=3).json().get("status") == "ok"
    except (httpx.HTTPError, ValueError):
        return False


def run(quick: bool) -> dict:
    if subprocess.run([str(REPO / "scripts/cluster/status.sh")], capture_output=True).returncode != 0:
        raise RuntimeError("the cluster is not up and healthy: make cluster")
    key = (CLUSTER_DIR / "dev-key").read_text().strip()
    duration_s, clients = (30, 8) if quick else (90, 12)
    two = measure_workers(key, ["w1", "w2"], clients, duration_s)
    w2 = _node_id("w2")
    httpx.post(f"{NOMAD}/v1/node/{w2}/drain", json={"NodeID": w2, "DrainSpec": {"Deadline": 300 * 10**9}})
    try:
        _wait(lambda: not httpx.get(f"{NOMAD}/v1/node/{w2}").json()["Drain"], 300, "w2 drained")
        one = measure_workers(key, ["w1"], clients, duration_s)
    finally:
        httpx.post(f"{NOMAD}/v1/node/{w2}/eligibility", json={"NodeID": w2, "Eligibility": "eligible"})
        _wait(lambda: _agent_ok("w2"), 300, "w2's agent back")
    return {"quick": quick, "two_workers": two, "one_worker": one,
            "ratio_2_to_1": round(two["runs_per_s"] / max(one["runs_per_s"], 0.01), 2)}


async def measure(quick: bool) -> dict:
    return await asyncio.to_thread(run, quick)


def markdown(c: dict) -> list[str]:
    two, one = c["two_workers"], c["one_worker"]
    parts = list(two["cpu_ms_per_run"])
    L = ["", "## The local cluster (`make cluster`): one worker vs two", "",
         f"Hello-world runs through both control planes, {two['clients']} clients in a loop, "
         f"{two['seconds']:.0f} s each; then w2 drained and the same with w1 alone. Every node shares this "
         "machine's cores, so this shows the per-node overhead of the design, not a fleet's scaling "
         "(docs/cluster.md has the paper model). CPU per completed run by the processes of each kind of node "
         "(their network namespaces), ms:", "",
         "| workers | runs/s | completed | other answers | load before | " + " | ".join(parts) + " | host total |",
         "|---|---|---|---|---|" + "---|" * len(parts) + "---|"]
    for r in (two, one):
        L.append(f"| {len(r['workers'])} | {r['runs_per_s']} | {r['completed']} | {r['other_answers']} | "
                 f"{r['loadavg_before']:.1f} | " + " | ".join(str(r["cpu_ms_per_run"][p]) for p in parts)
                 + f" | {r['host_cpu_ms_per_run']} |")
    L += ["", f"Two workers over one: {c['ratio_2_to_1']}x."]
    return L


if __name__ == "__main__":
    print(json.dumps(run(quick=True), indent=2))
