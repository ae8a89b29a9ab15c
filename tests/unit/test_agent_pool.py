"""Warm-pool decisions with plain data, and WarmPool against a fake factory."""

import asyncio
import contextlib
import inspect

import pytest

from throwbox_agent import pool as pool_module
from throwbox_agent import pool_claims
from throwbox_agent.errors import NomadError, SandboxUnavailable
from throwbox_agent.factory import NomadDockerFactory, SandboxFactory
from throwbox_agent.metrics import AgentMetrics
from throwbox_agent.nomad_api import AllocStub, live_allocs_filter
from throwbox_agent.pool import (
    PoolView,
    RuntimePool,
    WarmPool,
    backoff_s,
    reconcile,
    shortfall,
    stale_allocs,
    surplus_idle,
    take_idle,
    target,
)
from throwbox_common import runtimes
from throwbox_common.runtimes import Runtime

PYTHON = runtimes.load().resolve("python")
JOB = "throwbox-sandbox-a-python"


def sandbox_job(name: str) -> str:
    return f"{JOB}/dispatch-1795785497-{name}"


def alloc(aid: str, status: str = "running", index: int = 10, job: str | None = None) -> AllocStub:
    return AllocStub(id=aid, job_id=job or sandbox_job(aid), client_status=status, desired_status="run",
                     create_index=index)


# ---------------------------------------------------------------- pure decisions

def test_running_allocs_become_idle_oldest_first_and_pending_ones_are_counted():
    view = reconcile(PoolView(), [alloc("b", index=12), alloc("a", index=11), alloc("c", "pending")], set())
    assert view.idle == ["a", "b"] and view.pending == 1


def test_a_handed_out_alloc_is_never_idle_again_while_nomad_still_lists_it():
    view = reconcile(PoolView(), [alloc("a"), alloc("b")], set())
    assert take_idle(view) == "a"
    view = reconcile(view, [alloc("a"), alloc("b")], set())
    assert view.idle == ["b"] and "a" in view.handed


def test_a_handed_out_alloc_is_forgotten_once_nomad_no_longer_lists_it():
    view = reconcile(PoolView(), [alloc("a")], set())
    take_idle(view)
    view = reconcile(view, [alloc("n")], set())
    assert view.handed == set() and view.idle == ["n"]


def test_excluded_allocs_are_never_idle():
    assert reconcile(PoolView(), [alloc("a"), alloc("b")], {"a"}).idle == ["b"]


def test_an_alloc_that_left_nomads_live_list_leaves_idle():
    view = reconcile(PoolView(), [alloc("a"), alloc("b")], set())
    assert reconcile(view, [alloc("b")], set()).idle == ["b"]


def test_take_idle_on_an_empty_pool_gives_nothing():
    assert take_idle(PoolView()) is None


def test_allocs_created_before_the_agent_registered_its_pool_are_stale():
    live = [alloc("old", index=5), alloc("new", index=20)]
    assert stale_allocs(live, registered_index=10) == ["old"]


def test_the_pool_creates_what_idle_starting_held_and_creating_sandboxes_leave_short_of_its_size():
    view = PoolView(idle=["a"], starting=["b"], handed={"c", "d"})
    assert shortfall(5, view, held=1, creating=1) == 1      # "d": handed, released, being destroyed
    assert shortfall(3, view, held=1, creating=1) == 0
    assert shortfall(0, PoolView(), held=0, creating=0) == 0


def test_a_pool_keeps_its_size_and_one_sandbox_more_for_each_run_beyond_it():
    assert target(2, held=1, wanting=0) == 2
    assert target(0, held=0, wanting=0) == 0                # on demand: nothing while nobody asks
    assert target(0, held=0, wanting=1) == 1
    assert target(0, held=1, wanting=1) == 2
    assert target(3, held=1, wanting=1) == 3


def test_an_on_demand_pool_creates_a_sandbox_for_a_waiting_run_and_none_for_one_already_starting():
    assert shortfall(0, PoolView(), held=0, creating=0, wanting=1) == 1
    assert shortfall(0, PoolView(), held=0, creating=1, wanting=1) == 0
    assert shortfall(0, PoolView(starting=["s"]), held=0, creating=0, wanting=1) == 0
    assert shortfall(0, PoolView(), held=1, creating=0, wanting=0) == 0     # no successor after a run


