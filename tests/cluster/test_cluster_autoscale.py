"""The worker fleet grows on a backlog and shrinks after it, through nomad-autoscaler v0.3.7,
its Prometheus and Nomad APMs and the project's target plugin (scripts/cluster/ops.sh)."""

import json
import re
import subprocess
import threading
import time
from datetime import datetime

import httpx
from cluster import (
    CLUSTER_DIR,
    NOMAD,
    REPO_DIR,
    assert_ran_once,
    ip,
    ready_workers,
    record,
    script,
    submit_many,
    wait_until,
)
from conftest import BASE_WORKERS


def live_agents() -> int:
    """Admission's count of live agents (its queue bound follows their capacity)."""
    return httpx.get(f"http://{ip('c1')}:8080/readyz", timeout=5).json()["capacity"]["agents"]


def queued() -> int:
    """The control planes' queued-runs gauge (what the autoscaler's Prometheus check reads)."""
    text = httpx.get(f"http://{ip('c1')}:8080/metrics", timeout=5).text
    m = re.search(r"^throwbox_runs_queued\s+([0-9.e+]+)$", text, re.M)
    return int(float(m.group(1))) if m else 0


def test_a_backlog_adds_a_worker_and_the_fleet_shrinks_back_after_it(burst_api, restored):
    api = burst_api
    samples, stop = [], threading.Event()
    began = time.monotonic()

    def sample():
        while not stop.is_set():
            try:
                samples.append({"t": round(time.monotonic() - began, 1), "queued": queued(),
                                "workers": len(ready_workers()), "agents": live_agents()})
            except (httpx.HTTPError, AssertionError, KeyError, ValueError):
                pass
            stop.wait(2)

    script("ops.sh", "start", "autoscaler")
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        ids = submit_many(api, 48, sleep_s=8)
        wait_until(lambda: len(ready_workers()) >= 3, 240, "a third worker added by the autoscaler")
        grown_s = time.monotonic() - began
        added = sorted(set(ready_workers()) - set(BASE_WORKERS))
        results = api.wait_all(ids, 600)
        drained_s = time.monotonic() - began
        wait_until(lambda: len(ready_workers()) == 2, 300, "the fleet back at 2 workers")
        shrunk_s = time.monotonic() - began
    finally:
        stop.set()
        sampler.join(10)
        script("ops.sh", "stop", "autoscaler")
    # Runs completed over time, from each result's end (the sampler stays cheap).
    ends = sorted(datetime.fromisoformat(r["finished_at"].replace("Z", "+00:00")).timestamp() for r in results.values())
    zero = time.time() - (time.monotonic() - began)
    timeline = [{**p, "completed": sum(1 for e in ends if e - zero <= p["t"])} for p in samples]
    (CLUSTER_DIR / "autoscale-timeline.json").write_text(json.dumps(timeline))
    subprocess.run([str(REPO_DIR / ".venv/bin/python"), str(REPO_DIR / "bench/plot_autoscale.py"),
                    str(CLUSTER_DIR / "autoscale-timeline.json"), str(CLUSTER_DIR / "autoscale-timeline.png")],
                   check=True, timeout=120)
    failed = [r for r in results.values() if r["status"] != "completed"]
    on_added = sum(1 for r in results.values() if r.get("node") in added)
    record("autoscale", runs=len(ids), failed=len(failed), peak_queued=max(p["queued"] for p in timeline),
           third_worker_s=grown_s, backlog_done_s=drained_s, back_to_two_s=shrunk_s, added=added,
           runs_on_added=on_added, peak_agents=max(p["agents"] for p in timeline))
    assert not failed, failed
    assert_ran_once(api, results)
    assert on_added >= 1, "the added worker took part of the backlog"
    # Admission counted the third agent while it was there, and stopped counting it after.
    agents = [p["agents"] for p in timeline]
    assert max(agents) == 3 and agents[-1] == 2, agents
    assert httpx.get(f"{NOMAD}/v1/status/leader", timeout=5).status_code == 200
