"""A private Nomad (server + client) with its own Consul, for tests that deploy Throwbox's jobs
(an executor agent system job, control planes) without competing with the single-node stack:
own data dir, ports, node name and cgroup parent; the same Docker engine (dangling-container
reaping off, so the stack's sandboxes are safe). The Nomad blocks come from
scripts/nomad/config.sh, as the stack's and the local cluster's do.

    with private_nomad(name="tfacc", nomad_port=54646, consul_port=58500) as stack:
        ... stack.nomad_addr, stack.consul_addr ...

Afterwards both are stopped, the node's containers removed and its data dir deleted.

acl=True: Nomad and Consul as the local cluster runs them (scripts/nomad/config.sh's ACL blocks,
gossip encryption), secured by the cluster's own scripts/nomad/acl.py; the tokens are files in
stack.secrets (stack.token_file("nomad-agent") ...), the tests use stack.nomad_token etc.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from stack import REPO_DIR, binary

ACL_SCRIPT = REPO_DIR / "scripts" / "nomad" / "acl.py"


def _get(url: str, timeout_s: float = 2.0, headers: dict | None = None):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout_s) as r:
        return json.load(r)


def _wait(what: str, check, timeout_s: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{what} not ready after {timeout_s:.0f}s:\n{log.read_text()[-3000:]}")


class PrivateNomad:
    def __init__(self, name: str, nomad_port: int, consul_port: int, dynamic_ports: tuple[int, int],
                 acl: bool = False):
        self.name = name
        self.acl = acl
        self.nomad_port = nomad_port
        self.consul_port = consul_port
        self.dynamic_ports = dynamic_ports
        self.dir = Path(tempfile.mkdtemp(prefix=f"throwbox-{name}-"))
        self.procs: list[subprocess.Popen] = []
        self.node_id: str | None = None
        self.secrets = self.dir / "secrets"

    def token_file(self, stem: str) -> Path:
        """A token file of scripts/nomad/acl.py (nomad-management, nomad-agent, consul-agent ...)."""
        return self.secrets / f"{stem}.token"

    def token(self, stem: str) -> str:
        return self.token_file(stem).read_text().split()[0]

    @property
    def nomad_headers(self) -> dict[str, str]:
        """The management token's header (none without ACLs): for the tests' own calls."""
        return {"X-Nomad-Token": self.token("nomad-management")} if self.acl else {}

    @property
    def consul_headers(self) -> dict[str, str]:
        return {"X-Consul-Token": self.token("consul-management")} if self.acl else {}

    @property
    def nomad_addr(self) -> str:
        return f"http://127.0.0.1:{self.nomad_port}"

    @property
    def consul_addr(self) -> str:
        return f"http://127.0.0.1:{self.consul_port}"

    def _spawn(self, name: str, argv: list[str], env: dict | None = None) -> tuple[subprocess.Popen, Path]:
        log = self.dir / f"{name}.log"
        proc = subprocess.Popen(argv, stdout=log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env={**os.environ, **(env or {})})
        self.procs.append(proc)
        return proc, log

    def _nomad_config(self) -> str:
        acl = f"nomad_acl_block {self.secrets}" if self.acl else ""
        token = f"nomad_consul_token {self.secrets}" if self.acl else ""
        gossip = f'NOMAD_GOSSIP_KEY="$(head -n1 {self.secrets}/nomad-gossip.key)"' if self.acl else ""
        script = f"""
