"""Disturbing and restoring the shared stack, for the failure tests (tests/integration/test_failures.py).

Everything here waits with deadlines and polling, never with fixed sleeps: the machine may be a
loaded 2-core VM. `restore_stack()` brings every shared service back and waits until it is
healthy (Kafka with its topics, Consul with a leader, Nomad with the deployed agent's pools
full), so later tests and reruns start from a healthy stack.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import agent_process
from agent_process import agent_health, get_json, http_json, pools_full, wait_until
from pipeline import Pipeline, make_job
from stack import CONSUL_ADDR, KAFKA_BOOTSTRAP, NOMAD_ADDR, REPO_DIR

from throwbox_common import topics

__all__ = ["AgentProcess", "agent_health", "consul_leader", "consul_serving_keys", "container_running",
           "http_json", "kafka_ready", "nomad_alloc", "nomad_ready", "pools_full", "purge_job", "restore_stack",
           "script"]

VENV_BIN = Path(sys.executable).parent
SCRIPTS = REPO_DIR / "scripts"
STATE_DIR = Path(os.environ.get("THROWBOX_STATE_DIR", REPO_DIR / ".state"))


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
    status, body = get_json(f"{CONSUL_ADDR}/v1/status/leader")
    return status == 200 and bool(body)


def consul_serving_keys() -> bool:
    """A leader is not enough: right after a restart Consul answers 404 for every KV key for a
    moment (its state is still being restored). The API keys are there again when this is true."""
    status, body = get_json(f"{CONSUL_ADDR}/v1/kv/throwbox/keys/?keys")
    return status == 200 and bool(body)


def nomad_ready() -> bool:
    status, nodes = get_json(f"{NOMAD_ADDR}/v1/nodes")
    return status == 200 and any(
        n["Status"] == "ready" and n["Drivers"].get("docker", {}).get("Healthy") for n in nodes)


def restore_stack(timeout_s: float = 300) -> None:
    """Start whatever of Kafka, Consul and Nomad is down (the stack's own scripts) and wait
    until all are healthy and the deployed agent's pools are full again."""
    if not kafka_ready():
        script("start-kafka.sh")
    if not consul_leader():
        script("start-consul.sh")
    if not nomad_ready():
        script("start-nomad.sh")
    for check, what in ((kafka_ready, "Kafka with its topics"), (consul_leader, "a Consul leader"),
                        (consul_serving_keys, "Consul serving the API keys again"),
                        (nomad_ready, "a ready Nomad node"),
                        (lambda: pools_full(agent_health()), "the deployed agent healthy with full pools")):
        # A service that is still coming back may refuse connections: not yet, not a failure.
        wait_until(check, timeout_s, what, retry_on=(Exception,))
    took_s = agents_consume_every_partition(timeout_s)
    print(f"[restore_stack] a canary run on every runs partition completed after {took_s:.1f}s")


def agents_consume_every_partition(timeout_s: float) -> float:
    """Healthy services and full pools do not yet mean the agents take work: after Kafka or an
    agent went away, the consumer group must rejoin and rebalance first. One trivial run on each
    partition of throwbox.runs, each completed, proves whoever owns it consumes again. Seconds taken."""
    partitions = next(t.partitions for t in topics.TOPICS if t.name == topics.RUNS)

    async def canaries() -> None:
        pipe = Pipeline(KAFKA_BOOTSTRAP)
        await pipe.start()
        try:
            jobs = [make_job("print('canary')") for _ in range(partitions)]
            for partition, job in enumerate(jobs):
                await pipe.submit(job, partition=partition)
            end = time.monotonic() + timeout_s
            for partition, job in enumerate(jobs):
                try:
                    finished = await pipe.result(job.run_id, max(1.0, end - time.monotonic()))
                except TimeoutError:
                    raise AssertionError(f"no agent finished a canary run on {topics.RUNS}/{partition} "
                                         f"within {timeout_s:.0f}s") from None
                result = finished.result
                assert (result.status, result.stdout) == ("completed", "canary\n"), (partition, result)
        finally:
            await pipe.close()

    started = time.monotonic()
    asyncio.run(canaries())
    return time.monotonic() - started


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


class AgentProcess(agent_process.AgentProcess):
    """A second executor agent on the same topic and consumer group as the deployed one
    (every runtime, like it), with its own name, metrics port and pool jobs."""

    def __init__(self, pool_sizes: str = "python=2"):   # the others: runtimes.toml warm (0: on demand)
        super().__init__(pool_sizes, prefix="failover", own_topic=False, sandbox_cpu_mhz=100, drain_timeout_s=30)
