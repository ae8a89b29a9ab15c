"""The warm pool: which idle sandbox a run gets, and the counts.

The decisions are pure functions over plain data (`reconcile`, `stale_allocs`, `shortfall`);
`WarmPool` applies them to the live view a background watch keeps fresh from Nomad. A sandbox
is handed out at most once, ever: after its run the factory destroys it and the pool has the
factory create a new one, so the pool keeps `size` sandboxes idle, starting or in use, and at
least one for each run that holds or waits for one: a pool of size 0 (runtimes.toml `warm = 0`,
a rarely used runtime) keeps none idle and creates one when a run of it arrives. `PoolKeeper`
creates and destroys sandboxes; the steps of a run claiming one are in pool_claims.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from throwbox_common.aio import cancel_and_wait
from throwbox_common.runtimes import Runtime

from .errors import AgentError, SandboxUnavailable
from .factory import SandboxFactory
from .metrics import AgentMetrics
from .nomad_api import AllocStub, parent_job
from .pool_claims import SandboxClaims

log = logging.getLogger(__name__)

STOP_RETRY_S = 15.0     # a sandbox still live this long after we destroyed it is destroyed again
CREATE_TIMEOUT_S = 30.0   # a created sandbox with no allocation by then is stopped and counted failed
# After a sandbox that ended before its container started (or a failed create), the next
# create waits: 0.5 s, doubling, up to 10 s, so a broken image does not spin Nomad and Docker.
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0
CLOSE_WAIT_S = 10.0       # at close, how long teardowns and creates still under way may take


class SandboxOwner(Protocol):
    def release(self, sandbox: Sandbox, reason: str) -> asyncio.Future[None]:
        """Take a used sandbox back: its successor is created and it is destroyed (the returned
        future ends when it is)."""


@dataclass(eq=False)
class Sandbox:
    """One sandbox handed to one run. It owns its end: `end` hands it back exactly once."""

    alloc_id: str
    job_id: str
    container_id: str
    runtime_key: str
    handed_at: float
    owner: SandboxOwner = field(repr=False)
    _ending: asyncio.Future[None] | None = field(default=None, init=False, repr=False)

    @property
    def ended(self) -> bool:
        return self._ending is not None

    def end(self, reason: str) -> asyncio.Future[None]:
        """Have the sandbox killed and given back, once: the first call asks its owner, every
        call returns the same future, done once its container is killed. Await it to know the
        program has ended; leave it to let the kill go on in the background."""
        if self._ending is None:
            self._ending = self.owner.release(self, reason)
        return self._ending


@dataclass
class PoolView:
    """What one runtime's pool knows; plain data so the decisions below are easy to test."""

    idle: list[str] = field(default_factory=list)     # running, never handed out, oldest first
    handed: set[str] = field(default_factory=set)     # ever handed out (never again)
    pending: int = 0                                  # placed but not running yet
    starting: list[str] = field(default_factory=list)  # those pending ones, oldest first, usable once their container runs


def stale_allocs(live: Iterable[AllocStub], registered_index: int) -> list[str]:
    """Allocations created before this agent registered its pool belong to a predecessor (maybe
    crashed mid-run): none of them may be handed out, all of them are stopped."""
    return [a.id for a in live if a.create_index < registered_index]


def reconcile(view: PoolView, live: Iterable[AllocStub], excluded: set[str]) -> PoolView:
    """The new view after Nomad's latest list of live allocs for this pool.

    Idle keeps its order (oldest first) and gains newly running allocs; allocs that are gone,
    handed out or excluded (stale, dead) leave it. `handed` forgets ids Nomad no longer lists:
    a stopped allocation never comes back as running, so it cannot be handed out again.
    """
    live = list(live)
    running = {a.id: a for a in live if a.client_status == "running"}
    idle = [a for a in view.idle if a in running and a not in view.handed and a not in excluded]
    seen = set(idle)
    fresh = sorted((a for a in running.values()
                    if a.id not in seen and a.id not in view.handed and a.id not in excluded),
                   key=lambda a: a.create_index)
    idle.extend(a.id for a in fresh)
    live_ids = {a.id for a in live}
    starting = sorted((a for a in live if a.client_status == "pending"
                       and a.id not in view.handed and a.id not in excluded), key=lambda a: a.create_index)
    return PoolView(idle=idle, handed={a for a in view.handed if a in live_ids},
                    pending=sum(1 for a in live if a.client_status == "pending"),
                    starting=[a.id for a in starting])


