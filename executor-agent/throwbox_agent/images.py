"""Which runtimes this agent can run: those whose image its Docker engine holds.

An image still being built (scripts/build-images.sh after `make up` started the stack, or a new
version deployed before its image was loaded) leaves its runtime dormant here: no sandboxes are
created for it (Nomad could not start them: there is no registry to pull from), it is left out
of the capacity the agent advertises, so the control planes do not offer it, and a run of it
that reaches this agent ends as `unknown_runtime`. Once the image appears the pool fills and the
runtime is offered within a few seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from throwbox_common.runtimes import Runtime

from .docker_api import DockerClient
from .errors import DockerError
from .pool import WarmPool

log = logging.getLogger(__name__)

CHECK_EVERY_S = 5.0      # how soon a newly built (or removed) image is noticed


def missing_runtimes(runtimes: Iterable[Runtime], tags: set[str]) -> set[str]:
    """Pure: the keys of the runtimes whose image is not among the engine's tags."""
    return {r.key for r in runtimes if r.image not in tags}


async def check_once(docker: DockerClient, pool: WarmPool) -> None:
    """Mark the pools whose image is missing dormant (and wake those whose image appeared)."""
    tags = await docker.image_tags()
    missing = missing_runtimes((p.runtime for p in pool.pools.values()), tags)
    for key in pool.set_dormant(missing):
        p = pool.pools[key]
        if key in missing:
            log.warning("image %s is missing: runtime %s is not offered until it is built/loaded", p.runtime.image, key)
        else:
            log.info("image %s is present: runtime %s is offered", p.runtime.image, key)


async def follow_images(docker: DockerClient, pool: WarmPool, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await check_once(docker, pool)
        except DockerError as e:
            log.warning("listing the images: %s", e)   # the last answer stands
        try:
            await asyncio.wait_for(stop.wait(), CHECK_EVERY_S)
        except TimeoutError:
            pass
