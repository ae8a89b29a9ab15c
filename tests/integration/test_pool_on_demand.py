"""A runtime with `warm = 0` (runtimes.toml) on a real agent: its pool keeps no idle sandbox, a
run of it has one created while it waits (a cold start) and completes, and once the run is over
no sandbox of it stays (no successor is created). Here the bookworm bash, warm = 0 in the
committed registry, through a private agent with its own runs topic. The pool's decisions are
unit-tested in tests/unit/test_agent_pool.py."""

from __future__ import annotations

import asyncio
import re

import pytest
from agent_process import private_agent, private_pipeline, sandbox_allocs, wait_until
from pipeline import make_job

from throwbox_common import runtimes

pytestmark = pytest.mark.timeout(420)
REGISTRY = runtimes.load()
OLD_BASH = REGISTRY.resolve("bash", "5.2.15")


def live(agent) -> list[dict]:
    return [a for a in sandbox_allocs(agent.job_of(OLD_BASH)) if a["ClientStatus"] in ("pending", "running")]


@pytest.fixture(scope="module")
def agent():
    assert OLD_BASH is not None and OLD_BASH.warm == 0, "the committed registry keeps no warm bookworm bash"
    with private_agent({OLD_BASH: 0}, prefix="ondemand") as a:
        yield a


async def test_a_warm_0_runtime_keeps_no_sandbox_and_its_runs_complete_in_sandboxes_made_for_them(agent):
    pool = agent.pool(OLD_BASH)
    assert (pool["size"], pool["idle"], pool["creating"], pool["pending"]) == (0, 0, 0, 0), pool
    assert live(agent) == []
    async with private_pipeline(agent) as pipe:
        jobs = [make_job(f'echo "run {i} on $BASH_VERSION"', language="bash", version=OLD_BASH.version,
                         entrypoint="main.sh") for i in range(3)]
        for job in jobs:
            await pipe.submit(job)
        results = [(await pipe.result(j.run_id, 240)).result for j in jobs]
    for i, r in enumerate(results):
        assert (r.status, r.outcome, r.version) == ("completed", "ok", OLD_BASH.version), (r.error, r.stderr)
        assert r.stdout.startswith(f"run {i} on 5.2.15"), r.stdout
    # Each run waited for a sandbox of its own: a cold start each.
    cold = re.search(rf'^throwbox_agent_cold_starts_total{{[^}}]*"{re.escape(OLD_BASH.key)}"[^}}]*}} (\S+)$',
                     agent.metrics(), re.M)
    assert cold and float(cold.group(1)) == len(jobs), cold
    # Every sandbox was used once and destroyed; none is kept idle or created as a successor.
    await asyncio.to_thread(wait_until, lambda: live(agent) == [], 120, "no sandbox of the on-demand pool left")
    pool = agent.pool(OLD_BASH)
    assert (pool["size"], pool["idle"], pool["in_use"], pool["creating"]) == (0, 0, 0, 0), pool
