"""How a run claims a sandbox of a runtime's pool: an idle one taken and checked, a placed one
whose container already runs (before Nomad says so), or a wait until either shows up.

Split from the warm pool, which keeps the counts and the watch: these are the steps that touch a
sandbox a run is about to hold, and each must leave the pool's books straight when it fails or is
cancelled halfway (the sandbox back to idle, or skipped and stopped).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from .errors import AgentError, SandboxUnavailable
from .factory import SandboxFactory

if TYPE_CHECKING:   # the pool imports this module
    from .pool import PoolKeeper, RuntimePool

log = logging.getLogger(__name__)

# A run waiting for a sandbox probes the placed ones this often: Nomad reports "running" only up
# to 200 ms after the container started (its client batches allocation updates).
STARTING_PROBE_S = 0.05


class SandboxClaims:
    def __init__(self, factory: SandboxFactory, keeper: PoolKeeper):
        self._factory = factory
        self._keeper = keeper

    async def wait(self, p: RuntimePool, deadline: float, unavailable: str) -> None:
        """Until woken (Nomad reports a sandbox running) or the next look for a placed one whose
        container already runs (see take_started); SandboxUnavailable(`unavailable`) at `deadline`."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        p.waiters.append(fut)
        remaining = deadline - loop.time()
        try:
            if remaining <= 0:
                raise TimeoutError
            await asyncio.wait_for(asyncio.shield(fut), min(remaining, STARTING_PROBE_S))
        except TimeoutError:
            if loop.time() >= deadline:
                raise SandboxUnavailable(unavailable) from None
        finally:
            if fut in p.waiters:
                p.waiters.remove(fut)
            elif fut.done() and not fut.cancelled():
                p.wake()    # woken but leaving (timeout/cancel): pass the wake-up on

    async def hold(self, p: RuntimePool, alloc: str) -> str | None:
        """An idle sandbox taken: its running container, or None (it is skipped and stopped)."""
        p.held.add(alloc)    # from here on ours: the leak guard must not stop it under us
        try:
            container = await self._factory.live_container(alloc)
        except AgentError as e:
            container = None
            log.warning("sandbox %s unusable: %s", alloc, e)
        except asyncio.CancelledError:
            # The run was cancelled while we checked the container: the sandbox was never
            # used, so it goes back to idle (else it stays "handed" forever and the pool shrinks).
            p.held.discard(alloc)
            p.view.handed.discard(alloc)
            p.view.idle.insert(0, alloc)
            p.wake()
            raise
        if container is None:
            # Its container died (launcher crashed, killed): skip it; the pool makes another.
            log.info("sandbox %s has no running container: skipped and stopped", alloc)
            p.held.discard(alloc)
            p.excluded.add(alloc)
            self._keeper.request_stop(p, alloc)
            self._keeper.refill(p)
        return container

    async def take_started(self, p: RuntimePool) -> tuple[str, str] | None:
        """A placed sandbox whose container already runs, for a run that would otherwise wait:
        Nomad lists it as pending until its client's next status sync (up to 200 ms later).
        Taken (handed, held) only if nobody else took it while its container was checked."""
        now = time.monotonic()
        for alloc in list(p.view.starting):
            if alloc in p.probing or alloc in p.view.handed or alloc in p.excluded:
                continue
            if self._factory.container_started(alloc) is False:
                continue               # Docker's start events say its container is not started yet
            if now - p.probed_at.get(alloc, 0.0) < STARTING_PROBE_S:
                break                  # checked a moment ago; younger ones are even less likely ready
            # Only the oldest placed sandbox (that Docker reports started, when it is known) is
            # checked: at most one Docker inspect per pool per interval.
            p.probed_at = {a: t for a, t in p.probed_at.items() if a in p.view.starting}
            p.probed_at[alloc] = now
            p.probing.add(alloc)
            try:
                container = await self._factory.live_container(alloc)
            except AgentError:
                container = None       # not there yet (or gone): Nomad's watch decides
            finally:
                p.probing.discard(alloc)
            view = p.view              # the watch may have replaced the view meanwhile
            if container is None or alloc in view.handed or alloc in p.excluded:
                return None
            self._keeper.running(p, alloc, time.monotonic())
            if alloc in view.idle:     # reported running meanwhile: take it from idle instead
                view.idle.remove(alloc)
            if alloc in view.starting:
                view.starting.remove(alloc)
            view.handed.add(alloc)
            p.held.add(alloc)
            return alloc, container
        return None
