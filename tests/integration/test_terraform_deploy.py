"""Acceptance of terraform/modules/throwbox and the Throwbox provider: `tofu apply` deploys
Throwbox from the artifacts built here (make artifacts, served over HTTP for Nomad's artifact
block) onto a Nomad cluster, a run goes through the load balancer, an upgrade apply while runs
are in flight completes every one of them, functions are managed as code, and `tofu destroy`
leaves no job, allocation or KV key.

The cluster is private (tests/private_nomad.py: its own Nomad and Consul on ports 546xx/585xx,
a private Kafka on 59392): a second agent system job or control plane on the stack's Nomad
would take the stack's runs. Only the Docker engine and the sandbox images are shared.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from private_kafka import private_kafka
from private_nomad import private_nomad
from stack import REPO_DIR, require_image, require_stack
from tofu_tools import ensure_tofu

from throwbox_common import runtimes

pytestmark = pytest.mark.timeout(1800)

NOMAD_PORT, CONSUL_PORT, KAFKA_PORT = 54646, 58500, 59392
DYNAMIC_PORTS = (54700, 54799)
HTTPS_PORT, AGENT_METRICS_PORT = 54643, 54664
API = f"https://127.0.0.1:{HTTPS_PORT}"
TLS = ssl._create_unverified_context()   # the load balancer's generated certificate
JOBS = ["throwbox-kafka-topics", "throwbox-executor-agent", "throwbox-control-plane", "throwbox-load-balancer"]


def http(method: str, url: str, body=None, key: str | None = None, timeout_s: float = 30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s, context=TLS if url.startswith("https") else None) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


ROOT = """
terraform {{
  required_providers {{
    throwbox = {{ source = "registry.local/throwbox/throwbox" }}
  }}
}}

variable "agent_settings" {{
  type    = map(string)
  default = {{}}
}}

variable "control_plane_settings" {{
  type    = map(string)
  default = {{ THROWBOX_CP_QUEUE_TIMEOUT_MS = "180000" }}
}}

provider "throwbox" {{}}

module "throwbox" {{
  source                 = "{module}"
  nomad_addr             = "{nomad}"
  consul_addr            = "{consul}"
  kafka_bootstrap        = "{kafka}"
  kafka_credentials_dir  = "{kafka_credentials}"
  bundle_url             = "{bundle_url}"
  bundle_sha256          = "{bundle_sha256}"
  https_port             = {https_port}
  agent_metrics_listen   = "127.0.0.1:{metrics_port}"
  pool_sizes             = "python=2,*=0"
  agent_settings         = var.agent_settings
  control_plane_settings = var.control_plane_settings
  purge_data_on_destroy  = true
  timeout_s              = 900
  # ACLs on (the module's default): the tokens scripts/nomad/acl.py wrote for the private cluster.
  nomad_token                = trimspace(file("{secrets}/nomad-management.token"))
  consul_token               = trimspace(file("{secrets}/consul-management.token"))
  agent_nomad_token          = trimspace(file("{secrets}/nomad-agent.token"))
  agent_consul_token         = trimspace(file("{secrets}/consul-agent.token"))
  control_plane_consul_token = trimspace(file("{secrets}/consul-control-plane.token"))
}}

