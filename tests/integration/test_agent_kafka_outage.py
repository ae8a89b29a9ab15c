"""A run that finishes while Kafka is down keeps its real result (issue 5).

The module has its own Kafka broker (tests/private_kafka.py: the stack's scripts on port 19192,
data under /tmp) and a private agent pointed at it, so stopping and restarting Kafka disturbs
nobody. Each test submits a run that prints, sleeps and prints again, stops the broker while it
runs, waits until the run's sandbox is gone (the program has ended; the agent destroyed the
sandbox without waiting for Kafka), starts the broker again on the same data and expects the
run's real result: `completed` with its whole stdout, started once, run once.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess

import pytest
from agent_process import AgentProcess, wait_until
from aiokafka.admin import AIOKafkaAdminClient
from pipeline import Pipeline, ensure_topic, make_job
from private_kafka import private_kafka
from stack import require_image, require_stack

from throwbox_common import kafka_client, runtimes
from throwbox_common.messages import Finished, Output, Started

REGISTRY = runtimes.load()
PYTHON = REGISTRY.resolve("python")
KAFKA_PORT = 19192                    # shared broker 9092, benchmarks 19092
SLEEP_S = 20                          # long enough to stop the broker while the program sleeps
CODE = f'import time\nprint("first")\ntime.sleep({SLEEP_S})\nprint("second")\n'

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def kafka():
    require_stack("docker", "consul", "nomad")
    require_image(PYTHON.image)
    with private_kafka(KAFKA_PORT) as k:
        yield k


@pytest.fixture(scope="module")
def agent(kafka):
    # A short drain timeout: the drain test outlasts it while the broker is down.
    a = AgentProcess({PYTHON: 1}, prefix="kafka-outage", kafka_bootstrap=kafka.bootstrap, drain_timeout_s=5,
                     settings={"THROWBOX_KAFKA_CREDENTIALS_FILE": str(kafka.credentials_file())})
    asyncio.run(ensure_topic(kafka.bootstrap, a.runs_topic))
    a.start(timeout_s=240)
    try:
        yield a
    finally:
        a.stop()


def sandbox_running(alloc_id: str) -> bool:
    out = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", f"sandbox-{alloc_id}"],
                         capture_output=True, text=True, timeout=30)
    return out.returncode == 0 and out.stdout.strip() == "true"


def metric_sum(agent: AgentProcess, name: str) -> float:
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", agent.metrics(), re.M))


async def committed_runs(kafka, agent: AgentProcess) -> int:
    """Records of the agent's runs topic its consumer group has committed (all partitions)."""
    admin = AIOKafkaAdminClient(**kafka_client.options(kafka.bootstrap))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(f"throwbox-agents-{agent.name}")
        return sum(om.offset for tp, om in offsets.items() if tp.topic == agent.runs_topic and om.offset > 0)
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def pipeline(kafka, agent: AgentProcess):
    p = Pipeline(kafka.bootstrap, agent.runs_topic)
    await p.start()
    try:
        yield p
    finally:
        await p.close()


async def run_until_kafka_is_down(kafka, agent: AgentProcess, pipe: Pipeline) -> tuple[str, Started]:
    """Submit the run, stop the broker while the program sleeps, return once its sandbox is gone."""
    job = make_job(CODE, wall_time_ms=120_000)
    await pipe.submit(job)
    started = await pipe.wait_for(job.run_id, lambda e: isinstance(e, Started), 180)
    await pipe.wait_for(job.run_id, lambda e: isinstance(e, Output) and "first" in e.data, 60)
    await asyncio.to_thread(kafka.stop)
    assert sandbox_running(started.sandbox), "the run ended before Kafka was down: nothing was tested"
    # The program ends while Kafka is down: its sandbox is destroyed at once, not held for Kafka.
    await asyncio.to_thread(wait_until, lambda: not sandbox_running(started.sandbox), SLEEP_S + 120,
                            "the run's sandbox gone", 0.5)
    return job.run_id, started


def assert_ran_once_with_its_real_result(pipe: Pipeline, run_id: str, fin: Finished) -> None:
    r = fin.result
    assert (r.status, r.outcome, r.exit_code) == ("completed", "ok", 0), r
    assert r.stdout == "first\nsecond\n" and r.stderr == ""
    events = pipe.events[run_id]
    assert sum(isinstance(e, Started) for e in events) == 1
    # A Finished sent again after a lost ack may reach the log twice: the same result.
    assert all(e.result.status == "completed" for e in events if isinstance(e, Finished))


async def test_a_run_that_finished_while_kafka_was_down_keeps_its_result(kafka, agent):
    async with pipeline(kafka, agent) as pipe:
        run_id, started = await run_until_kafka_is_down(kafka, agent, pipe)
        health = agent.health()
        assert health["in_flight"] == 1            # the run holds its slot while its result waits
        assert started.sandbox not in health["pools"][PYTHON.key]["held_allocs"]
        await asyncio.to_thread(kafka.start)
        fin = await pipe.result(run_id, 300)
        assert_ran_once_with_its_real_result(pipe, run_id, fin)
        # Its offset is committed after the result was acknowledged; one sandbox, one run.
        for _ in range(240):
            if await committed_runs(kafka, agent) == 1:
                break
            await asyncio.sleep(0.5)
        assert await committed_runs(kafka, agent) == 1
        await asyncio.to_thread(wait_until, lambda: agent.health()["in_flight"] == 0, 60, "the slot freed")
        assert metric_sum(agent, "throwbox_agent_runs_total") == 1
        assert metric_sum(agent, "throwbox_agent_sandbox_lifetime_seconds_count") == 1


async def test_an_agent_draining_while_kafka_is_down_still_publishes_the_result(kafka, agent):
    """Runs last in the module: it stops the module's agent."""
    async with pipeline(kafka, agent) as pipe:
        run_id, _ = await run_until_kafka_is_down(kafka, agent, pipe)
        agent.signal_stop()
        # Past its drain timeout the agent keeps sending the result instead of exiting without it.
        await asyncio.to_thread(wait_until, lambda: "Kafka has not acknowledged yet" in agent.log_path.read_text(),
                                120, "the drain waiting for the unacknowledged result", 0.5)
        assert agent.proc.poll() is None
        await asyncio.to_thread(kafka.start)
        fin = await pipe.result(run_id, 300)
        assert_ran_once_with_its_real_result(pipe, run_id, fin)
        assert await asyncio.to_thread(agent.proc.wait, 120) == 0
