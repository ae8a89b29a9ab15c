"""Private executor agents for integration tests (the real agent code, the real stack), and the
small HTTP and polling helpers the test helpers share.

    from agent_process import AgentProcess, private_agent, private_pipeline, wait_until

`AgentProcess(pool_sizes, prefix)` starts `throwbox-agent` as a subprocess with its own name,
metrics port and Nomad pool jobs, and by default its own runs topic and consumer group, so it
neither disturbs nor is disturbed by the deployed agent (`own_topic=False`: it joins the deployed
agent's topic and group and takes a share of the real traffic, as the failure tests want).
`.start()` waits until its pools are full, `.stop()` sends SIGTERM and, whatever happened,
purges its Nomad pool jobs and its Consul registration. Submit to it with
`pipeline.Pipeline(bootstrap, a.runs_topic)`.

A test module's fixtures wrap the two context managers:

    @pytest.fixture(scope="module")
    def agent():
        with private_agent({PYTHON: 2}, prefix="mine") as a:    # the stack and images required
            yield a                                               # its runs topic created/deleted

    @pytest.fixture
    async def pipe(agent):
        async with private_pipeline(agent) as p:
            yield p
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from pipeline import Pipeline, delete_topic, ensure_topic
from stack import (
    AGENT_HEALTH_URL,
    CONSUL_ADDR,
    KAFKA_BOOTSTRAP,
    NOMAD_ADDR,
    REPO_DIR,
    require_image,
    require_stack,
)

from throwbox_common.polling import wait_until
from throwbox_common.runtimes import Runtime

__all__ = ["AgentProcess", "agent_health", "free_port", "get_json", "http_json", "nomad", "pools_full",
           "private_agent", "private_pipeline", "wait_until"]

VENV_BIN = Path(sys.executable).parent


# ---------------------------------------------------------------- HTTP


def http_json(url: str, method: str = "GET", body: bytes | None = None, timeout_s: float = 5):
    """(status, JSON body, or the raw bytes when it is not JSON); an HTTP error status is an
    answer too. OSError when nothing answers."""
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


def get_json(url: str):
    """GET: (status, JSON body); (0, None) when nothing answers."""
    try:
        return http_json(url, timeout_s=3)
    except OSError:
        return 0, None


def nomad(method: str, path: str):
    """A Nomad API call: its JSON body; urllib.error.HTTPError on an error status."""
    req = urllib.request.Request(NOMAD_ADDR + path, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
        return json.loads(body) if body else None


def sandbox_allocs(pool_job: str) -> list[dict]:
    """The allocations of the sandboxes dispatched from a pool job (each one a job of its own)."""
    prefix = f"{pool_job}/dispatch-"
    allocs = nomad("GET", "/v1/allocations?filter=" + urllib.parse.quote(f'JobID contains "{prefix}"'))
    return [a for a in allocs if a["JobID"].startswith(prefix)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def agent_health(url: str = AGENT_HEALTH_URL) -> dict | None:
    """An agent's /healthz body while it is serving (status ok); None otherwise."""
    status, body = get_json(url)
    return body if status == 200 and isinstance(body, dict) else None


def pools_full(health: dict | None) -> bool:
    """Every pool holds its idle sandboxes (a dormant pool, whose image is missing, holds none
    until it is built: it is not waited for)."""
    return bool(health) and health["status"] == "ok" and all(
        p.get("dormant") or p["idle"] >= p["size"] for p in health["pools"].values())


# ---------------------------------------------------------------- a private agent