output "api_url" {{
  value = module.throwbox.api_url
}}
"""


class Deployment:
    def __init__(self, tofu, root: Path, cluster):
        self.tofu, self.root, self.cluster = tofu, root, cluster
        self.key: str | None = None

    def apply(self, *args: str) -> str:
        return self.tofu.ok(self.root, "apply", "-auto-approve", "-no-color", *args, timeout_s=1200)

    def plan(self, *args: str) -> subprocess.CompletedProcess:
        return self.tofu.run(self.root, "plan", "-no-color", "-detailed-exitcode", *args)

    def nomad(self, path: str):
        req = urllib.request.Request(self.cluster.nomad_addr + path, headers=self.cluster.nomad_headers)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    out = subprocess.run([str(REPO_DIR / "scripts/build-artifacts.sh"), "--no-images"], capture_output=True,
                         text=True, timeout=1200)
    assert out.returncode == 0, out.stderr[-4000:]
    settings = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    bundle = Path(settings["BUNDLE"])
    manifest = json.loads((bundle.parent / "manifest.json").read_text())
    # A port free now (a fixed one in the ephemeral range was once held by a client socket).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "THROWBOX_ARTIFACTS_DIR": str(bundle.parent), "THROWBOX_ARTIFACTS_PORT": str(port)}
    served = subprocess.run([str(REPO_DIR / "scripts/serve-artifacts.sh")], capture_output=True, text=True,
                            env=env, timeout=60)
    assert served.returncode == 0, served.stderr
    try:
        yield {"url": f"{served.stdout.strip()}/{bundle.name}", "sha256": manifest["files"][bundle.name]["sha256"],
               "version": manifest["version"]}
    finally:
        subprocess.run([str(REPO_DIR / "scripts/serve-artifacts.sh"), "--stop"], env=env, timeout=60)


@pytest.fixture(scope="module")
def deployment(artifacts, tmp_path_factory):
    require_stack("docker")
    require_image(next(r.image for r in runtimes.load().runtimes if r.language == "python"))
    tofu = ensure_tofu(tmp_path_factory.mktemp("tofu-deploy"))
    with private_kafka(port=KAFKA_PORT, name="kafka-tfacc") as kafka, \
            private_nomad("tfacc", NOMAD_PORT, CONSUL_PORT, DYNAMIC_PORTS, acl=True) as cluster:
        root = tofu.workdir.parent / "root"
        root.mkdir()
        (root / "main.tf").write_text(ROOT.format(
            # A relative local path: tofu uses the module in place, so its default jobs_dir (the
            # project's nomad-jobs/ next to terraform/) resolves.
            module=os.path.relpath(tofu.workdir / "modules/throwbox", root), nomad=cluster.nomad_addr, consul=cluster.consul_addr,
            kafka=kafka.bootstrap, kafka_credentials=kafka.credentials_file().parent, bundle_url=artifacts["url"],
            bundle_sha256=artifacts["sha256"], https_port=HTTPS_PORT, metrics_port=AGENT_METRICS_PORT,
            secrets=cluster.secrets))
        tofu.ok(root, "init", "-no-color")
        d = Deployment(tofu, root, cluster)
        try:
            yield d
        finally:
            # Whatever a failed test left: destroyed before the cluster goes away.
            if (root / "terraform.tfstate").exists() and json.loads((root / "terraform.tfstate").read_text()).get("resources"):
                tofu.run(root, "destroy", "-auto-approve", "-no-color", timeout_s=900)


def wait_run(key: str, run_id: str, deadline_s: float = 600) -> dict:
    """The run's result once it ended; polls through the load balancer, riding out its
    answers while an instance is replaced (502/503)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            status, body = http("GET", f"{API}/v1/runs/{run_id}", key=key, timeout_s=15)
        except OSError:
            status, body = None, None
        if status == 200 and body["status"] not in ("queued", "running"):
            return body
        time.sleep(1)
    raise AssertionError(f"run {run_id} did not end")


def submit(key: str, code: str) -> tuple[int, dict | str]:
    return http("POST", f"{API}/v1/runs", {"language": "python", "files": [{"name": "main.py", "content": code}]},
                key=key, timeout_s=30)


def test_apply_deploys_throwbox_from_the_bundle_and_serves_a_run_through_the_load_balancer(deployment):
    out = deployment.apply()
    assert "Apply complete! Resources: 1 added" in out, out
    jobs = {j["ID"]: j for j in deployment.nomad("/v1/jobs")}
    assert set(JOBS) <= set(jobs)
    cp = deployment.nomad("/v1/job/throwbox-control-plane")
    assert cp["TaskGroups"][0]["Count"] == 2
    assert cp["TaskGroups"][0]["Tasks"][0]["Artifacts"][0]["GetterSource"].endswith(".tar.gz")
    # A tenant key in the deployment's Consul, then a real run through the load balancer.
    out = subprocess.run([str(REPO_DIR / ".venv/bin/throwbox"), "keys", "create", "--tenant", "tfacc"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "THROWBOX_CONSUL_ADDR": deployment.cluster.consul_addr,
                              "THROWBOX_CONSUL_TOKEN_FILE": str(deployment.cluster.token_file("consul-control-plane"))})
    assert out.returncode == 0, out.stderr
    deployment.key = out.stdout.strip().splitlines()[-1]
    status, body = http("POST", f"{API}/v1/runs?wait=true",
                        {"language": "python", "files": [{"name": "main.py", "content": "print(6 * 7)"}]},
                        key=deployment.key, timeout_s=120)
    assert status == 200, body
    assert body["status"] == "completed" and body["outcome"] == "ok" and body["stdout"] == "42\n", body


def test_a_second_plan_is_empty_and_a_setting_change_names_only_the_changed_job(deployment):
    assert deployment.plan().returncode == 0       # 0: no changes
    out = deployment.plan("-var", 'agent_settings={THROWBOX_AGENT_TMPFS_MB="48"}')
    assert out.returncode == 2, out.stdout + out.stderr
    changed = [line for line in out.stdout.splitlines() if line.strip().startswith("~ \"throwbox-")]
    assert len(changed) == 1 and "throwbox-executor-agent" in changed[0], out.stdout


