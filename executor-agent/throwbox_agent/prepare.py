"""A sandbox made ready for one run: attached, the run's limits on its container's host cgroup,
its task dirs sealed (fail closed: the program starts only after all of it). Nothing runs yet:
the launcher waits for the header."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import cgroups, sandbox_job
from .docker_api import Attachment
from .errors import AgentError, CgroupError, DockerError
from .pool import Sandbox
from .usage import UsageSampler

if TYPE_CHECKING:
    from .run import RunDeps
    from .run_seams import SandboxSource

log = logging.getLogger(__name__)


async def acquire(pool: SandboxSource, runtime_key: str, wait_s: float, stop: asyncio.Event) -> Sandbox | None:
    """A sandbox of the runtime, or None when `stop` was set first (a sandbox that came at the
    same time is still returned: the caller ends it); SandboxUnavailable if none came in `wait_s`."""
    acquiring = asyncio.create_task(pool.acquire(runtime_key, wait_s))
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({acquiring, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not acquiring.done():
        acquiring.cancel()
        with contextlib.suppress(asyncio.CancelledError, AgentError):
            return await acquiring         # raced: it may have completed meanwhile
        return None
    return acquiring.result()


async def ready_sandbox(deps: RunDeps, run_id: str, sandbox: Sandbox, memory_bytes: int,
                        on_attached: Callable[[Attachment], None], sampler: UsageSampler) -> None:
    """Attach (the attachment goes to `on_attached` at once: the run closes it whatever follows),
    then the container's cgroup to `sampler`, limits and sealed task dirs."""
    attached, state = await asyncio.gather(deps.docker.attach(sandbox.container_id),
                                           deps.docker.inspect(sandbox.container_id), return_exceptions=True)
    if isinstance(attached, BaseException):
        raise attached
    on_attached(attached)
    if isinstance(state, BaseException):
        raise state
    if not state.running or state.pid <= 0:
        raise DockerError(f"container {sandbox.container_id[:12]} is not running")
    paths = sampler.paths = deps.find_cgroups(state.pid)
    deps.apply_limits(paths, memory_bytes, 1.0, deps.config.run_cpu_shares)
    weigh_sandboxes(deps, paths, run_id)
    if deps.alloc_root is not None:
        deps.seal_task_dirs(deps.alloc_root / sandbox.alloc_id, sandbox_job.TASK_NAME)
    sampler.snapshot()


def weigh_sandboxes(deps: RunDeps, paths: cgroups.CgroupPaths, run_id: str) -> None:
    """Runs before the host's housekeeping (checked on every run: Docker may recreate its
    cgroup parent). A weight, not a limit: if it cannot be written, the run goes on."""
    shares = deps.config.sandboxes_cpu_shares
    if not shares:
        return
    try:
        if deps.weigh_sandboxes(paths, shares):
            log.info("sandboxes' cgroup parent weighs cpu.shares=%d against host processes", shares)
    except CgroupError as e:
        log.warning("run %s: sandboxes' cgroup weight not set: %s", run_id, e)
