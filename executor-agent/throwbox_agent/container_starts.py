"""Which sandbox containers Docker has started, from its event stream.

A run that finds no idle sandbox takes a placed one as soon as its container runs (Nomad says
"running" only up to 200 ms later). Finding that out by inspecting the oldest placed sandbox
every 50 ms cost one Docker inspect per 50 ms per waiting pool for as long as runs wait, which
under sustained load is all the time; with the start events the pool inspects a placed sandbox
only once Docker has said it started. While the stream is not connected nothing is known and
the pool probes as before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from throwbox_common.aio import cancel_and_wait

from .docker_api import DockerClient
from .errors import DockerError
from .nomad_api import parent_job

log = logging.getLogger(__name__)

ALLOC_LABEL = "com.hashicorp.nomad.alloc_id"
JOB_LABEL = "com.hashicorp.nomad.job_name"
KEEP_S = 600.0          # a start is remembered this long (a placed sandbox is taken well before)
REPLAY_S = 60           # on (re)connecting, Docker replays the starts of the last minute


def started_alloc(event: dict, pool_ids: set[str]) -> str | None:
    """The allocation whose container this Docker event says started, if it is one of ours
    (dispatched from one of these pool jobs)."""
    if event.get("Type") != "container" or event.get("Action") != "start":
        return None
    attrs = (event.get("Actor") or {}).get("Attributes") or {}
    if parent_job(attrs.get(JOB_LABEL) or "") not in pool_ids:
        return None
    return attrs.get(ALLOC_LABEL) or None


class ContainerStarts:
    """`on_start(alloc)` is called for each start (a run waiting for that sandbox takes it then)."""

    def __init__(self, docker: DockerClient, job_ids: Iterable[str],
                 on_start: Callable[[str], None] | None = None):
        self._docker = docker
        self._jobs = set(job_ids)
        self._on_start = on_start
        self._started: dict[str, float] = {}
        self._connected = False
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._follow(), name="container-starts")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        self._connected = False

    def started(self, alloc_id: str) -> bool | None:
        """True once Docker started the alloc's container, False if not yet, None if unknown."""
        if not self._connected:
            return None
        return alloc_id in self._started

    def note(self, event: dict) -> None:
        alloc = started_alloc(event, self._jobs)
        if alloc is None:
            return
        now = time.monotonic()
        self._started[alloc] = now
        if len(self._started) > 256:
            self._started = {a: t for a, t in self._started.items() if now - t < KEEP_S}
        if self._on_start is not None and self._connected:
            self._on_start(alloc)

    async def _follow(self) -> None:
        backoff = 0.5
        while True:
            since = int(time.time()) - REPLAY_S
            try:
                filters = {"type": ["container"], "event": ["start"], "label": [ALLOC_LABEL]}
                async for event in self._docker.events(filters, since, on_open=self._opened):
                    self.note(event)
                    backoff = 0.5
                raise DockerError("the event stream ended")
            except asyncio.CancelledError:
                raise
            except (DockerError, ValueError) as e:
                log.info("docker start events: %s (retry in %.1fs)", e, backoff)
            finally:
                self._connected = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10)

    def _opened(self) -> None:
        self._connected = True
