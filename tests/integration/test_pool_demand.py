"""Warm pools follow demand (pool_sizing.py) on the real stack: a burst of one runtime's runs
grows its pool from its floor with the burst budget; once the arrivals stop it shrinks back."""

from __future__ import annotations

import asyncio

import pytest
from agent_process import private_agent, private_pipeline, wait_until
from pipeline import make_job

from throwbox_common import runtimes

REGISTRY = runtimes.load()
PYTHON = REGISTRY.resolve("python")
BURST = 3
pytestmark = pytest.mark.timeout(420)


@pytest.fixture(scope="module")
def agent():
    with private_agent({PYTHON: 1}, "demand", settings={
            "THROWBOX_AGENT_POOL_BURST": str(BURST), "THROWBOX_AGENT_POOL_WINDOW_S": "20",
            "THROWBOX_AGENT_SANDBOX_REPLACE_S": "4"}) as a:
        yield a


async def test_a_burst_grows_its_runtimes_pool_within_the_budget_and_it_shrinks_back(agent):
    assert agent.pool(PYTHON)["size"] == 1
    sizes = []
    async with private_pipeline(agent) as pipe:
        # 2 runs/s for 12 s: 24 in the 20 s window, 1.2 runs/s, and 4 s to replace a sandbox want
        # 5 warm ones: the floor (1) and the whole burst budget (3).
        jobs = []
        for _ in range(24):
            job = make_job("print('hi')")
            jobs.append(job)
            await pipe.submit(job)
            sizes.append(agent.pool(PYTHON)["size"])
            await asyncio.sleep(0.5)
        for _ in range(6):
            sizes.append(agent.pool(PYTHON)["size"])
            await asyncio.sleep(0.5)
        results = [(await pipe.result(j.run_id, 180)).result for j in jobs]
    print("python pool size while the burst arrived:", sizes)
    assert all((r.status, r.outcome) == ("completed", "ok") for r in results)
    assert max(sizes) == 1 + BURST           # grew, never past the floor plus the budget
    # The arrivals leave the 20 s window: back to the floor, the surplus sandboxes stopped.
    await asyncio.to_thread(wait_until, lambda: agent.pool(PYTHON)["size"] == 1, 90, "pool back at its floor")
    await asyncio.to_thread(wait_until, lambda: agent.pool(PYTHON)["idle"] == 1, 120, "one idle sandbox left")
