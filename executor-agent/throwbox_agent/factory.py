"""Creating and destroying sandboxes, behind a small interface.

`SandboxFactory` is what the pool and the run lifecycle need; `NomadDockerFactory` does it with
Nomad (a parameterized job per pool, one dispatched job per sandbox) and Docker (the
allocation's container). Unit tests use a fake.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from throwbox_common.runtimes import Registry, Runtime

from . import sandbox_job
from .alloc_watch import AllocEnds, AllocEventWatch
from .config import AgentConfig
from .container_starts import ContainerStarts
from .docker_api import DockerClient
from .errors import ContainerGone, DockerError, NomadError
from .nomad_api import TERMINAL_CLIENT_STATUSES, AllocStub, NomadClient

log = logging.getLogger(__name__)

GC_GRACE_S = 2.0
GC_WAIT_S = 60.0      # how long a destroyed sandbox's alloc-dir GC waits for the alloc to end


@runtime_checkable
class SandboxFactory(Protocol):
    """Everything the pool asks of sandboxes, and the only way one is destroyed."""

    # Set by the pool: called when a placed sandbox's container has started (a waiting run
    # looks at once), if the factory can tell.
    on_container_started: Callable[[str], None] | None

    async def ensure_pool(self, runtime: Runtime) -> int:
        """Register/update the pool's parameterized job; returns its registration index."""

    async def create(self, runtime: Runtime) -> str:
        """Dispatch one sandbox from the pool job; returns its job ID."""

    async def live_allocs(self, pool_ids: list[str], index: int = 0) -> tuple[list[AllocStub], int]:
        """Pending/running allocs dispatched from these pool jobs (blocking when index > 0)."""

    async def live_container(self, alloc_id: str) -> str | None:
        """The running container of an alloc, or None if it is not running."""

    async def destroy(self, alloc_id: str, job_id: str, container_id: str | None) -> None:
        """Kill the sandbox's container (its allocation then ends; nothing replaces it); through
        Nomad (stop its job) if Docker cannot, or if its container does not run yet."""

    async def destroy_job(self, job_id: str) -> None:
        """Stop a created sandbox that has no allocation (yet)."""

    def container_started(self, alloc_id: str) -> bool | None:
        """Whether the alloc's container has started yet (None: not known)."""

    async def close(self) -> None:
        """Stop watching; give destructions still under way a moment (the pool is closing)."""


