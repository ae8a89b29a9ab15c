"""The OpenStack worker group's autoscaling chain with everything real but the cloud: the real
nomad-autoscaler v0.3.7 loads the agent configuration and policy rendered from
terraform/modules/cluster-openstack's templates, launches the real throwbox-nodes plugin in
its openstack mode, which authenticates and talks Nova through gophercloud to a stand-in
Keystone + Nova (this file: no OpenStack is reachable from here), with a private Nomad server
on ports 581xx.

Scale-out: the fake cloud has one fixed worker (group metadata only) and the policy's min is 2:
the autoscaler scales up to its minimum, and the plugin creates exactly one server with the
settings the module renders and the worker user data file. Scale-in: the group has a fixed
worker and one the autoscaler added, whose address is that of a real Nomad client (loopback)
of class throwbox-worker, and the policy's max is 1: the SDK drains that client through Nomad,
the plugin deletes exactly its server, and the node is purged."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from stack import REPO_DIR, binary, missing

NOMAD_HTTP = 58146
CLOUD_PORT = 58183
AUTOSCALER_PORT = 58191
TEMPLATES = REPO_DIR / "terraform/modules/cluster-openstack/templates"
CACHE_DIR = Path(os.environ.get("THROWBOX_CACHE_DIR", Path.home() / ".cache" / "throwbox"))

NOMAD_HCL = """
data_dir  = "{dir}/nomad"
bind_addr = "127.0.0.1"
ports {{
  http = {http}
  rpc  = {rpc}
  serf = {serf}
}}
advertise {{
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}}
server {{
  enabled          = true
  bootstrap_expect = 1
}}
consul {{
  address          = "127.0.0.1:1"
  auto_advertise   = false
  server_auto_join = false
  client_auto_join = false
}}
"""


CLIENT_HCL = """
data_dir  = "{dir}/client"
name      = "as-client"
bind_addr = "127.0.0.1"
ports {{
  http = {http}
  rpc  = {rpc}
  serf = {serf}
}}
advertise {{
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}}
client {{
  enabled           = true
  node_class        = "throwbox-worker"
  cgroup_parent     = "/throwbox-autoscaler-openstack-test"
  servers           = ["127.0.0.1:{server_rpc}"]
  network_interface = "lo"
  options = {{
    "driver.denylist" = "docker,exec,java,qemu,raw_exec"
  }}
}}
consul {{
  address          = "127.0.0.1:1"
  auto_advertise   = false
  client_auto_join = false
}}
"""


class FakeCloud(http.server.BaseHTTPRequestHandler):
    """Keystone v3 tokens and the Nova calls the plugin makes, over a class-level server table."""

    servers: dict[str, dict] = {}
    creates: list[dict] = []
    deletes: list[str] = []
    auths: list[dict] = []
    lock = threading.Lock()

    def log_message(self, *args) -> None:
        pass

    def reply(self, code: int, body: dict | None, headers: dict | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")

    @staticmethod
    def view(s: dict) -> dict:
        return {"id": s["id"], "name": s["name"], "status": s["status"], "metadata": s["metadata"],
                "OS-EXT-STS:task_state": None, "links": [],
                "addresses": {"net": [{"addr": s["addr"], "version": 4}]}}

    def do_POST(self) -> None:
        with self.lock:
            if self.path == "/identity/v3/auth/tokens":
                FakeCloud.auths.append(self.body())
                base = f"http://127.0.0.1:{CLOUD_PORT}"
                self.reply(201, {"token": {
                    "methods": ["application_credential"], "expires_at": "2099-01-01T00:00:00Z",
                    "catalog": [{"type": "compute", "name": "nova", "id": "c", "endpoints": [
                        {"interface": "public", "region": "RegionOne", "region_id": "RegionOne",
                         "url": f"{base}/compute/v2.1", "id": "e"}]}]}}, {"X-Subject-Token": "tok"})
            elif self.path == "/compute/v2.1/servers" and self.headers.get("X-Auth-Token") == "tok":
                server = self.body()["server"]
                FakeCloud.creates.append(server)
                sid = f"srv-{len(FakeCloud.creates)}"
                FakeCloud.servers[sid] = {"id": sid, "name": server["name"], "status": "ACTIVE",
                                          "metadata": server.get("metadata", {}), "addr": f"10.20.0.{127 + len(FakeCloud.creates)}"}
                self.reply(202, {"server": {"id": sid, "links": []}})
            else:
                self.reply(404, {"error": self.path})

    def do_GET(self) -> None:
        with self.lock:
            if self.headers.get("X-Auth-Token") != "tok":
                self.reply(401, {"error": "no token"})
            elif self.path.startswith("/compute/v2.1/servers/detail"):
                self.reply(200, {"servers": [self.view(s) for s in FakeCloud.servers.values()]})
            elif m := re.fullmatch(r"/compute/v2.1/servers/([\w-]+)", self.path):
                s = FakeCloud.servers.get(m.group(1))
                self.reply(200, {"server": self.view(s)}) if s else self.reply(404, {"itemNotFound": {}})
            else:
                self.reply(404, {"error": self.path})

    def do_DELETE(self) -> None:
        with self.lock:
            m = re.fullmatch(r"/compute/v2.1/servers/([\w-]+)", self.path)
            if m and self.headers.get("X-Auth-Token") == "tok" and FakeCloud.servers.pop(m.group(1), None):
                FakeCloud.deletes.append(m.group(1))
                self.reply(204, None)
            else:
                self.reply(404, {"itemNotFound": {}})


def render_agent(target_config: dict[str, str], values: dict[str, str]) -> str:
    """The module's agent template with its one loop and placeholders filled as tofu would."""
    text = (TEMPLATES / "autoscaler-agent.hcl.tftpl").read_text()
    loop = re.search(r"%\{ for key, value in target_config ~\}\n.*?%\{ endfor ~\}\n", text, re.S)
    body = "".join(f"    {k} = {json.dumps(v)}\n" for k, v in target_config.items())
    text = text[:loop.start()] + body + text[loop.end():]
    for k, v in values.items():
        text = text.replace("${" + k + "}", v)
    assert "${" not in text and "%{" not in text
    return text