class AgentProcess:
    def __init__(self, runtimes: dict[Runtime, int] | str, prefix: str = "test", start_timeout_s: float = 240, *,
                 own_topic: bool = True, sandbox_cpu_mhz: int = 20, drain_timeout_s: int = 20,
                 kafka_bootstrap: str = KAFKA_BOOTSTRAP, settings: dict[str, str] | None = None):
        """`runtimes`: warm sandboxes per runtime (0: an on-demand pool, which creates a sandbox
        only for a waiting run; every other runtime gets no pool), or the text of
        THROWBOX_AGENT_POOL_SIZES. The default CPU reservation is small: the node is shared
        with the deployed agent's pools. `kafka_bootstrap`: the stack's broker, or a private one
        (tests/private_kafka.py) that must have the project's topics and the runs topic.
        `settings`: more THROWBOX_AGENT_* settings."""
        self.pool_sizes = runtimes if isinstance(runtimes, str) else (
            ",".join(f"{r.key}={n or 'demand'}" for r, n in runtimes.items()) + ",*=0")
        self.start_timeout_s = start_timeout_s
        self.sandbox_cpu_mhz = sandbox_cpu_mhz
        self.drain_timeout_s = drain_timeout_s
        self.kafka_bootstrap = kafka_bootstrap
        self.settings = dict(settings or {})
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.runs_topic = f"throwbox.runs.{self.name}" if own_topic else None
        self.log_path = Path("/tmp") / f"throwbox-agent-{self.name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"

    def job_of(self, runtime: Runtime) -> str:
        return f"throwbox-sandbox-{self.name}-{runtime.language}-{runtime.version}".replace(".", "-")

    def start(self, timeout_s: float | None = None) -> AgentProcess:
        """Start the agent and wait until it is healthy with full pools (AssertionError with its
        log otherwise, at once if it exits)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("THROWBOX_AGENT_")}
        env.update({
            "THROWBOX_AGENT_NAME": self.name, "THROWBOX_AGENT_METRICS_LISTEN": f"127.0.0.1:{self.port}",
            "THROWBOX_AGENT_POOL_SIZES": self.pool_sizes, "THROWBOX_AGENT_SANDBOX_CPU_MHZ": str(self.sandbox_cpu_mhz),
            "THROWBOX_KAFKA_BOOTSTRAP": self.kafka_bootstrap, "THROWBOX_CONSUL_ADDR": CONSUL_ADDR,
            "THROWBOX_NOMAD_ADDR": NOMAD_ADDR, "THROWBOX_AGENT_STOP_POOLS_ON_EXIT": "true",
            "THROWBOX_AGENT_DRAIN_TIMEOUT_S": str(self.drain_timeout_s), "PYTHONUNBUFFERED": "1",
            **self.settings,
        })
        if self.runs_topic is not None:
            env.update({"THROWBOX_AGENT_RUNS_TOPIC": self.runs_topic,
                        "THROWBOX_AGENT_CONSUMER_GROUP": f"throwbox-agents-{self.name}"})
        with open(self.log_path, "w") as log:   # the child keeps its own descriptor
            self.proc = subprocess.Popen([str(VENV_BIN / "throwbox-agent")], env=env, cwd=REPO_DIR,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"agent {self.name} exited {self.proc.returncode}")
            return pools_full(agent_health(self.health_url))
        try:
            wait_until(up, self.start_timeout_s if timeout_s is None else timeout_s,
                       f"agent {self.name} healthy with full pools")
        except AssertionError as e:
            self.stop()
            raise AssertionError(f"agent did not come up: {e}; log:\n{self.log_tail(60)}") from None
        return self

    def health(self) -> dict:
        return get_json(self.health_url)[1]

    def all_idle(self) -> bool:
        return all(p["idle"] == p["size"] for p in self.health()["pools"].values())

    def pool(self, runtime: Runtime) -> dict:
        return self.health()["pools"][runtime.key]

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=3) as r:
            return r.read().decode()

    def signal_stop(self) -> None:
        """SIGTERM, without waiting: the agent drains and exits on its own."""
        self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: no drain, no deregistration, its sandboxes left behind."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        """SIGTERM (SIGKILL after a minute); then, whatever happened (after a kill: all of it),
        no pool job, sandbox job or Consul registration of this agent stays behind."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        status, jobs = get_json(f"{NOMAD_ADDR}/v1/jobs?prefix=throwbox-sandbox-{self.name}-")
        for job in (jobs if status == 200 and jobs else []):
            if job.get("ParentID") and job.get("Status") == "dead":
                continue        # an ended sandbox: Nomad's job GC takes it (a purge costs an evaluation)
            http_json(f"{NOMAD_ADDR}/v1/job/{urllib.parse.quote(job['ID'], safe='')}?purge=true", method="DELETE")
        with contextlib.suppress(OSError):
            http_json(f"{CONSUL_ADDR}/v1/agent/service/deregister/throwbox-agent-{self.name}", method="PUT")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextlib.contextmanager
def private_agent(runtimes: dict[Runtime, int], prefix: str = "test", start_timeout_s: float = 240,
                  settings: dict[str, str] | None = None):
    """A started AgentProcess with its runs topic (the stack and the runtimes' images required);
    afterwards the agent is stopped and the topic deleted."""
    require_stack("docker", "kafka", "consul", "nomad")
    for runtime in runtimes:
        require_image(runtime.image)
    a = AgentProcess(runtimes, prefix, start_timeout_s, settings=settings)
    asyncio.run(ensure_topic(KAFKA_BOOTSTRAP, a.runs_topic))
    a.start()
    try:
        yield a
    finally:
        a.stop()
        asyncio.run(delete_topic(KAFKA_BOOTSTRAP, a.runs_topic))


@contextlib.asynccontextmanager
async def private_pipeline(agent: AgentProcess):
    """A started Pipeline submitting to the agent's runs topic, closed afterwards."""
    p = Pipeline(KAFKA_BOOTSTRAP, agent.runs_topic)
    await p.start()
    try:
        yield p
    finally:
        await p.close()