class NomadDockerFactory:
    def __init__(self, config: AgentConfig, registry: Registry, nomad: NomadClient,
                 docker: DockerClient, node_id: str, oci_runtime: str):
        self._config = config
        self._registry = registry
        self._nomad = nomad
        self._docker = docker
        self._node_id = node_id
        self._oci_runtime = oci_runtime
        self._gc_tasks: set[asyncio.Task] = set()
        self._watch: AllocEventWatch | None = None
        self._starts: ContainerStarts | None = None
        self._ends = AllocEnds()      # fed by the watch's event stream, whichever watch runs
        self.on_container_started: Callable[[str], None] | None = None   # set by the pool

    async def ensure_pool(self, runtime: Runtime) -> int:
        job = sandbox_job.render(self._config, self._registry, runtime, self._node_id, self._oci_runtime)
        existing = await self._nomad.job(job["ID"])
        if existing is not None and not existing.get("ParameterizedJob"):
            # A pool job of the earlier design (a service job whose count was the pool size):
            # Nomad refuses to change a job's type, and its sandboxes are stale anyway.
            log.info("purging %s, a service-job pool of an earlier agent version", job["ID"])
            await self._nomad.stop_job(job["ID"], purge=True)
        return await self._nomad.register_job(job)

    async def create(self, runtime: Runtime) -> str:
        return await self._nomad.dispatch(sandbox_job.job_id(self._config.name, runtime))

    async def live_allocs(self, pool_ids: list[str], index: int = 0) -> tuple[list[AllocStub], int]:
        """Index 0: one filtered list now. Otherwise from the allocation event stream (see
        alloc_watch): returns once something changed past `index`."""
        if not index:
            return await self._nomad.live_allocs(pool_ids)
        if self._watch is None or self._watch.job_ids != sorted(set(pool_ids)):
            await self.close()
            self._watch = AllocEventWatch(self._nomad, pool_ids, on_ended=self._ends.ended)
            self._starts = ContainerStarts(self._docker, pool_ids, on_start=self._container_started)
            self._starts.start()
        return await self._watch.next(index)

    def _container_started(self, alloc_id: str) -> None:
        if self.on_container_started is not None:
            self.on_container_started(alloc_id)

    def container_started(self, alloc_id: str) -> bool | None:
        """Whether Docker has started the alloc's container yet (None: not known)."""
        return self._starts.started(alloc_id) if self._starts is not None else None

    async def close(self) -> None:
        if self._gc_tasks:
            # Alloc-dir GCs still waiting for their alloc to end: a moment, then give up (the
            # dirs are sealed; Nomad's own client GC removes them later). Not after the session closed.
            _, pending = await asyncio.wait(set(self._gc_tasks), timeout=GC_GRACE_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._watch is not None:
            await self._watch.close()
            self._watch = None
        if self._starts is not None:
            await self._starts.close()
            self._starts = None

    async def live_container(self, alloc_id: str) -> str | None:
        name = sandbox_job.container_name(alloc_id)
        try:
            # One inspect by name gives both (this runs every 50 ms while a run waits).
            cid, state = await self._docker.inspect_with_id(name)
        except ContainerGone:
            return None
        return cid if state.running else None

    async def destroy(self, alloc_id: str, job_id: str, container_id: str | None) -> None:
        # docker kill, not a Nomad stop: the allocation then ends by itself (complete or failed,
        # never rescheduled), which costs Nomad nothing; stopping its job costs an evaluation.
        try:
            result = await self._docker.kill(container_id or sandbox_job.container_name(alloc_id))
        except DockerError as e:
            log.warning("killing the container of alloc %s failed (%s); stopping its job", alloc_id, e)
            result = None
        # A container that ran (container_id known) and is not running now has ended: the
        # launcher exits after its run. One never seen running may not have started yet:
        # only Nomad can make sure it never will.
        if result is None or (container_id is None and result != "killed"):
            if not job_id:
                raise NomadError(f"alloc {alloc_id}: its job is not known, so it cannot be stopped")
            await self._nomad.stop_job(job_id)
        task = asyncio.create_task(self._gc_when_stopped(alloc_id), name=f"gc-{alloc_id}")
        self._gc_tasks.add(task)
        task.add_done_callback(self._gc_tasks.discard)

    async def destroy_job(self, job_id: str) -> None:
        await self._nomad.stop_job(job_id)

    async def _gc_when_stopped(self, alloc_id: str) -> None:
        """A used sandbox's alloc dir (/alloc, /local inside it: host disk the program could
        write to) is deleted as soon as the alloc is terminal, not when Nomad's GC gets to it.
        The pool's allocation event stream says when (polling GET /v1/allocation/<id> made Nomad
        serialise the whole alloc with its job twice a second per replacement); one GET decides
        if no end came in GC_WAIT_S (the stream was down, or not up yet at start-up)."""
        try:
            if not await self._ends.wait(alloc_id, GC_WAIT_S):
                status = (await self._nomad.allocation(alloc_id))["ClientStatus"]
                if status not in TERMINAL_CLIENT_STATUSES:
                    log.info("gc of alloc %s: still %s after %.0f s; left to Nomad's own GC", alloc_id, status, GC_WAIT_S)
                    return
            await self._nomad.gc_alloc(alloc_id)
        except NomadError as e:
            log.info("gc of alloc %s: %s", alloc_id, e)

    async def stop_pools(self, runtimes: list[Runtime]) -> None:
        """Stop every sandbox still live and the pool jobs (a dispatched job outlives its parent)."""
        pool_ids = [sandbox_job.job_id(self._config.name, r) for r in runtimes]
        try:
            live, _ = await self._nomad.live_allocs(pool_ids)
        except NomadError as e:
            log.warning("stopping the pools: %s", e)
            live = []
        await asyncio.gather(*(self._nomad.stop_job(j) for j in {a.job_id for a in live} | set(pool_ids)),
                             return_exceptions=True)
