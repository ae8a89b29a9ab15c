"""Workers die, drain and join under load: no accepted run is left without an end."""

import time

import httpx
from cluster import (
    NOMAD,
    agent_health,
    assert_ran_once,
    in_flight,
    node,
    node_id,
    nomad_headers,
    ready_workers,
    record,
    sandboxes_of,
    script,
    submit_many,
    wait_for_alert,
    wait_until,
)

LOST = ("agent_lost", "executor_lost")


def test_a_worker_killed_mid_load_loses_only_its_started_runs_with_their_output(api, restored):
    ids = submit_many(api, 8, sleep_s=8)
    wait_until(lambda: in_flight("w2") >= 1, 120, "a run in flight on w2")
    killed = time.monotonic()
    node("kill", "w2")
    results = api.wait_all(ids, 300)
    ended_s = time.monotonic() - killed
    alerts_s = {a: round(wait_for_alert(a) + ended_s, 1) for a in ("ThrowboxWorkerLost", "ThrowboxAgentLost")}
    lost = [r for r in results.values() if r["status"] == "failed"]
    done = [r for r in results.values() if r["status"] == "completed"]
    record("worker_killed", runs=len(ids), lost=len(lost), completed=len(done), all_ended_s=ended_s,
           alerts_firing_after_kill_s=alerts_s,
           completed_on={w: sum(r["node"] == w for r in done) for w in ("w1", "w2")})
    assert len(lost) + len(done) == len(ids)
    assert 1 <= len(lost), "w2 had a run in flight when it was killed"
    for r in lost:   # started on w2: failed with the output it had streamed, naming its node
        assert r["error"]["code"] in LOST and r["node"] == "w2" and r["stdout"].startswith("start"), r
    for r in done:   # not started before the kill, or on w1: ran (once) to the end
        assert (r["outcome"], r["stdout"]) == ("ok", "start\ndone\n"), r
    assert_ran_once(api, results)


def test_a_drained_worker_finishes_its_runs_hands_over_and_empties(api, restored):
    ids = submit_many(api, 8, sleep_s=6)
    wait_until(lambda: in_flight("w2") >= 1, 120, "a run in flight on w2")
    w2 = node_id("w2")
    drained = time.monotonic()
    r = httpx.post(f"{NOMAD}/v1/node/{w2}/drain", timeout=10, headers=nomad_headers(),
                   json={"NodeID": w2, "DrainSpec": {"Deadline": 300 * 10**9, "IgnoreSystemJobs": False}})
    assert r.status_code == 200, r.text
    results = api.wait_all(ids, 300)
    assert all((r["status"], r["outcome"]) == ("completed", "ok") for r in results.values()), results
    wait_until(lambda: not httpx.get(f"{NOMAD}/v1/node/{w2}", headers=nomad_headers(), timeout=5).json()["Drain"], 300, "w2's drain complete")
    drain_s = time.monotonic() - drained
    assert agent_health("w2") is None, "w2's agent stopped"
    wait_until(lambda: not sandboxes_of(w2), 60, "w2's sandboxes destroyed")
    later = api.wait_all(submit_many(api, 4, sleep_s=0), 180)
    assert {r["node"] for r in later.values()} == {"w1"}
    record("worker_drained", runs=len(ids), failed=0, drain_complete_s=drain_s)
    assert_ran_once(api, results)
    httpx.post(f"{NOMAD}/v1/node/{w2}/eligibility", json={"NodeID": w2, "Eligibility": "eligible"}, timeout=10,
               headers=nomad_headers())


def test_a_new_worker_joins_and_takes_runs(api, restored):
    began = time.monotonic()
    name = script("worker.sh", "add").strip().splitlines()[-1]
    try:
        ready_s = time.monotonic() - began
        assert name in ready_workers()
        wait_until(lambda: (agent_health(name) or {}).get("status") == "ok", 180, f"{name}'s agent ready")
        agent_s = time.monotonic() - began

        def ran_there():
            results = api.wait_all(submit_many(api, 6, sleep_s=0), 180)
            return any(r["node"] == name for r in results.values())

        wait_until(ran_there, 180, f"a run on {name}", every_s=0)
        record("worker_joined", node_ready_s=ready_s, agent_ready_s=agent_s, first_run_s=time.monotonic() - began)
    finally:
        wid = node_id(name)
        httpx.post(f"{NOMAD}/v1/node/{wid}/drain", timeout=10, headers=nomad_headers(),
                   json={"NodeID": wid, "DrainSpec": {"Deadline": 120 * 10**9, "IgnoreSystemJobs": False}})
        wait_until(lambda: not httpx.get(f"{NOMAD}/v1/node/{wid}", headers=nomad_headers(), timeout=5).json()["Drain"],
                   240, f"{name} drained")
        script("worker.sh", "remove", name)
