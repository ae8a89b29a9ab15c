"""A runtime is offered only once its image is present: the agent's decisions (which runtimes
lack their image, dormant pools create nothing and are not advertised) and the control plane's
(offered when a live agent advertises it; everything while no agent's figures are known)."""

from __future__ import annotations

import asyncio

from throwbox_agent import consul_service
from throwbox_agent.images import check_once, missing_runtimes
from throwbox_agent.metrics import AgentMetrics
from throwbox_agent.pool import RuntimePool, WarmPool
from throwbox_common import runtimes
from throwbox_common.capacity_meta import RuntimeCapacity
from throwbox_control.capacity import AgentCapacity, CapacityWatch, OfferedRuntimes, runtime_offered

REGISTRY = runtimes.load()
NEW = REGISTRY.resolve("python")
OLD = REGISTRY.resolve("python", "3.11")


def agent(*keys: str, name: str = "a") -> AgentCapacity:
    return AgentCapacity(name=name, runs_topic="throwbox.runs",
                         runtimes={k: RuntimeCapacity(idle=1, size=1, start_rate_per_s=1.0) for k in keys})


# ---------------------------------------------------------------- agent

def test_a_runtime_is_missing_when_the_engine_has_no_image_with_its_exact_tag():
    tags = {OLD.image, NEW.image.rsplit("-", 1)[0] + "-000000000000", "throwbox/base:trixie-1"}
    assert missing_runtimes([NEW, OLD], tags) == {NEW.key}
    assert missing_runtimes([NEW, OLD], tags | {NEW.image}) == set()
    assert missing_runtimes([NEW, OLD], set()) == {NEW.key, OLD.key}


JOB = "throwbox-sandbox-a-python"


class FakeFactory:
    """Records the sandboxes the pool asks for; Nomad never places any."""

    def __init__(self):
        self.on_container_started = None
        self.created: list[str] = []

    async def ensure_pool(self, runtime) -> int:
        return 100

    async def create(self, runtime) -> str:
        self.created.append(f"{JOB}/dispatch-{len(self.created)}")
        return self.created[-1]

    async def live_allocs(self, pool_ids, index=0):
        if index:
            await asyncio.Event().wait()        # nothing ever changes
        return [], index + 1

    def container_started(self, alloc_id):
        return None

    async def destroy_job(self, job_id) -> None:
        pass

    async def close(self) -> None:
        pass


class FakeDocker:
    def __init__(self, tags: set[str]):
        self.tags = tags

    async def image_tags(self) -> set[str]:
        return set(self.tags)


async def test_a_dormant_pool_creates_no_sandbox_until_its_image_appears():
    factory = FakeFactory()
    pool = WarmPool(factory, AgentMetrics(), {NEW.key: RuntimePool(NEW, 2, JOB)})
    docker = FakeDocker(set())
    await check_once(docker, pool)                   # as the agent does before the pool starts
    await pool.start()
    try:
        await asyncio.sleep(0.05)
        assert factory.created == [] and not pool.active(NEW.key) and pool.snapshot()[NEW.key]["dormant"]
        docker.tags.add(NEW.image)
        await check_once(docker, pool)
        await asyncio.sleep(0.05)
        assert len(factory.created) == 2 and pool.active(NEW.key)
        assert pool.set_dormant(set()) == []             # no change: nothing reported
    finally:
        await pool.close()


def test_a_dormant_pool_is_left_out_of_the_advertised_capacity():
    snap = {NEW.key: {"size": 2, "idle": 0, "dormant": True}, OLD.key: {"size": 1, "idle": 1, "dormant": False}}
    assert set(consul_service.capacity(snap, {}, 1.0)) == {OLD.key}


# ---------------------------------------------------------------- control plane

def test_a_runtime_is_offered_when_a_live_agent_advertises_it():
    agents = [agent(OLD.key), agent(OLD.key, NEW.key, name="b")]
    assert runtime_offered(NEW.key, agents) and runtime_offered(OLD.key, agents)
    assert not runtime_offered(NEW.key, [agent(OLD.key)])


def test_without_live_agents_or_their_figures_every_runtime_is_offered():
    # Not "not installed": runs then wait for an agent, or get 503 overloaded (a platform fault).
    assert runtime_offered(NEW.key, [])
    assert runtime_offered(NEW.key, None)


def test_the_registry_resolves_among_the_runtimes_the_agents_offer():
    watch = CapacityWatch(None)
    registry = runtimes.load()
    registry.offered = OfferedRuntimes(watch)
    assert registry.resolve("python") == NEW                 # figures not read yet: all offered
    watch.set_agents([{"agent": "a", "cap_0": f"{OLD.key}=1/1/1.00"}])
    assert registry.resolve("python") == OLD and registry.resolve("python", "3.13") is None
    assert NEW.key not in {r.key for r in registry.offered_runtimes()}
    watch.set_agents([{"agent": "a", "cap_0": f"{OLD.key}=1/1/1.00 {NEW.key}=0/2/1.00"}])
    assert registry.resolve("python") == NEW
    watch.set_agents([{"agent": "a", "cap_0": f"{NEW.key}=1/1/1.00", "draining": "true"}])
    assert registry.resolve("python") == NEW                 # no live agent: all offered