def render_policy(values: dict[str, str]) -> str:
    text = (TEMPLATES / "autoscaler-policy.hcl.tftpl").read_text()
    for k, v in values.items():
        text = text.replace("${" + k + "}", v)
    assert "${" not in text
    return text


def until(what: str, timeout_s: float, check) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def run_autoscaler(tmp_path: Path, servers: dict[str, dict], min_workers: int, max_workers: int,
                   done, with_client: bool = False) -> str:
    """Nomad (and a client), the fake cloud holding servers and the real agent with the rendered
    files until done() holds, then 15 s more (no second action: 5 m cooldown). Returns the
    agent's log."""
    nomad = binary("nomad")
    if not nomad:
        missing("nomad is not built (scripts/ensure-nomad.sh)")
    built = subprocess.run([str(REPO_DIR / "scripts/ensure-autoscaler.sh")], capture_output=True, text=True, timeout=1500)
    assert built.returncode == 0, built.stderr[-3000:]
    autoscaler = CACHE_DIR / "bin" / "nomad-autoscaler"

    FakeCloud.servers, FakeCloud.creates, FakeCloud.deletes, FakeCloud.auths = servers, [], [], []
    cloud = http.server.ThreadingHTTPServer(("127.0.0.1", CLOUD_PORT), FakeCloud)
    threading.Thread(target=cloud.serve_forever, daemon=True).start()

    user_data = tmp_path / "worker-user-data"
    user_data.write_text("#cloud-config\nruncmd: [[echo, throwbox]]\n")
    (tmp_path / "policies").mkdir()
    (tmp_path / "nomad.hcl").write_text(NOMAD_HCL.format(dir=tmp_path, http=NOMAD_HTTP, rpc=NOMAD_HTTP + 1, serf=NOMAD_HTTP + 2))
    (tmp_path / "client.hcl").write_text(CLIENT_HCL.format(dir=tmp_path, http=NOMAD_HTTP + 10, rpc=NOMAD_HTTP + 11,
                                                           serf=NOMAD_HTTP + 12, server_rpc=NOMAD_HTTP + 1))
    agent = render_agent(
        {"mode": "openstack", "group": "tb-workers", "flavor_id": "flavor-xl", "image_id": "image-deb12",
         "network_id": "net-1", "security_groups": "sg-workers", "user_data_file": str(user_data)},
        {"plugin_dir": str(CACHE_DIR / "autoscaler-plugins"), "nomad_addr": f"http://127.0.0.1:{NOMAD_HTTP}",
         "policy_dir": str(tmp_path / "policies"), "prometheus": "http://127.0.0.1:1"})
    (tmp_path / "agent.hcl").write_text(agent + f'\nhttp {{\n  bind_address = "127.0.0.1"\n  bind_port = {AUTOSCALER_PORT}\n}}\n')
    (tmp_path / "policies" / "throwbox-workers.hcl").write_text(render_policy(
        {"min_workers": str(min_workers), "max_workers": str(max_workers), "cooldown": "5m", "queue_target": "5",
         "cpu_target": "70", "node_class": "throwbox-worker", "datacenter": "dc1", "drain_deadline": "10s"}))

    env = dict(os.environ, OS_AUTH_URL=f"http://127.0.0.1:{CLOUD_PORT}/identity/v3",
               OS_APPLICATION_CREDENTIAL_ID="ac-id", OS_APPLICATION_CREDENTIAL_SECRET="ac-secret",
               OS_REGION_NAME="RegionOne")
    procs = [subprocess.Popen([nomad, "agent", "-config", str(tmp_path / "nomad.hcl")], stdout=open(tmp_path / "nomad.log", "w"),
                              stderr=subprocess.STDOUT, start_new_session=True)]
    try:
        until("the private Nomad", 60, lambda: get_json(f"http://127.0.0.1:{NOMAD_HTTP}/v1/status/leader") != "")
        if with_client:
            procs.append(subprocess.Popen([nomad, "agent", "-config", str(tmp_path / "client.hcl")],
                                          stdout=open(tmp_path / "client.log", "w"), stderr=subprocess.STDOUT, start_new_session=True))
            until("the client ready", 90, lambda: [n["Status"] for n in get_json(f"http://127.0.0.1:{NOMAD_HTTP}/v1/nodes")] == ["ready"])
        procs.append(subprocess.Popen([str(autoscaler), "agent", "-config", str(tmp_path / "agent.hcl")], env=env,
                                      stdout=open(tmp_path / "agent.log", "w"), stderr=subprocess.STDOUT, start_new_session=True))
        until("the scaling action", 180, done)
        time.sleep(15)
        return (tmp_path / "agent.log").read_text()
    finally:
        for proc in reversed(procs):
            stop(proc)
        cloud.shutdown()
        cloud.server_close()
        for cgroup in Path("/sys/fs/cgroup").glob("*/throwbox-autoscaler-openstack-test"):
            for sub in sorted(cgroup.rglob("*"), key=lambda p: len(p.parts), reverse=True) + [cgroup]:
                if sub.is_dir():
                    with contextlib.suppress(OSError):
                        sub.rmdir()
        left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
        assert left.stdout == "", f"left running: {left.stdout}"


