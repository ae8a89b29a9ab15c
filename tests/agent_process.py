"""A private executor agent for an integration test module (the real agent code, the real stack).

    from agent_process import AgentProcess, private_agent, private_pipeline, wait_until

`AgentProcess(pool_sizes, prefix)` starts `throwbox-agent` as a subprocess with its own name,
runs topic, consumer group and metrics port, so it neither disturbs nor is disturbed by the
deployed agent; `.start()` waits until its pools are idle, `.stop()` sends SIGTERM and purges
its Nomad pool jobs whatever happened. Submit to it with `pipeline.Pipeline(bootstrap, a.runs_topic)`.

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
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from pipeline import Pipeline, delete_topic, ensure_topic
from stack import CONSUL_ADDR, KAFKA_BOOTSTRAP, NOMAD_ADDR, REPO_DIR, require_image, require_stack

from throwbox_common.runtimes import Runtime

VENV_BIN = Path(sys.executable).parent


def wait_until(check, timeout_s: float, what: str, interval_s: float = 0.1):
    """check() until it returns something truthy (returned), or fail after timeout_s."""
    end = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)


def nomad(method: str, path: str):
    req = urllib.request.Request(NOMAD_ADDR + path, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
        return json.loads(body) if body else None


def get_json(url: str):
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
    except OSError:
        return 0, None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AgentProcess:
    def __init__(self, runtimes: dict[Runtime, int], prefix: str = "test", start_timeout_s: float = 240):
        self.runtimes = runtimes
        self.start_timeout_s = start_timeout_s
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.port = _free_port()
        self.runs_topic = f"throwbox.runs.{self.name}"
        self.log_path = Path("/tmp") / f"throwbox-agent-{self.name}.log"
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"

    def job_of(self, runtime: Runtime) -> str:
        return f"throwbox-sandbox-{self.name}-{runtime.language}-{runtime.version}".replace(".", "-")

    def start(self) -> None:
        sizes = ",".join(f"{r.key}={n}" for r, n in self.runtimes.items()) + ",*=0"
        env = {k: v for k, v in os.environ.items() if not k.startswith("THROWBOX_AGENT_")}
        env.update({
            "THROWBOX_AGENT_NAME": self.name, "THROWBOX_AGENT_METRICS_LISTEN": f"127.0.0.1:{self.port}",
            "THROWBOX_AGENT_POOL_SIZES": sizes, "THROWBOX_AGENT_RUNS_TOPIC": self.runs_topic,
            "THROWBOX_AGENT_CONSUMER_GROUP": f"throwbox-agents-{self.name}",
            "THROWBOX_AGENT_KAFKA_BOOTSTRAP": KAFKA_BOOTSTRAP, "THROWBOX_AGENT_CONSUL_ADDR": CONSUL_ADDR,
            "THROWBOX_AGENT_NOMAD_ADDR": NOMAD_ADDR, "THROWBOX_AGENT_STOP_POOLS_ON_EXIT": "true",
            "THROWBOX_AGENT_DRAIN_TIMEOUT_S": "20", "PYTHONUNBUFFERED": "1",
            # A small reservation: the node is shared with the deployed agent's pools.
            "THROWBOX_AGENT_SANDBOX_CPU_MHZ": "20",
        })
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([str(VENV_BIN / "throwbox-agent")], env=env, cwd=REPO_DIR,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until(lambda: self.all_idle() if self._healthy() else False, self.start_timeout_s,
                       f"agent {self.name} healthy with full pools")
        except AssertionError:
            self.stop()
            raise AssertionError(f"agent did not come up; log:\n{self.log_path.read_text()[-3000:]}") from None

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"agent exited {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
        return get_json(self.health_url)[0] == 200

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

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for runtime in self.runtimes:       # whatever happened: no pool job of ours stays behind
            try:
                nomad("DELETE", f"/v1/job/{self.job_of(runtime)}?purge=true")
            except urllib.error.HTTPError:
                pass
        if self._log:
            self._log.close()


@contextlib.contextmanager
def private_agent(runtimes: dict[Runtime, int], prefix: str = "test", start_timeout_s: float = 240):
    """A started AgentProcess with its runs topic (the stack and the runtimes' images required);
    afterwards the agent is stopped and the topic deleted."""
    require_stack("docker", "kafka", "consul", "nomad")
    for runtime in runtimes:
        require_image(runtime.image)
    a = AgentProcess(runtimes, prefix, start_timeout_s)
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
