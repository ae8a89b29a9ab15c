"""The agent's own Nomad node drained: Nomad drains a node's batch allocations (our sandboxes)
before its system jobs (us), so the agent notices the drain itself, hands its partitions over
and empties the node (docs/cluster.md "A drained worker")."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp

from .errors import NomadError
from .liveness import node_draining
from .nomad_api import NomadClient

log = logging.getLogger(__name__)

NODE_WATCH_S = 2                     # how often the agent looks whether its Nomad node is drained


async def watch_node_drain(nomad: NomadClient, node_id: str, stop: asyncio.Event,
                           on_drain: Callable[[], None]) -> None:
    """Call `on_drain` once the node is being drained (and stop watching)."""
    while not stop.is_set():
        try:
            if node_draining(await nomad.node(node_id)):
                on_drain()
                return
        except (NomadError, aiohttp.ClientError, TimeoutError) as e:
            log.debug("node drain watch: %s", e)
        await asyncio.sleep(NODE_WATCH_S)