def needs_stop(live_ids: set[str], handed: set[str], held: set[str], stop_requested: dict[str, float],
               now: float, retry_after_s: float) -> list[str]:
    """Allocs that must be (re)stopped so none leaks: handed out but no run holds it and no stop
    was asked for, or a stop was asked for long ago and Nomad still lists it as live."""
    out = []
    for alloc in sorted(live_ids):
        asked = stop_requested.get(alloc)
        if asked is None:
            if alloc in handed and alloc not in held:
                out.append(alloc)
        elif now - asked >= retry_after_s:
            out.append(alloc)
    return out


def target(size: int, held: int, wanting: int) -> int:
    """How many sandboxes a pool keeps (idle, starting, in a run or being created): its size, and
    at least one per run that holds one (`held`) or waits for one (`wanting`). A pool of size 0
    has sandboxes only while runs want them."""
    return max(size, held + wanting)


def shortfall(size: int, view: PoolView, held: int, creating: int, wanting: int = 0) -> int:
    """How many sandboxes to create now: the pool holds `target` that are idle, starting, in a
    run or being created (a used one being destroyed no longer counts)."""
    return max(0, target(size, held, wanting) - len(view.idle) - len(view.starting) - held - creating)


def surplus_idle(size: int, view: PoolView, held: int, creating: int, wanting: int = 0) -> list[str]:
    """The idle sandboxes beyond the pool's target, to stop: the newest (the oldest have waited
    longest and are handed out first)."""
    surplus = len(view.idle) + len(view.starting) + held + creating - target(size, held, wanting)
    return view.idle[-surplus:] if surplus > 0 else []


def backoff_s(failures: int) -> float:
    return 0.0 if failures <= 0 else min(BACKOFF_FIRST_S * 2 ** (failures - 1), BACKOFF_MAX_S)


def take_idle(view: PoolView) -> str | None:
    """Hand out the oldest idle sandbox (it has waited longest; all are equal otherwise)."""
    if not view.idle:
        return None
    alloc = view.idle.pop(0)
    view.handed.add(alloc)
    return alloc


class RuntimePool:
    def __init__(self, runtime: Runtime, size: int, job_id: str):
        self.runtime = runtime
        self.size = size
        self.job_id = job_id
        self.view = PoolView()
        self.excluded: set[str] = set()      # stale or dead: stopped, never handed out
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.wanting = 0                           # runs in acquire(): waiting for a sandbox
        self.registered_index = 0
        self.held: set[str] = set()                # handed to a run and not released yet
        self.stop_requested: dict[str, float] = {}  # alloc id -> when we last destroyed it
        self.jobs: dict[str, str] = {}             # live alloc id -> its (dispatched) job id
        self.creating: dict[str, float] = {}       # created job id -> when, until its alloc shows up
        self.create_calls = 0                      # creates asked for, no job id back yet
        self.created_at: dict[str, float] = {}     # created job id -> when, until it runs (metric)
        self.failures = 0                          # sandboxes in a row that never started
        self.create_after = 0.0                    # monotonic time before which nothing is created
        self.retry_timer: asyncio.TimerHandle | None = None
        self.probing: set[str] = set()             # starting allocs a waiting run is checking right now
        self.probed_at: dict[str, float] = {}      # starting alloc -> when a waiting run last checked it
        # Its image is not on this node (still being built): no sandbox is created, the runtime
        # is not advertised and its runs are refused (images.py).
        self.dormant = False

    def wake(self) -> None:
        for _ in range(min(len(self.waiters), len(self.view.idle))):
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(None)

    def wake_one(self) -> None:
        """The run waiting longest (and still waiting) looks now."""
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def set_dormant(self, dormant: bool) -> bool:
        """True when that changed the pool's state."""
        changed, self.dormant = dormant != self.dormant, dormant
        return changed

    def snapshot(self) -> dict:
        return {"size": self.size, "dormant": self.dormant, "idle": len(self.view.idle), "in_use": len(self.held),
                "wanting": self.wanting,
                "pending": self.view.pending, "creating": len(self.creating) + self.create_calls,
                "stopping": len(self.stop_requested), "job": self.job_id,
                "idle_allocs": list(self.view.idle), "held_allocs": sorted(self.held)}