def fixed_worker() -> dict:
    return {"id": "tf-0", "name": "tb-worker-0", "status": "ACTIVE", "addr": "10.20.0.32",
            "metadata": {"throwbox-worker-group": "tb-workers", "throwbox-role": "worker"}}


def test_the_real_autoscaler_scales_the_fake_clouds_worker_group_up_to_its_minimum(tmp_path):
    log = run_autoscaler(tmp_path, {"tf-0": fixed_worker()}, 2, 3, lambda: len(FakeCloud.creates) >= 1)

    assert len(FakeCloud.creates) == 1, FakeCloud.creates
    server = FakeCloud.creates[0]
    assert re.fullmatch(r"tb-workers-as-[0-9a-f]{8}", server["name"])
    assert (server["flavorRef"], server["imageRef"]) == ("flavor-xl", "image-deb12")
    assert server["networks"] == [{"uuid": "net-1"}]
    assert server["security_groups"] == [{"name": "sg-workers"}]
    assert server["metadata"] == {"throwbox-worker-group": "tb-workers", "throwbox-autoscaled": "true", "throwbox-role": "worker"}
    assert base64.b64decode(server["user_data"]).decode() == (tmp_path / "worker-user-data").read_text()
    assert FakeCloud.auths[0]["auth"]["identity"]["application_credential"] == {"id": "ac-id", "secret": "ac-secret"}
    assert "lower than policy min value of 2" in log, log[-3000:]
    assert FakeCloud.deletes == []


def test_the_real_autoscaler_drains_the_real_nomad_node_of_an_added_server_and_deletes_only_that(tmp_path):
    added = {"id": "as-1", "name": "tb-workers-as-0000abcd", "status": "ACTIVE", "addr": "127.0.0.1",
             "metadata": {"throwbox-worker-group": "tb-workers", "throwbox-autoscaled": "true"}}
    log = run_autoscaler(tmp_path, {"tf-0": fixed_worker(), "as-1": added}, 1, 1,
                         lambda: FakeCloud.deletes != [] and get_json(f"http://127.0.0.1:{NOMAD_HTTP}/v1/nodes") == [],
                         with_client=True)

    assert FakeCloud.deletes == ["as-1"], log[-3000:]
    assert list(FakeCloud.servers) == ["tf-0"]
    assert FakeCloud.creates == []
    assert "greater than policy max value of 1" in log
    assert "triggering drain on node" in log and "successfully purged Nomad node" in log, log[-3000:]
