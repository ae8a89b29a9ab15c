"""The warm pools' sizes follow demand: each runtime keeps its floor, the burst budget goes to
the runtimes whose recent arrivals need more (the decisions are pool_sizing's)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from .config import AgentConfig
from .pool import WarmPool
from .pool_sizing import ArrivalMeter, target_sizes

POOL_SIZING_S = 2                    # how often the pools' sizes follow the arrivals


async def follow_demand(pool: WarmPool, arrivals: ArrivalMeter, config: AgentConfig, stop: asyncio.Event,
                        waiting: Callable[[], dict[str, int]] = dict) -> None:
    """`waiting`: runs per runtime key taken and not started yet (held back or wanting a sandbox)."""
    floors = {key: p.size for key, p in pool.pools.items()}
    while not stop.is_set():
        sizes = target_sizes(floors, arrivals.rates_per_s(time.monotonic()),
                             config.sandbox_replace_s, config.pool_burst, waiting())
        for key, size in sizes.items():
            pool.resize(key, size)
        await asyncio.sleep(POOL_SIZING_S)
