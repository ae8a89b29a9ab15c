"""The operator's walk-through of docs/terraform.md on the local secured cluster: `tofu apply` of
terraform/modules/throwbox/examples/local-cluster deploys a second Throwbox (name prefix `tf`)
from the versioned bundle beside the cluster's own agents and control planes; a run goes through
its HAProxy from the host; an upgrade apply (an agent setting) rolls its agents while runs are
in flight and every accepted run completes; `tofu destroy` leaves no job, allocation, Nomad
Variable, Consul service or KV key of it, and its runs topic is removed from Kafka. The cluster's
own deployment serves throughout and takes none of the second one's runs (nor the reverse).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from cluster import (
    CLUSTER_DIR,
    NET,
    REPO_DIR,
    SECRETS,
    TERMINAL,
    healthy,
    ip,
    nomad,
    pools_full,
    record,
    wait_until,
)
from tofu_tools import ensure_tofu

from throwbox_common import kafka_client

pytestmark = pytest.mark.timeout(900)

PREFIX = "tf"
JOBS = [f"{PREFIX}-kafka-topics", f"{PREFIX}-executor-agent", f"{PREFIX}-control-plane", f"{PREFIX}-load-balancer"]
CLEANUP_JOB = f"{PREFIX}-kafka-topics-remove"   # run by the destroy (its runs topic removed), then purged
SANDBOX_PREFIX = f"throwbox-sandbox-{PREFIX}-"
RUNS_TOPIC, AGENT_GROUP = f"throwbox.runs.{PREFIX}", f"{PREFIX}-agents"
WORKERS = ("w1", "w2")
LB_NODE, HTTPS_PORT, METRICS_PORT = "w1", 8443, 9465       # on the workers' own addresses
API = f"https://{ip(LB_NODE)}:{HTTPS_PORT}"
EXAMPLE = Path("modules/throwbox/examples/local-cluster")
KAFKA_ADMIN = CLUSTER_DIR / "kafka-credentials/admin.properties"
BOOTSTRAP = ",".join(f"{ip(s)}:9092" for s in ("s1", "s2", "s3"))
UPGRADE = 'agent_settings={THROWBOX_AGENT_TMPFS_MB="48"}'


def consul(path: str):
    token = (SECRETS / "consul-management.token").read_text().split()[0]
    r = httpx.get(f"http://{ip('s1')}:8500{path}", headers={"X-Consul-Token": token}, timeout=10)
    return None if r.status_code == 404 else r.json()


def runs_total(port: int) -> float:
    """throwbox_agent_runs_total over the workers' agents listening on port (9464: the
    cluster's own, METRICS_PORT: the deployment's)."""
    total = 0.0
    for w in WORKERS:
        text = httpx.get(f"http://{ip(w)}:{port}/metrics", timeout=5).text
        total += sum(float(m) for m in re.findall(r"^throwbox_agent_runs_total\{[^}]*\} (\S+)$", text, re.M))
    return total


def lb(method: str, path: str, key: str, timeout_s: float = 30, **kw) -> httpx.Response:
    return httpx.request(method, API + path, headers={"Authorization": f"Bearer {key}"}, verify=False,
                         timeout=timeout_s, **kw)


def program(tag: str, sleep_s: float) -> dict:
    code = f"import time\ntime.sleep({sleep_s})\nprint({tag!r})\n"
    return {"language": "python", "files": [{"name": "main.py", "content": code}]}


def wait_result(key: str, run_id: str, timeout_s: float = 240) -> dict:
    """Polled through the load balancer, riding out a refused or failed poll."""
    def ended():
        try:
            r = lb("GET", f"/v1/runs/{run_id}", key, timeout_s=10)
        except httpx.HTTPError:
            return None
        return r.json() if r.status_code == 200 and r.json()["status"] in TERMINAL else None
    return wait_until(ended, timeout_s, f"run {run_id} ended")


def kafka_topics() -> set[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    async def names():
        admin = AIOKafkaAdminClient(**kafka_client.options(BOOTSTRAP, kafka_client.read_credentials(KAFKA_ADMIN)))
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()
    return asyncio.run(names())


def leftovers() -> list[str]:
    """Whatever of the deployment is still in Nomad and Consul."""
    ours = [*JOBS, CLEANUP_JOB]
    out = [j["ID"] for j in nomad("/v1/jobs?namespace=*") if j["ID"] in ours or j["ID"].startswith(SANDBOX_PREFIX)]
    out += [f"alloc {a['ID'][:8]} of {a['JobID']}" for a in nomad("/v1/allocations?namespace=*")
            if a["JobID"] in ours or a["JobID"].startswith(SANDBOX_PREFIX)]
    out += [f"variable {v['Path']}" for v in nomad("/v1/vars?prefix=nomad/jobs/") if v["Path"][len("nomad/jobs/"):] in JOBS]
    out += [f"kv {k}" for k in consul(f"/v1/kv/throwbox/deployment/{PREFIX}/?keys") or []]
    out += [f"service {s}" for s in consul("/v1/catalog/services") or {} if s.startswith(f"{PREFIX}-")]
    out += [f"agent {e['Service']['ID']}" for e in consul("/v1/health/service/throwbox-agent") or []
            if e["Service"]["Meta"].get("agent", "").startswith(f"{PREFIX}-")]
    return out


@pytest.fixture
def artifacts(cluster_up):
    """The versioned bundle (built once per inputs) served on the host's address on the
    cluster's bridge, which every worker reaches."""
    out = subprocess.run([str(REPO_DIR / "scripts/build-artifacts.sh"), "--no-images"], capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-4000:]
    bundle = Path(dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)["BUNDLE"])
    manifest = json.loads((bundle.parent / "manifest.json").read_text())
    with socket.socket() as s:
        s.bind((f"{NET}.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "THROWBOX_ARTIFACTS_DIR": str(bundle.parent), "THROWBOX_ARTIFACTS_HOST": f"{NET}.1",
           "THROWBOX_ARTIFACTS_PORT": str(port)}
    served = subprocess.run([str(REPO_DIR / "scripts/serve-artifacts.sh")], capture_output=True, text=True,
                            env=env, timeout=60)
    assert served.returncode == 0, served.stderr
    try:
        yield {"url": f"{served.stdout.strip()}/{bundle.name}", "sha256": manifest["files"][bundle.name]["sha256"]}
    finally:
        subprocess.run([str(REPO_DIR / "scripts/serve-artifacts.sh"), "--stop"], env=env, timeout=60)


@pytest.fixture
def deployer(artifacts, tmp_path):
    """tofu in the example on a copy of terraform/, and whatever a failed test left removed:
    the deployment destroyed, its runs topic and ACLs deleted."""
    if not (SECRETS / "consul-deployer.token").exists():   # a cluster made before the deployer's token
        out = subprocess.run([str(REPO_DIR / ".venv/bin/python"), str(REPO_DIR / "scripts/nomad/acl.py"), "apply",
                              str(SECRETS), "--consul", f"http://{ip('s1')}:8500", "--nomad",
                              f"http://{ip('s1')}:4646"], capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stderr
    tofu = ensure_tofu(tmp_path)
    root = tofu.workdir / EXAMPLE
    tofu.ok(root, "init", "-no-color")
    args = ["-var", f"cluster_dir={CLUSTER_DIR}", "-var", f"cluster_net={NET}", "-var", f"bundle_url={artifacts['url']}",
            "-var", f"bundle_sha256={artifacts['sha256']}", "-var", f"load_balancer_node={LB_NODE}",
            "-var", f"https_port={HTTPS_PORT}", "-var", f"agent_metrics_port={METRICS_PORT}"]
    try:
        yield tofu, root, args
    finally:
        state = root / "terraform.tfstate"
        if state.exists() and json.loads(state.read_text()).get("resources"):
            tofu.run(root, "destroy", "-auto-approve", "-no-color", *args, timeout_s=600)
        subprocess.run([str(REPO_DIR / ".venv/bin/python"), str(REPO_DIR / "scripts/create_topics.py"),
                        "--bootstrap", BOOTSTRAP, "--remove", "--runs-topic", RUNS_TOPIC, "--agent-group", AGENT_GROUP],
                       env={**os.environ, "THROWBOX_KAFKA_CREDENTIALS_FILE": str(KAFKA_ADMIN)}, timeout=120)


def test_apply_run_upgrade_under_load_and_destroy_beside_the_clusters_own_deployment(deployer, api):
    tofu, root, args = deployer
    began = time.monotonic()
    assert not leftovers(), "a deployment named tf is already on the cluster"

    # Apply: four jobs, agents on both workers, HAProxy on w1 answering the host.
    t0 = time.monotonic()
    out = tofu.ok(root, "apply", "-auto-approve", "-no-color", *args, timeout_s=600)
    apply_s = time.monotonic() - t0
    assert "Apply complete! Resources: 1 added" in out, out
    assert {j["ID"] for j in nomad("/v1/jobs")} >= set(JOBS)
    lb_allocs = [a for a in nomad(f"/v1/job/{PREFIX}-load-balancer/allocations") if a["ClientStatus"] == "running"]
    assert [a["NodeName"] for a in lb_allocs] == [LB_NODE]
    for w in WORKERS:
        health = httpx.get(f"http://{ip(w)}:{METRICS_PORT}/healthz", timeout=5).json()
        assert health["status"] == "ok", health
    assert lb("GET", "/readyz", api.key).status_code == 200

    # A run through the load balancer, with a key of the cluster's (tenants are shared), on the
    # deployment's agents only; then one through the cluster's own API, on its agents only.
    ours, theirs = runs_total(METRICS_PORT), runs_total(9464)
    r = lb("POST", "/v1/runs?wait=true", api.key, timeout_s=120, json=program("via tofu", 0))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["outcome"], r.json()["stdout"]) == ("completed", "ok", "via tofu\n"), r.json()
    assert (runs_total(METRICS_PORT), runs_total(9464)) == (ours + 1, theirs)
    run_id = api.submit("print('via the cluster')")
    assert api.wait_all([run_id], 120)[run_id]["stdout"] == "via the cluster\n"
    assert (runs_total(METRICS_PORT), runs_total(9464)) == (ours + 1, theirs + 1)

    # Upgrade: one agent setting; the agents roll one worker at a time while runs are in flight.
    submitted: list[tuple[str, str]] = []
    refused: list[str] = []
    stop = threading.Event()

    def keep_submitting():
        i = 0
        while not stop.is_set():
            i += 1
            try:
                r = lb("POST", "/v1/runs", api.key, json=program(f"during {i}", 2))
            except httpx.HTTPError as e:
                refused.append(type(e).__name__)
            else:
                if r.status_code == 202:
                    submitted.append((r.json()["id"], f"during {i}\n"))
                else:
                    refused.append(str(r.status_code))   # never accepted, so not a run in flight
            stop.wait(2)

    for i in range(8):   # more than the 4 warm sandboxes: some wait in the topic
        r = lb("POST", "/v1/runs", api.key, json=program(f"before {i}", 3))
        assert r.status_code == 202, r.text
        submitted.append((r.json()["id"], f"before {i}\n"))
    thread = threading.Thread(target=keep_submitting, daemon=True)
    thread.start()
    t0 = time.monotonic()
    try:
        out = tofu.ok(root, "apply", "-auto-approve", "-no-color", *args, "-var", UPGRADE, timeout_s=600)
    finally:
        stop.set()
        thread.join(timeout=60)
    upgrade_s = time.monotonic() - t0
    assert "Apply complete! Resources: 0 added, 1 changed, 0 destroyed." in out, out
    agent = nomad(f"/v1/job/{PREFIX}-executor-agent")
    assert agent["Version"] >= 1 and agent["Status"] == "running"
    assert nomad(f"/v1/job/{PREFIX}-control-plane")["Version"] == 0, "only the agent job changed"
    results = {run_id: wait_result(api.key, run_id) for run_id, _ in submitted}
    failed = [r for (run_id, want), r in zip(submitted, results.values(), strict=True)
              if (r["status"], r.get("outcome"), r.get("stdout")) != ("completed", "ok", want)]
    assert not failed, f"{len(failed)} of {len(submitted)} runs did not complete: {failed[:3]}"
    assert len(submitted) > 8, f"no run was accepted during the upgrade (refusals: {refused[:5]})"

    # Destroy: nothing of it left; its runs topic and ACLs removed from Kafka.
    t0 = time.monotonic()
    out = tofu.ok(root, "destroy", "-auto-approve", "-no-color", *args, timeout_s=600)
    destroy_s = time.monotonic() - t0
    assert "Destroy complete! Resources: 1 destroyed." in out, out
    assert leftovers() == []
    # by the deployment's clean-up job (destroy_jobs), itself purged with the rest
    wait_until(lambda: RUNS_TOPIC not in kafka_topics(), 60, f"{RUNS_TOPIC} deleted by the destroy")

    # The cluster as it was: healthy, its own pools full, serving.
    wait_until(lambda: healthy()[0], 120, "cluster healthy")
    for w in WORKERS:
        wait_until(lambda w=w: pools_full(w), 120, f"{w}'s pools full")
    run_id = api.submit("print('still here')")
    assert api.wait_all([run_id], 120)[run_id]["stdout"] == "still here\n"
    record("terraform_walkthrough", apply_s=apply_s, upgrade_s=upgrade_s, destroy_s=destroy_s,
           runs_accepted=len(submitted), refused_during_upgrade=len(refused),
           total_s=time.monotonic() - began)
