"""The autoscaling chain without the cluster: nomad-autoscaler v0.3.7 with the throwbox-nodes
target plugin, Prometheus (Debian's) and the policy of ops/, all started by
scripts/cluster/ops.sh, against a private Nomad (a server and two client agents of class
throwbox-worker on ports 556xx, own data dirs, no Docker driver, no Consul).

The worker script is a stand-in for scripts/cluster/worker.sh that starts and stops those client
agents (the real one starts network namespaces); the queue depth comes from a stand-in control
plane's /metrics. Queue 0 with 2 workers: the autoscaler drains, removes and purges exactly one
(min 1 here: v0.3.7 refuses a cluster minimum of 0); queue 12: it adds one back (max 2)."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from stack import REPO_DIR, binary, missing

NOMAD_HTTP = 55646
PROMETHEUS_PORT = 55690
AUTOSCALER_PORT = 55691
CP_PORT = 55692
NOMAD = f"http://127.0.0.1:{NOMAD_HTTP}"

# Loopback addresses and the given ports, for the server and each client.
ADDRESSES_HCL = """
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
"""

SERVER_HCL = """
data_dir  = "{dir}/server"
""" + ADDRESSES_HCL + """server {{
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
data_dir  = "{dir}/{name}"
name      = "{name}"
""" + ADDRESSES_HCL + """client {{
  enabled       = true
  node_class    = "throwbox-worker"
  cgroup_parent = "/throwbox-autoscaler-test-{name}"
  servers       = ["127.0.0.1:{server_rpc}"]
  # Loopback, as the stack's client: a machine (or namespace) without a default route has no
  # interface for Nomad to pick.
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

# Stand-in for scripts/cluster/worker.sh: `add` starts a client agent not running and prints
# its name last; `remove NAME` stops NAME's agent. Every call is appended to calls.
WORKER_SH = """#!/bin/sh
echo "$*" >> {dir}/calls
cd {dir}
case "$1" in
  add) for w in w1 w2; do
         if ! kill -0 "$(cat $w.pid 2>/dev/null)" 2>/dev/null; then
           setsid {nomad} agent -config $w.hcl >> $w.log 2>&1 < /dev/null &
           echo $! > $w.pid
           echo "starting $w"; echo $w; exit 0
         fi
       done
       echo "no free worker slot" >&2; exit 1 ;;
  remove) pid=$(cat $2.pid); kill -INT "$pid"
          while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
          echo "stopped $2" ;;
  *) exit 2 ;;
esac
"""


def get(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def until(what: str, timeout_s: float, fn):
    end = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < end:
        try:
            last = fn()
            if last:
                return last
        except OSError as e:
            last = e
        time.sleep(0.5)
    pytest.fail(f"{what} not within {timeout_s} s (last: {last!r})")


def pool() -> list[dict]:
    return [n for n in get(f"{NOMAD}/v1/nodes") if n["NodeClass"] == "throwbox-worker"]


def counted(nodes: list[dict]) -> list[str]:
    return sorted(n["Name"] for n in nodes
                  if n["Status"] == "ready" and n["SchedulingEligibility"] == "eligible" and not n["Drain"])


class StandInControlPlane(http.server.BaseHTTPRequestHandler):
    queued = 0

    def do_GET(self):
        body = f"# TYPE throwbox_runs_queued gauge\nthrowbox_runs_queued {type(self).queued}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def stop_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def private_nomad(tmp_path):
    nomad = binary("nomad")
    if not nomad:
        missing("nomad is not built (scripts/ensure-nomad.sh)")
    d = tmp_path
    (d / "server.hcl").write_text(SERVER_HCL.format(dir=d, http=NOMAD_HTTP, rpc=55647, serf=55648))
    for i, name in enumerate(("w1", "w2")):
        base = 55651 + 10 * i
        (d / f"{name}.hcl").write_text(CLIENT_HCL.format(dir=d, name=name, http=base, rpc=base + 1,
                                                         serf=base + 2, server_rpc=55647))
    script = d / "worker.sh"
    script.write_text(WORKER_SH.format(dir=d, nomad=nomad))
    script.chmod(0o755)
    server = subprocess.Popen([nomad, "agent", "-config", str(d / "server.hcl")], stdout=open(d / "server.log", "w"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        until("the private Nomad server", 60, lambda: get(f"{NOMAD}/v1/status/leader"))
        for _ in range(2):
            subprocess.run([str(script), "add"], check=True, capture_output=True)
        until("two ready workers", 90, lambda: len(counted(pool())) == 2)
        (d / "calls").unlink()
        yield d, script
    finally:
        for name in ("w1", "w2"):
            pid_file = d / f"{name}.pid"
            if pid_file.exists():
                stop_pid(int(pid_file.read_text()))
        stop_pid(server.pid)
        server.wait(timeout=30)
        remove_cgroups()


def remove_cgroups() -> None:
    """The clients' cpuset cgroups (cgroup v1: Nomad leaves <parent>/{reserved,shared} behind)."""
    for name in ("w1", "w2"):
        for parent in Path("/sys/fs/cgroup").glob(f"*/throwbox-autoscaler-test-{name}"):
            for sub in sorted(parent.rglob("*"), key=lambda p: len(p.parts), reverse=True) + [parent]:
                if sub.is_dir():
                    with contextlib.suppress(OSError):
                        sub.rmdir()


def test_the_autoscaler_removes_one_drained_worker_then_adds_one(private_nomad, tmp_path_factory):
    for tool in ("prometheus", "promtool"):
        if not binary(tool):
            missing(f"{tool} is not installed (scripts/ensure-prometheus.sh)")
    d, script = private_nomad
    cp = http.server.ThreadingHTTPServer(("127.0.0.1", CP_PORT), StandInControlPlane)
    threading.Thread(target=cp.serve_forever, daemon=True).start()
    ops_dir = tmp_path_factory.mktemp("ops")
    env = dict(os.environ, CLUSTER_STATE_DIR=str(ops_dir), CLUSTER_NOMAD_ADDR=NOMAD,
               CLUSTER_CONSUL_ADDR="http://127.0.0.1:1", CLUSTER_CONTROL_PLANES=f"127.0.0.1:{CP_PORT}",
               CLUSTER_WORKER_CMD=str(script), CLUSTER_MIN_WORKERS="1", CLUSTER_MAX_WORKERS="2",
               CLUSTER_AUTOSCALE_COOLDOWN="15s", CLUSTER_PROMETHEUS_PORT=str(PROMETHEUS_PORT),
               CLUSTER_AUTOSCALER_PORT=str(AUTOSCALER_PORT))
    ops = str(REPO_DIR / "scripts" / "cluster" / "ops.sh")
    StandInControlPlane.queued = 0
    try:
        r = subprocess.run([ops, "start"], env=env, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stderr
        calls = d / "calls"

        # Queue empty, 2 workers, min 1: exactly one is drained, removed and purged.
        until("a scale-in", 120, lambda: calls.exists() and "remove" in calls.read_text())
        removed = calls.read_text().split()[-1]
        until("the removed node purged", 30, lambda: removed not in [n["Name"] for n in pool()])
        assert len(counted(pool())) == 1
        log = (ops_dir / "logs" / "ops-autoscaler.log").read_text()
        assert "draining node:" in log and f"node={removed}" in log

        # A backlog: 12 queued for target 5 asks for 3 workers, capped at 2: one is added.
        StandInControlPlane.queued = 12
        until("a scale-out", 120, lambda: "add" in calls.read_text().split())
        until("2 workers again", 60, lambda: len(counted(pool())) == 2)
        time.sleep(20)    # past the cooldown: still 2 (max) and still one remove only
        assert calls.read_text().split("\n").count(f"remove {removed}") == 1
        assert len(counted(pool())) == 2

        status = subprocess.run([ops, "status"], env=env, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "throwbox-control-plane up=1" in status.stdout
    finally:
        subprocess.run([ops, "stop"], env=env, capture_output=True, timeout=120)
        cp.shutdown()
        cp.server_close()
    left = subprocess.run(["pgrep", "-f", str(ops_dir)], capture_output=True, text=True)
    assert left.stdout == "", f"left running: {left.stdout}"