source {REPO_DIR}/scripts/nomad/config.sh
{gossip}
cat <<HCL
name                 = "{self.name}"
data_dir             = "{self.dir}/nomad"
bind_addr            = "127.0.0.1"
log_level            = "INFO"
disable_update_check = true
ports {{
  http = {self.nomad_port}
  rpc  = {self.nomad_port + 1}
  serf = {self.nomad_port + 2}
}}
advertise {{
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}}
HCL
nomad_server_block 1
{acl}
cat <<HCL
client {{
  enabled           = true
  servers           = ["127.0.0.1:{self.nomad_port + 1}"]
  network_interface = "lo"
  # Not the stack's dynamic port range: both clients share the loopback interface.
  min_dynamic_port  = {self.dynamic_ports[0]}
  max_dynamic_port  = {self.dynamic_ports[1]}
HCL
nomad_client_tuning nomad-{self.name} "${{THROWBOX_SANDBOX_RUNTIME:-runsc-go}}"
echo "}}"
cat <<HCL
consul {{
  address = "127.0.0.1:{self.consul_port}"
HCL
{token}
echo "}}"
nomad_client_plugins false
"""
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout

    def start(self) -> None:
        consul, nomad = binary("consul"), binary("nomad")
        assert consul and nomad, "no consul/nomad binary (make up builds them)"
        p = self.consul_port
        extra = []
        if self.acl:
            subprocess.run([sys.executable, str(ACL_SCRIPT), "init", str(self.secrets)], check=True)
            consul_acl = self.dir / "consul-acl.hcl"
            _write_private(consul_acl, subprocess.run(
                ["bash", "-c", f"source {REPO_DIR}/scripts/nomad/config.sh; consul_acl_block {self.secrets} true"],
                capture_output=True, text=True, check=True).stdout)
            extra = ["-config-file", str(consul_acl)]
        proc, log = self._spawn("consul", [
            consul, "agent", "-dev", "-node", self.name, "-bind", "127.0.0.1", "-client", "127.0.0.1",
            "-http-port", str(p), "-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1",
            "-serf-lan-port", str(p + 1), "-serf-wan-port", str(p + 2), "-server-port", str(p + 3), *extra])
        _wait("private consul", lambda: bool(_get(f"{self.consul_addr}/v1/status/leader")), 60, proc, log)
        config = self.dir / "nomad.hcl"
        _write_private(config, self._nomad_config())
        proc, log = self._spawn("nomad", [nomad, "agent", "-config", str(config)], env={"GOGC": "400"})
        if self.acl:
            _wait("private nomad's API", lambda: bool(_get(f"{self.nomad_addr}/v1/status/leader")), 60, proc, log)
            out = subprocess.run([sys.executable, str(ACL_SCRIPT), "apply", str(self.secrets), "--consul",
                                  self.consul_addr, "--nomad", self.nomad_addr], capture_output=True, text=True)
            assert out.returncode == 0, f"acl.py apply: {out.stderr}\n{self.logs()}"
        h = self.nomad_headers

        def ready() -> bool:
            nodes = [n for n in _get(f"{self.nomad_addr}/v1/nodes", headers=h)
                     if n["Name"] == self.name and n["Status"] == "ready"]
            if not nodes:
                return False
            node = _get(f"{self.nomad_addr}/v1/node/{nodes[0]['ID']}", headers=h)
            if all(node["Drivers"].get(d, {}).get("Healthy") for d in ("docker", "raw_exec")):
                self.node_id = node["ID"]
                return True
            return False
        _wait("private nomad", ready, 120, proc, log)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.dir.glob("*.log")))

    def _own_processes(self) -> list[int]:
        """Processes of this Nomad's tasks: raw_exec tasks and their executors outlive a stopped
        Nomad agent by design. Found by their command line or working directory in our dir."""
        mine = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
                cwd = os.readlink(proc / "cwd")
            except OSError:
                continue
            if str(self.dir) in cmdline or cwd.startswith(str(self.dir)):
                mine.append(int(proc.name))
        return mine

    def stop(self) -> None:
        # Whatever a failed test left registered: stopped through Nomad first (tasks get their
        # kill signal), briefly; whatever still runs afterwards is killed below.
        if self.procs and self.procs[-1].poll() is None:
            h = self.nomad_headers
            try:
                for job in _get(f"{self.nomad_addr}/v1/jobs?namespace=*", headers=h):
                    req = urllib.request.Request(
                        f"{self.nomad_addr}/v1/job/{urllib.parse.quote(job['ID'], safe='')}?purge=true"
                        f"&namespace={job['Namespace']}", method="DELETE", headers=h)
                    urllib.request.urlopen(req, timeout=10).close()
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and any(
                        a["ClientStatus"] in ("running", "pending")
                        for a in _get(f"{self.nomad_addr}/v1/allocations?namespace=*", headers=h)):
                    time.sleep(1)
            except OSError:
                pass
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
        self.procs.clear()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self._own_processes():
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)
            time.sleep(2)
        if self.node_id:
            # This node's containers only (the docker plugin labels each with its node id).
            ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.hashicorp.nomad.node_id={self.node_id}"],
                                 capture_output=True, text=True).stdout.split()
            if ids:
                subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
        # Secrets dirs and the like stay mounted when a client is killed: unmount ours only.
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()
                  if line.split()[1].startswith(str(self.dir) + "/")]
        for mount in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def _write_private(path: Path, text: str) -> None:
    """A config that carries secrets: 0600 from the start."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


@contextlib.contextmanager
def private_nomad(name: str, nomad_port: int, consul_port: int, dynamic_ports: tuple[int, int],
                  acl: bool = False):
    stack = PrivateNomad(name, nomad_port, consul_port, dynamic_ports, acl)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