class PoolKeeper:
    """Creates and destroys the pools' sandboxes through the factory (the only path that
    destroys one), in the background; counts the creates under way and the failures that make
    the next create wait."""

    def __init__(self, factory: SandboxFactory, metrics: AgentMetrics):
        self._factory = factory
        self._metrics = metrics
        self.background: set[asyncio.Task] = set()
        self.closing = False

    def track_creates(self, p: RuntimePool, live: list[AllocStub], now: float) -> None:
        """Created jobs whose allocation showed up are counted by the view from now on; one
        with none after CREATE_TIMEOUT_S (not placed: the node is full, or it failed unseen)
        is stopped and counts as a failure."""
        placed = {a.job_id for a in live}
        for job, at in list(p.creating.items()):
            if job in placed:
                del p.creating[job]
            elif now - at >= CREATE_TIMEOUT_S:
                log.warning("sandbox job %s has no allocation %.0f s after it was created: stopping it",
                            job, now - at)
                del p.creating[job]
                p.created_at.pop(job, None)
                self.failed(p)
                self.in_background(self.stop_job_quietly(job), f"stop-{job}")
        # A created sandbox that ended before it ran is no longer timed.
        p.created_at = {j: t for j, t in p.created_at.items() if j in p.creating or j in placed}

    def note_ends(self, p: RuntimePool, gone: set[str]) -> None:
        """Sandboxes that left Nomad's live list while starting, unused and not destroyed by
        us: if their container never started (image, runtime, resources), back off."""
        for alloc in gone:
            if alloc in p.view.handed or alloc in p.excluded or alloc in p.stop_requested:
                continue
            if self._factory.container_started(alloc):
                continue
            log.warning("sandbox %s of %s ended before its container started", alloc, p.job_id)
            self.failed(p)

    def failed(self, p: RuntimePool) -> None:
        p.failures += 1
        p.create_after = time.monotonic() + backoff_s(p.failures)

    def running(self, p: RuntimePool, alloc: str, now: float) -> None:
        p.failures = 0
        created = p.created_at.pop(p.jobs.get(alloc, ""), None)
        if created is not None:
            self._metrics.replacement_seconds.labels(p.runtime.key).observe(now - created)

    def refill(self, p: RuntimePool) -> None:
        if self.closing or p.dormant:
            return
        missing = shortfall(p.size, p.view, len(p.held), len(p.creating) + p.create_calls, p.wanting)
        if not missing:
            return
        wait_s = p.create_after - time.monotonic()
        if wait_s > 0:
            if p.retry_timer is None:
                p.retry_timer = asyncio.get_running_loop().call_later(wait_s, self.retry_refill, p)
            return
        for _ in range(missing):
            p.create_calls += 1
            self.in_background(self.create(p), f"create-{p.runtime.key}")

    def retry_refill(self, p: RuntimePool) -> None:
        p.retry_timer = None
        self.refill(p)

    async def create(self, p: RuntimePool) -> None:
        try:
            job = await self._factory.create(p.runtime)
        except AgentError as e:
            log.warning("creating a %s sandbox: %s", p.runtime.key, e)
            p.create_calls -= 1
            self.failed(p)
            self.refill(p)         # after the pause
            return
        p.create_calls -= 1
        now = time.monotonic()
        p.created_at[job] = now
        if job not in p.jobs.values():    # its allocation may have shown up before this reply
            p.creating[job] = now
        if self.closing:
            self.in_background(self.stop_job_quietly(job), f"stop-{job}")

    def in_background(self, coro, name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self.background.add(task)      # a reference, so the task cannot vanish half-way
        task.add_done_callback(self.background.discard)
        return task

    def trim(self, p: RuntimePool, creating: int | None = None) -> None:
        """Stop the idle sandboxes beyond the pool's target (a smaller size, or an on-demand
        sandbox whose run gave up waiting before it started)."""
        creating = len(p.creating) + p.create_calls if creating is None else creating
        for alloc in reversed(surplus_idle(p.size, p.view, len(p.held), creating, p.wanting)):
            p.view.idle.remove(alloc)
            p.excluded.add(alloc)
            self.request_stop(p, alloc)

    def request_stop(self, p: RuntimePool, alloc_id: str) -> None:
        p.stop_requested[alloc_id] = time.monotonic()
        self.in_background(self.destroy_quietly(alloc_id, p.jobs.get(alloc_id, "")), f"stop-{alloc_id}")

    async def destroy_quietly(self, alloc_id: str, job_id: str, container_id: str | None = None) -> None:
        try:
            await self._factory.destroy(alloc_id, job_id, container_id)
        except AgentError as e:
            log.warning("destroying %s: %s", alloc_id, e)

    async def stop_job_quietly(self, job_id: str) -> None:
        try:
            await self._factory.destroy_job(job_id)
        except AgentError as e:
            log.warning("stopping %s: %s", job_id, e)


class WarmPool:
    def __init__(self, factory: SandboxFactory, metrics: AgentMetrics, pools: dict[str, RuntimePool]):
        self._factory = factory
        self._metrics = metrics
        self.pools = pools
        self._job_to_pool = {p.job_id: p for p in pools.values()}
        self._keeper = PoolKeeper(factory, metrics)     # creates and destroys
        self._claims = SandboxClaims(factory, self._keeper)   # hands out
        self._watch_task: asyncio.Task | None = None
        self._ready = asyncio.Event()
        factory.on_container_started = self._container_started
        for key, p in pools.items():
            metrics.pool_size.labels(key).set(p.size)

    # ---- start-up and the background watch

    async def start(self, register: bool = True) -> None:
        if register:
            for p in self.pools.values():
                p.registered_index = await self._factory.ensure_pool(p.runtime)
        allocs, index = await self._factory.live_allocs(list(self._job_to_pool))
        await self._apply(allocs, first=True)
        self._watch_task = asyncio.create_task(self._watch(index), name="pool-watch")

    async def close(self) -> None:
        self._keeper.closing = True
        for p in self.pools.values():
            if p.retry_timer is not None:
                p.retry_timer.cancel()
        await cancel_and_wait(self._watch_task)
        if self._keeper.background:     # used sandboxes still being destroyed, above all
            await asyncio.wait(set(self._keeper.background), timeout=CLOSE_WAIT_S)
        await self._factory.close()     # its allocation watch, its pending alloc-dir GCs
        for p in self.pools.values():
            for fut in p.waiters:
                if not fut.done():
                    fut.set_exception(SandboxUnavailable("the agent is shutting down"))

    async def _watch(self, index: int) -> None:
        backoff = 0.5
        while True:
            try:
                allocs, new_index = await self._factory.live_allocs(list(self._job_to_pool), index)
                # Nomad may hand back a lower index (e.g. after a restart): start over from 0.
                index = new_index if new_index >= index else 0
                await self._apply(allocs)
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as e:   # the watch must outlive any Nomad hiccup
                log.warning("pool watch: %s (retry in %.1fs)", e, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)

    async def _apply(self, allocs: list[AllocStub], first: bool = False) -> None:
        by_pool: dict[str, list[AllocStub]] = {k: [] for k in self.pools}
        for a in allocs:
            p = self._job_to_pool.get(parent_job(a.job_id) or "")
            if p is not None:
                by_pool[p.runtime.key].append(a)
        now = time.monotonic()
        for key, p in self.pools.items():
            live = by_pool[key]
            p.jobs = {a.id: a.job_id for a in live} | {a: j for a, j in p.jobs.items() if a in p.held}
            stale = [a for a in stale_allocs(live, p.registered_index) if a not in p.excluded]
            for alloc in stale:
                log.info("stopping %s: created before this agent registered %s", alloc, p.job_id)
                p.excluded.add(alloc)
                self._keeper.request_stop(p, alloc)
            before_idle, before_starting = set(p.view.idle), set(p.view.starting)
            p.view = reconcile(p.view, live, p.excluded)
            live_ids = {a.id for a in live}
            self._keeper.note_ends(p, before_starting - live_ids)
            p.excluded &= live_ids | set(stale)
            for alloc in needs_stop(live_ids, p.view.handed, p.held, p.stop_requested, now, STOP_RETRY_S):
                log.warning("sandbox %s is still live and no run holds it: destroying it (again)", alloc)
                self._keeper.request_stop(p, alloc)
            p.stop_requested = {a: t for a, t in p.stop_requested.items() if a in live_ids}
            self._keeper.track_creates(p, live, now)
            for alloc in p.view.idle:
                if alloc not in before_idle:
                    self._keeper.running(p, alloc, now)
            p.wake()
            # Idle ones beyond the target (an on-demand sandbox whose run gave up before it ran);
            # creates under way are not counted here: their allocations may be these.
            self._keeper.trim(p, creating=0)
            self._metrics.pool_idle.labels(key).set(len(p.view.idle))
            self._keeper.refill(p)
        self._ready.set()

    def set_dormant(self, keys: set[str]) -> list[str]:
        """The pools of `keys` become dormant (their image is missing), the others active and
        filled; returns the keys whose state changed."""
        changed = [key for key, p in self.pools.items() if p.set_dormant(key in keys)]
        for key in changed:
            self._keeper.refill(self.pools[key])
        return changed

    def active(self, key: str) -> bool:
        """This agent runs the runtime: it has a pool for it and the pool's image is present."""
        p = self.pools.get(key)
        return p is not None and not p.dormant

    def resize(self, key: str, size: int) -> None:
        """A new target size (pool_sizing): grow by creating, shrink by stopping idle sandboxes
        beyond it (the newest: the oldest have waited longest and are handed out first)."""
        p = self.pools[key]
        if size == p.size:
            return
        p.size = size
        self._metrics.pool_size.labels(key).set(size)
        self._keeper.trim(p)
        self._keeper.refill(p)

    # ---- handing out and taking back

    async def acquire(self, runtime_key: str, timeout_s: float) -> Sandbox:
        """An idle running sandbox, at once if there is one; never one handed out before. While
        the run waits, the pool counts it: one with no sandbox idle or starting for it (an
        on-demand pool, or a burst) has one created."""
        p = self.pools[runtime_key]
        p.wanting += 1
        self._keeper.refill(p)
        got = False
        try:
            sandbox = await self._acquire(p, runtime_key, timeout_s)
            got = True
            return sandbox
        finally:
            p.wanting -= 1
            if not got:
                self._keeper.trim(p)

    async def _acquire(self, p: RuntimePool, runtime_key: str, timeout_s: float) -> Sandbox:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + timeout_s
        cold = False
        while True:
            alloc = take_idle(p.view)
            self._metrics.pool_idle.labels(runtime_key).set(len(p.view.idle))
            if alloc is None:
                cold = True
                taken = await self._claims.take_started(p)
                if taken is not None:
                    alloc, container = taken
                    self._metrics.cold_starts.labels(runtime_key).inc()
                    self._metrics.acquire_seconds.labels(runtime_key).observe(loop.time() - started)
                    return Sandbox(alloc, p.jobs.get(alloc, ""), container, runtime_key, time.monotonic(), self)
                await self._claims.wait(p, deadline, f"no {runtime_key} sandbox became ready within {timeout_s:.0f}s")
                continue
            container = await self._claims.hold(p, alloc)
            if container is None:
                continue
            if cold:
                self._metrics.cold_starts.labels(runtime_key).inc()
            self._metrics.acquire_seconds.labels(runtime_key).observe(loop.time() - started)
            return Sandbox(alloc, p.jobs.get(alloc, ""), container, runtime_key, time.monotonic(), self)

    def _container_started(self, alloc_id: str) -> None:
        """Docker started a placed sandbox's container: the run waiting longest looks now, not at
        its next probe (up to STARTING_PROBE_S later)."""
        for p in self.pools.values():
            if alloc_id in p.view.starting:
                p.wake_one()
                return

    def release(self, sandbox: Sandbox, reason: str) -> asyncio.Task[None]:
        """Have a used sandbox destroyed (it is never handed out again) and its successor created;
        only `Sandbox.end` calls this, once per sandbox. Both go on in the background: a
        `docker kill` is a runsc CLI round trip (~100 ms) that would otherwise hold the run's
        slot; a run that must know its program ended awaits the returned task. Should the kill
        fail, the leak guard destroys the sandbox again while Nomad still lists it."""
        p = self.pools[sandbox.runtime_key]
        p.held.discard(sandbox.alloc_id)
        p.stop_requested[sandbox.alloc_id] = time.monotonic()
        self._metrics.sandbox_lifetime_seconds.labels(sandbox.runtime_key).observe(
            time.monotonic() - sandbox.handed_at)
        self._keeper.refill(p)             # first: the successor's create is the slower one
        log.debug("destroying used sandbox %s (%s)", sandbox.alloc_id, reason)
        return self._keeper.in_background(
            self._keeper.destroy_quietly(sandbox.alloc_id, sandbox.job_id, sandbox.container_id),
            f"destroy-{sandbox.alloc_id}")

    def snapshot(self) -> dict[str, dict]:
        return {k: p.snapshot() for k, p in self.pools.items()}