def test_idle_sandboxes_beyond_the_target_are_the_newest_and_a_waiting_run_keeps_its_own():
    view = PoolView(idle=["old", "mid", "new"])
    assert surplus_idle(1, view, held=0, creating=0) == ["mid", "new"]
    assert surplus_idle(0, PoolView(idle=["a"]), held=0, creating=0, wanting=1) == []
    assert surplus_idle(0, PoolView(idle=["a"]), held=0, creating=0, wanting=0) == ["a"]
    assert surplus_idle(2, view, held=0, creating=0, wanting=3) == []


def test_creating_backs_off_doubling_up_to_a_ceiling_after_failures():
    assert backoff_s(0) == 0
    assert [backoff_s(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert backoff_s(50) == pool_module.BACKOFF_MAX_S


def test_the_nomad_filter_asks_only_for_live_allocs_dispatched_from_our_jobs():
    f = live_allocs_filter(["j1", "j2"])
    assert '(JobID contains "j1/dispatch-" or JobID contains "j2/dispatch-")' in f
    assert 'DesiredStatus == "run"' in f
    assert 'ClientStatus == "pending"' in f and 'ClientStatus == "running"' in f


# ---------------------------------------------------------------- WarmPool with a fake factory

class FakeFactory:
    """Sandboxes it is asked to create are only recorded: a test places allocations itself."""

    def __init__(self, allocs=(), dead=()):
        self.on_container_started = None
        self.closed = False
        self.allocs = list(allocs)
        self.dead = set(dead)
        self.destroyed: list[str] = []
        self.created: list[str] = []
        self.jobs_destroyed: list[str] = []
        self.events: list[str] = []
        self.fail_creates = 0
        self.changed = asyncio.Event()
        self.registered = 100

    async def ensure_pool(self, runtime: Runtime) -> int:
        return self.registered

    async def create(self, runtime: Runtime) -> str:
        if self.fail_creates:
            self.fail_creates -= 1
            raise NomadError("dispatch: 500")
        job = sandbox_job(f"new{len(self.created)}")
        self.created.append(job)
        self.events.append("create")
        return job

    async def destroy_job(self, job_id: str) -> None:
        self.jobs_destroyed.append(job_id)

    async def live_allocs(self, pool_ids: list[str], index: int = 0) -> tuple[list[AllocStub], int]:
        if index:
            await self.changed.wait()
            self.changed.clear()
        return [a for a in self.allocs if a.id not in self.destroyed], index + 1

    async def live_container(self, alloc_id: str) -> str | None:
        return None if alloc_id in self.dead else f"c-{alloc_id}"

    async def destroy(self, alloc_id: str, job_id: str, container_id: str | None) -> None:
        assert job_id == sandbox_job(alloc_id) or job_id in self.created
        self.destroyed.append(alloc_id)
        self.events.append("destroy")

    def container_started(self, alloc_id: str) -> bool | None:
        return None                 # not known: the pool probes placed sandboxes itself

    async def close(self) -> None:
        self.closed = True

    def place(self, a: AllocStub):
        self.allocs.append(a)
        self.changed.set()


def test_the_fake_and_the_nomad_factory_implement_every_member_of_the_factory_protocol():
    assert isinstance(FakeFactory(), SandboxFactory)
    methods = [n for n, v in vars(SandboxFactory).items() if callable(v) and not n.startswith("_")]
    assert {"create", "destroy", "container_started", "close"} <= set(methods)
    for cls in (FakeFactory, NomadDockerFactory):
        for name in methods:
            ours, theirs = inspect.signature(getattr(cls, name)), inspect.signature(getattr(SandboxFactory, name))
            assert list(ours.parameters) == list(theirs.parameters), (cls.__name__, name)
            assert inspect.iscoroutinefunction(getattr(cls, name)) == inspect.iscoroutinefunction(
                getattr(SandboxFactory, name)), (cls.__name__, name)


async def make_pool(factory, size=2):
    metrics = AgentMetrics()
    pool = WarmPool(factory, metrics, {PYTHON.key: RuntimePool(PYTHON, size, JOB)})
    await pool.start()
    return pool, metrics


async def test_acquire_hands_out_an_idle_sandbox_at_once_and_never_the_same_one_twice():
    factory = FakeFactory([alloc("a", index=101), alloc("b", index=102)])
    pool, metrics = await make_pool(factory)
    try:
        first = await pool.acquire(PYTHON.key, 1)
        second = await pool.acquire(PYTHON.key, 1)
        assert {first.alloc_id, second.alloc_id} == {"a", "b"}
        assert first.container_id == f"c-{first.alloc_id}"
        with pytest.raises(SandboxUnavailable):
            await pool.acquire(PYTHON.key, 0.05)
        assert metrics.cold_starts.labels(PYTHON.key)._value.get() == 0
    finally:
        await pool.close()


async def test_a_sandbox_whose_container_died_is_skipped_and_stopped():
    factory = FakeFactory([alloc("dead", index=101), alloc("ok", index=102)], dead={"dead"})
    pool, _ = await make_pool(factory)
    try:
        sb = await pool.acquire(PYTHON.key, 1)
        assert sb.alloc_id == "ok"
        await asyncio.sleep(0)
        assert "dead" in factory.destroyed
    finally:
        await pool.close()


async def test_an_acquire_that_waits_for_a_placement_counts_as_a_cold_start():
    factory = FakeFactory([])
    pool, metrics = await make_pool(factory)
    try:
        waiting = asyncio.create_task(pool.acquire(PYTHON.key, 5))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        factory.place(alloc("fresh", index=150))
        sb = await waiting
        assert sb.alloc_id == "fresh"
        assert metrics.cold_starts.labels(PYTHON.key)._value.get() == 1
    finally:
        await pool.close()


async def test_a_predecessors_allocs_are_stopped_at_start_and_never_handed_out():
    factory = FakeFactory([alloc("old", index=50), alloc("new", index=150)])
    pool, _ = await make_pool(factory)
    try:
        await asyncio.sleep(0)
        assert factory.destroyed == ["old"]
        assert (await pool.acquire(PYTHON.key, 1)).alloc_id == "new"
        with pytest.raises(SandboxUnavailable):
            await pool.acquire(PYTHON.key, 0.05)
    finally:
        await pool.close()


async def test_a_used_sandbox_is_destroyed_through_the_factory_and_its_replacement_handed_out_next():
    factory = FakeFactory([alloc("a", index=101)])
    pool, metrics = await make_pool(factory, size=1)
    try:
        sb = await pool.acquire(PYTHON.key, 1)
        sb.end("test")
        await settle()                               # the teardown goes on in the background
        assert factory.destroyed == ["a"]
        factory.place(alloc("b", index=160))
        assert (await pool.acquire(PYTHON.key, 1)).alloc_id == "b"
        assert metrics.replacement_seconds.labels(PYTHON.key)._sum.get() >= 0
    finally:
        await pool.close()


async def test_an_acquire_cancelled_while_checking_the_container_gives_the_sandbox_back():
    class SlowFactory(FakeFactory):
        async def live_container(self, alloc_id):
            await asyncio.sleep(10)
            return f"c-{alloc_id}"

    factory = SlowFactory([alloc("a", index=101)])
    pool, _ = await make_pool(factory, size=1)
    try:
        task = asyncio.create_task(pool.acquire(PYTHON.key, 5))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool.snapshot()[PYTHON.key]["idle"] == 1
        assert pool.snapshot()[PYTHON.key]["in_use"] == 0
    finally:
        await pool.close()


def test_a_handed_out_alloc_that_no_run_holds_and_nobody_stopped_must_be_stopped():
    from throwbox_agent.pool import needs_stop
    assert needs_stop({"a", "b"}, handed={"a", "b"}, held={"b"}, stop_requested={}, now=0, retry_after_s=15) == ["a"]


def test_a_stop_that_nomad_has_not_carried_out_is_asked_for_again_after_a_while():
    from throwbox_agent.pool import needs_stop
    asked = {"a": 100.0}
    assert needs_stop({"a"}, handed={"a"}, held=set(), stop_requested=asked, now=105, retry_after_s=15) == []
    assert needs_stop({"a"}, handed={"a"}, held=set(), stop_requested=asked, now=116, retry_after_s=15) == ["a"]
    assert needs_stop(set(), handed={"a"}, held=set(), stop_requested=asked, now=116, retry_after_s=15) == []


async def test_a_sandbox_released_by_its_run_is_no_longer_held():
    factory = FakeFactory([alloc("a", index=101)])
    pool, _ = await make_pool(factory, size=1)
    try:
        sb = await pool.acquire(PYTHON.key, 1)
        assert pool.snapshot()[PYTHON.key]["held_allocs"] == ["a"]
        sb.end("test")
        assert pool.snapshot()[PYTHON.key]["in_use"] == 0
    finally:
        await pool.close()


async def test_a_sandbox_being_checked_for_a_run_is_not_stopped_by_the_leak_guard():
    class SlowCheck(FakeFactory):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.checking = asyncio.Event()
            self.go_on = asyncio.Event()

        async def live_container(self, alloc_id):
            self.checking.set()
            await self.go_on.wait()
            return f"c-{alloc_id}"

    factory = SlowCheck([alloc("a", index=101)])
    pool, _ = await make_pool(factory, size=1)
    try:
        acquiring = asyncio.create_task(pool.acquire(PYTHON.key, 5))
        await factory.checking.wait()
        factory.place(alloc("b", index=150))          # the watch applies a new view meanwhile
        for _ in range(20):
            await asyncio.sleep(0)
        factory.go_on.set()
        assert (await acquiring).alloc_id == "a"
        assert factory.destroyed == []
    finally:
        await pool.close()


# ---------------------------------------------------------------- placed sandboxes whose container already runs

def test_pending_allocs_are_listed_as_starting_oldest_first_unless_handed_out_or_excluded():
    view = PoolView(handed={"h"})
    live = [alloc("young", "pending", 30), alloc("old", "pending", 20), alloc("h", "pending", 10),
            alloc("x", "pending", 5), alloc("r", "running", 1)]
    assert reconcile(view, live, excluded={"x"}).starting == ["old", "young"]


async def test_a_waiting_run_gets_a_placed_sandbox_as_soon_as_its_container_runs_before_nomad_says_running():
    factory = FakeFactory([])
    pool, metrics = await make_pool(factory, size=1)
    try:
        factory.dead.add("p")                        # placed, container not started yet
        factory.place(alloc("p", "pending", index=150))
        waiting = asyncio.create_task(pool.acquire(PYTHON.key, 5))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        factory.dead.discard("p")                    # the container runs; Nomad still says pending
        sb = await asyncio.wait_for(waiting, 5)
        assert (sb.alloc_id, sb.container_id) == ("p", "c-p")
        assert metrics.cold_starts.labels(PYTHON.key)._value.get() == 1
        assert pool.snapshot()[PYTHON.key]["held_allocs"] == ["p"]
        # When Nomad reports it running, it is not idle: it was handed out once already.
        factory.allocs = [alloc("p", "running", index=150)]
        factory.changed.set()
        with pytest.raises(SandboxUnavailable):
            await pool.acquire(PYTHON.key, 0.3)
    finally:
        await pool.close()


async def test_two_waiting_runs_never_get_the_same_placed_sandbox():
    factory = FakeFactory([])
    pool, _ = await make_pool(factory, size=1)
    try:
        factory.place(alloc("p", "pending", index=150))
        results = await asyncio.gather(pool.acquire(PYTHON.key, 0.5), pool.acquire(PYTHON.key, 0.5),
                                       return_exceptions=True)
        got = [r.alloc_id for r in results if not isinstance(r, BaseException)]
        assert got == ["p"]
        assert sum(isinstance(r, SandboxUnavailable) for r in results) == 1
    finally:
        await pool.close()


async def test_a_run_already_waiting_when_the_sandbox_is_placed_gets_it_once_its_container_runs():
    factory = FakeFactory([])
    pool, _ = await make_pool(factory, size=1)
    try:
        waiting = asyncio.create_task(pool.acquire(PYTHON.key, 5))
        await asyncio.sleep(0.1)
        factory.place(alloc("p", "pending", index=150))    # Nomad never reports it running here
        sb = await asyncio.wait_for(waiting, 5)
        assert sb.alloc_id == "p"
    finally:
        await pool.close()


async def test_a_placed_sandbox_is_not_inspected_until_docker_says_its_container_started():
    class StartsFactory(FakeFactory):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.started: set[str] = set()
            self.inspected: list[str] = []

        def container_started(self, alloc_id):
            return alloc_id in self.started

        async def live_container(self, alloc_id):
            self.inspected.append(alloc_id)
            return await super().live_container(alloc_id)

    factory = StartsFactory([])
    pool, _ = await make_pool(factory, size=1)
    try:
        factory.place(alloc("p", "pending", index=150))
        waiting = asyncio.create_task(pool.acquire(PYTHON.key, 5))
        await asyncio.sleep(0.3)                    # six probe intervals: nothing to inspect yet
        assert not waiting.done() and factory.inspected == []
        factory.started.add("p")                    # Docker's start event arrives
        assert (await asyncio.wait_for(waiting, 5)).alloc_id == "p"
        assert factory.inspected == ["p"]
    finally:
        await pool.close()


# ---------------------------------------------------------------- creating sandboxes

@contextlib.asynccontextmanager
async def running_pool(factory, size):
    pool, metrics = await make_pool(factory, size=size)
    try:
        yield pool, metrics
    finally:
        await pool.close()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def place_the_created_one(factory) -> str:
    """The pool's one created sandbox gets its (pending) allocation "n"; its job id."""
    await settle()
    [job] = factory.created
    factory.place(alloc("n", "pending", index=150, job=job))
    await settle()
    return job


async def test_an_empty_pool_creates_its_size_and_a_partly_filled_one_the_rest():
    factory = FakeFactory([])
    async with running_pool(factory, size=3) as (pool, _):
        await settle()
        assert len(factory.created) == 3
        assert pool.snapshot()[PYTHON.key]["creating"] == 3
    factory = FakeFactory([alloc("a", index=101), alloc("b", "pending", index=102)])
    async with running_pool(factory, size=3) as (pool, _):
        await settle()
        assert len(factory.created) == 1


async def test_a_created_sandbox_is_counted_once_its_allocation_shows_up_and_not_created_again():
    factory = FakeFactory([])
    async with running_pool(factory, size=1) as (pool, _):
        job = await place_the_created_one(factory)
        factory.allocs = [alloc("n", "running", index=150, job=job)]
        factory.changed.set()
        await settle()
        assert factory.created == [job]
        assert pool.snapshot()[PYTHON.key]["creating"] == 0 and pool.snapshot()[PYTHON.key]["idle"] == 1


async def test_a_released_sandbox_gets_its_successor_created_before_it_is_destroyed():
    factory = FakeFactory([alloc("a", index=101)])
    async with running_pool(factory, size=1) as (pool, metrics):
        await settle()
        assert factory.created == []
        sb = await pool.acquire(PYTHON.key, 1)
        await settle()
        assert factory.created == []                 # in use still counts toward the size
        sb.end("test")
        await settle()
        assert factory.events == ["create", "destroy"] and factory.destroyed == ["a"]
        factory.place(alloc("b", index=160, job=factory.created[0]))
        assert (await pool.acquire(PYTHON.key, 1)).alloc_id == "b"
        assert metrics.replacement_seconds.labels(PYTHON.key)._sum.get() > 0


async def test_a_sandbox_that_ended_before_its_container_started_makes_the_next_create_wait(monkeypatch):
    monkeypatch.setattr(pool_module, "BACKOFF_FIRST_S", 0.3)
    factory = FakeFactory([])
    async with running_pool(factory, size=1) as (pool, _):
        await place_the_created_one(factory)
        factory.allocs = []                          # failed while starting (no such image, say)
        factory.changed.set()
        await asyncio.sleep(0.1)
        assert len(factory.created) == 1             # backing off
        await asyncio.sleep(0.4)
        assert len(factory.created) == 2             # then the next one


async def test_a_failed_create_is_retried_after_a_pause(monkeypatch):
    monkeypatch.setattr(pool_module, "BACKOFF_FIRST_S", 0.2)
    factory = FakeFactory([])
    factory.fail_creates = 1
    async with running_pool(factory, size=1) as (pool, _):
        await asyncio.sleep(0.05)
        assert factory.created == []
        await asyncio.sleep(0.3)
        assert len(factory.created) == 1


async def test_a_created_sandbox_that_never_gets_an_allocation_is_stopped_and_created_anew(monkeypatch):
    monkeypatch.setattr(pool_module, "CREATE_TIMEOUT_S", 0.0)
    monkeypatch.setattr(pool_module, "BACKOFF_FIRST_S", 0.0)
    factory = FakeFactory([])
    async with running_pool(factory, size=1) as (pool, _):
        await settle()
        [first] = factory.created
        factory.changed.set()                        # the next view still has no allocation for it
        await settle()
        assert factory.jobs_destroyed == [first] and len(factory.created) == 2


async def test_a_closed_pool_creates_nothing_more():
    factory = FakeFactory([alloc("a", index=101)])
    pool, _ = await make_pool(factory, size=1)
    sb = await pool.acquire(PYTHON.key, 1)
    await pool.close()
    sb.end("test")
    await settle()
    assert factory.created == [] and factory.destroyed == ["a"]


async def test_a_release_does_not_wait_for_the_teardown_but_closing_the_pool_does():
    class SlowTeardown(FakeFactory):
        async def destroy(self, alloc_id, job_id, container_id):
            await asyncio.sleep(0.3)                 # a runsc kill is a CLI round trip
            await super().destroy(alloc_id, job_id, container_id)

    factory = SlowTeardown([alloc("a", index=101)])
    pool, _ = await make_pool(factory, size=1)
    sb = await pool.acquire(PYTHON.key, 1)
    sb.end("test")
    await settle()
    assert factory.destroyed == [] and len(factory.created) == 1
    await pool.close()
    assert factory.destroyed == ["a"]


async def test_a_sandbox_ended_twice_is_released_once_and_its_end_is_done_when_the_factory_destroyed_it():
    factory = FakeFactory([alloc("a", index=101)])
    pool, _ = await make_pool(factory, size=1)
    try:
        sb = await pool.acquire(PYTHON.key, 1)
        first = sb.end("killed: timeout")
        assert sb.ended and sb.end("run over") is first      # the cleanup after a kill
        await asyncio.wait_for(first, 2)
        assert factory.destroyed == ["a"] and factory.events == ["create", "destroy"]
        assert pool.snapshot()[PYTHON.key]["in_use"] == 0
    finally:
        await pool.close()
    assert factory.closed


async def test_a_waiting_run_looks_as_soon_as_docker_reports_its_sandbox_started_not_at_its_next_probe(monkeypatch):
    monkeypatch.setattr(pool_claims, "STARTING_PROBE_S", 30.0)

    class StartEvents(FakeFactory):
        on_container_started = None

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.started: set[str] = set()

        def container_started(self, alloc_id):
            return alloc_id in self.started

    factory = StartEvents([])
    async with running_pool(factory, size=1) as (pool, _):
        job = await place_the_created_one(factory)
        waiting = asyncio.create_task(pool.acquire(PYTHON.key, 60))
        await settle()
        assert not waiting.done()
        factory.started.add("n")
        factory.on_container_started("n")            # Docker's start event
        sb = await asyncio.wait_for(waiting, 1)
        assert (sb.alloc_id, sb.job_id) == ("n", job)


async def test_a_created_sandbox_that_ends_before_it_runs_is_no_longer_timed():
    factory = FakeFactory([])
    async with running_pool(factory, size=1) as (pool, _):
        job = await place_the_created_one(factory)
        assert job in pool.pools[PYTHON.key].created_at
        factory.allocs = []
        factory.changed.set()
        await settle()
        assert job not in pool.pools[PYTHON.key].created_at


async def test_an_on_demand_pool_keeps_nothing_idle_and_creates_a_sandbox_for_a_waiting_run():
    factory = FakeFactory([])
    async with running_pool(factory, size=0) as (pool, metrics):
        await settle()
        assert factory.created == []                 # no run, no sandbox
        waiting = asyncio.create_task(pool.acquire(PYTHON.key, 5))
        await settle()
        assert len(factory.created) == 1 and pool.snapshot()[PYTHON.key]["wanting"] == 1
        factory.place(alloc("n", index=150, job=factory.created[0]))
        sb = await waiting
        assert sb.alloc_id == "n" and metrics.cold_starts.labels(PYTHON.key)._value.get() == 1
        sb.end("test")
        await settle()
        assert len(factory.created) == 1 and factory.destroyed == ["n"]     # no successor


async def test_an_on_demand_sandbox_whose_run_gave_up_waiting_is_stopped_once_it_runs():
    factory = FakeFactory([])
    async with running_pool(factory, size=0) as (pool, _):
        with pytest.raises(SandboxUnavailable):
            await pool.acquire(PYTHON.key, 0.05)
        [job] = factory.created
        factory.place(alloc("late", index=150, job=job))
        await settle()
        await settle()
        assert factory.destroyed == ["late"] and pool.snapshot()[PYTHON.key]["idle"] == 0
        assert len(factory.created) == 1