def test_an_upgrade_apply_while_runs_are_in_flight_completes_every_run(deployment):
    key = deployment.key
    assert key, "the first test created the tenant key"
    submitted: list[tuple[str, str]] = []            # (run id, expected stdout)
    errors: list[str] = []
    stop = threading.Event()

    def keep_submitting():
        i = 0
        while not stop.is_set() and i < 30:
            i += 1
            try:
                status, body = submit(key, f"import time\ntime.sleep(2)\nprint('during {i}')")
            except OSError as e:
                errors.append(repr(e))
                status, body = None, None
            if status == 202:
                submitted.append((body["id"], f"during {i}\n"))
            elif status is not None:
                errors.append(f"{status} {body}")   # refused (e.g. 503 while no agent): never accepted
            stop.wait(3)

    # In flight when the upgrade starts: more than the 2 warm sandboxes can run at once.
    for i in range(6):
        status, body = submit(key, f"import time\ntime.sleep(3)\nprint('before {i}')")
        assert status == 202, body
        submitted.append((body["id"], f"before {i}\n"))
    thread = threading.Thread(target=keep_submitting, daemon=True)
    thread.start()
    try:
        out = deployment.apply("-var", 'agent_settings={THROWBOX_AGENT_TMPFS_MB="48"}',
                               "-var", 'control_plane_settings={THROWBOX_CP_QUEUE_TIMEOUT_MS="180000",'
                                       'THROWBOX_CP_LOG_LEVEL="WARNING"}')
    finally:
        stop.set()
        thread.join(timeout=60)
    assert "Apply complete! Resources: 0 added, 1 changed, 0 destroyed." in out, out
    agent = deployment.nomad("/v1/job/throwbox-executor-agent")
    assert agent["Version"] >= 1 and agent["Status"] == "running"
    assert deployment.nomad("/v1/job/throwbox-control-plane")["Version"] >= 1
    results = {run_id: wait_run(key, run_id) for run_id, _ in submitted}
    failed = {run_id: r for (run_id, want), r in zip(submitted, results.values(), strict=True)
              if not (r["status"] == "completed" and r["outcome"] == "ok" and r["stdout"] == want)}
    assert not failed, f"{len(failed)} of {len(submitted)} runs did not complete: {list(failed.values())[:3]}"
    assert len(submitted) > 6, f"no run was accepted during the upgrade (refusals: {errors[:5]})"
    print(f"upgrade: {len(submitted)} runs accepted and completed, {len(errors)} submissions refused "
          f"({sorted({e.split()[0] for e in errors})})")


def test_functions_are_managed_as_code_through_the_load_balancer(deployment, tmp_path):
    root = tmp_path / "functions"
    root.mkdir()
    example = deployment.tofu.workdir / "provider/examples/functions/main.tf"
    (root / "main.tf").write_text(example.read_text())
    deployment.tofu.ok(root, "init", "-no-color")
    env_key = {"THROWBOX_API_KEY": deployment.key}
    old_env = deployment.tofu.env
    deployment.tofu.env = {**old_env, **env_key}
    try:
        out = deployment.tofu.ok(root, "apply", "-auto-approve", "-no-color", "-var", f"api_url={API}")
        assert "1 added" in out
        status, body = http("POST", f"{API}/v1/functions/greet/invoke?wait=true", {"input": {"name": "ops"}},
                            key=deployment.key, timeout_s=120)
        assert status == 200 and body["stdout"] == "hello, ops\n", body
        assert deployment.tofu.run(root, "plan", "-no-color", "-detailed-exitcode",
                                   "-var", f"api_url={API}").returncode == 0
        deployment.tofu.ok(root, "destroy", "-auto-approve", "-no-color", "-var", f"api_url={API}")
        assert http("GET", f"{API}/v1/functions/greet", key=deployment.key)[0] == 404
    finally:
        deployment.tofu.env = old_env


def test_destroy_leaves_no_job_allocation_or_kv_key(deployment):
    out = deployment.tofu.ok(deployment.root, "destroy", "-auto-approve", "-no-color", timeout_s=900)
    assert "Destroy complete! Resources: 1 destroyed." in out, out
    assert deployment.nomad("/v1/jobs?namespace=*") == []
    assert deployment.nomad("/v1/allocations?namespace=*") == []
    try:
        req = urllib.request.Request(f"{deployment.cluster.consul_addr}/v1/kv/?keys",
                                     headers=deployment.cluster.consul_headers)
        with urllib.request.urlopen(req, timeout=10) as r:
            keys = json.load(r)
    except urllib.error.HTTPError as e:
        assert e.code == 404          # Consul: no key at all
        keys = []
    assert keys == []
