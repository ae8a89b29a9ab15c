"""Disturbing and restoring the shared stack, for the failure tests (tests/integration/test_failures.py).

Everything here waits with deadlines and polling, never with fixed sleeps: the machine may be a
loaded 2-core VM. `restore_stack()` brings every shared service back and waits until it is
healthy (Kafka with its topics, Consul with a leader, Nomad with the deployed agent's pools
full), so later tests and reruns start from a healthy stack.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from stack import AGENT_HEALTH_URL, CONSUL_ADDR, KAFKA_BOOTSTRAP, NOMAD_ADDR, REPO_DIR

VENV_BIN = Path(sys.executable).parent
SCRIPTS = REPO_DIR / "scripts"
STATE_DIR = Path(os.environ.get("THROWBOX_STATE_DIR", REPO_DIR / ".state"))


def wait_until(check, timeout_s: float, what: str, interval_s: float = 0.25):
    """Poll `check` until it returns something truthy; its value. AssertionError after the deadline."""
    end = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as e:  # a service that is still coming back may refuse connections
            last_error = e
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}"
                                 + (f" (last error: {last_error!r})" if last_error else ""))
        time.sleep(interval_s)


def http_json(url: str, method: str = "GET", body: bytes | None = None, timeout_s: float = 5):
    req = urllib.request.Request(url, method=method, data=body)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            data = r.read()
            return r.status, (json.loads(data) if data else None)
    except urllib.error.HTTPError as e:
        data = e.read()
        try:
            return e.code, json.loads(data)
        except ValueError:
            return e.code, data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def script(name: str, *args: str, timeout_s: float = 300) -> None:
    out = subprocess.run([str(SCRIPTS / name), *args], capture_output=True, text=True, timeout=timeout_s,
                         cwd=REPO_DIR)
    if out.returncode != 0:
        raise AssertionError(f"scripts/{name} failed ({out.returncode}):\n{out.stderr[-3000:]}")


# ---------------------------------------------------------------- health of each shared service


def kafka_ready() -> bool:
    out = subprocess.run([str(VENV_BIN / "python"), str(SCRIPTS / "create_topics.py"), "--bootstrap",
                          KAFKA_BOOTSTRAP, "--check", "--wait-s", "5"], capture_output=True, timeout=60)
    return out.returncode == 0


def consul_leader() -> bool:
    try:
        status, body = http_json(f"{CONSUL_ADDR}/v1/status/leader", timeout_s=2)
    except OSError:
        return False
    return status == 200 and bool(body)


def consul_serving_keys() -> bool:
    """A leader is not enough: right after a restart Consul answers 404 for every KV key for a
    moment (its state is still being restored). The API keys are there again when this is true."""
    try:
        status, body = http_json(f"{CONSUL_ADDR}/v1/kv/throwbox/keys/?keys", timeout_s=2)
    except OSError:
        return False
    return status == 200 and bool(body)


def nomad_ready() -> bool:
    try:
        status, nodes = http_json(f"{NOMAD_ADDR}/v1/nodes", timeout_s=3)
    except OSError:
        return False
    if status != 200:
        return False
    return any(n["Status"] == "ready" and n["Drivers"].get("docker", {}).get("Healthy") for n in nodes)


def agent_health(url: str = AGENT_HEALTH_URL) -> dict | None:
    try:
        status, body = http_json(url, timeout_s=3)
    except OSError:
        return None
    return body if status == 200 and isinstance(body, dict) else None


def pools_full(health: dict | None) -> bool:
    return bool(health) and health["status"] == "ok" and all(
        p["idle"] >= p["size"] for p in health["pools"].values())


def restore_stack(timeout_s: float = 300) -> None:
    """Start whatever of Kafka, Consul and Nomad is down (the stack's own scripts) and wait
    until all are healthy and the deployed agent's pools are full again."""
    if not kafka_ready():
        script("start-kafka.sh")
    if not consul_leader():
        script("start-consul.sh")
    if not nomad_ready():
        script("start-nomad.sh")
    wait_until(kafka_ready, timeout_s, "Kafka with its topics")
    wait_until(consul_leader, timeout_s, "a Consul leader")
    wait_until(consul_serving_keys, timeout_s, "Consul serving the API keys again")
    wait_until(nomad_ready, timeout_s, "a ready Nomad node")
    wait_until(lambda: pools_full(agent_health()), timeout_s, "the deployed agent healthy with full pools")


# ---------------------------------------------------------------- Nomad


def nomad_alloc(alloc_id: str) -> dict:
    status, body = http_json(f"{NOMAD_ADDR}/v1/allocation/{alloc_id}")
    assert status == 200, (status, body)
    return body


def purge_job(job_id: str) -> None:
    http_json(f"{NOMAD_ADDR}/v1/job/{job_id}?purge=true", method="DELETE")


def container_running(alloc_id: str) -> bool:
    out = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", f"sandbox-{alloc_id}"],
                         capture_output=True, text=True, timeout=30)
    return out.returncode == 0 and out.stdout.strip() == "true"


# ---------------------------------------------------------------- a second executor agent


class AgentProcess:
    """A second executor agent on the same topic and consumer group as the deployed one
    (every runtime, like it), with its own name, metrics port and pool jobs."""

    def __init__(self, pool_sizes: str = "python=2,*=1"):
        self.name = f"failover-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.pool_sizes = pool_sizes
        self.log_path = Path("/tmp") / f"throwbox-agent-{self.name}.log"
        self.proc: subprocess.Popen | None = None
        self.job_ids: list[str] = []

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"

    def start(self, timeout_s: float = 240) -> AgentProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("THROWBOX_AGENT_")}
        env.update({
            "THROWBOX_AGENT_NAME": self.name, "THROWBOX_AGENT_METRICS_LISTEN": f"127.0.0.1:{self.port}",
            "THROWBOX_AGENT_POOL_SIZES": self.pool_sizes, "THROWBOX_AGENT_SANDBOX_CPU_MHZ": "100",
            "THROWBOX_AGENT_KAFKA_BOOTSTRAP": KAFKA_BOOTSTRAP, "THROWBOX_AGENT_CONSUL_ADDR": CONSUL_ADDR,
            "THROWBOX_AGENT_NOMAD_ADDR": NOMAD_ADDR, "THROWBOX_AGENT_STOP_POOLS_ON_EXIT": "true",
            "THROWBOX_AGENT_DRAIN_TIMEOUT_S": "30", "PYTHONUNBUFFERED": "1",
        })
        log = open(self.log_path, "w")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen([str(VENV_BIN / "throwbox-agent")], env=env, cwd=REPO_DIR,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited {self.proc.returncode}:\n{self.log_tail()}")
            h = agent_health(self.health_url)
            if h:
                self.job_ids = [p["job"] for p in h["pools"].values()]
            return pools_full(h)
        try:
            wait_until(up, timeout_s, f"agent {self.name} healthy with full pools")
        except (AssertionError, RuntimeError) as e:
            self.stop()
            raise AssertionError(f"{e}\n{self.log_tail()}") from None
        return self

    def kill(self) -> None:
        """SIGKILL: no drain, no deregistration, its sandboxes left behind."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        for job in self.job_ids:   # whatever it left (after a SIGKILL: all of them)
            purge_job(job)
        http_json(f"{CONSUL_ADDR}/v1/agent/service/deregister/throwbox-agent-{self.name}", method="PUT")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
