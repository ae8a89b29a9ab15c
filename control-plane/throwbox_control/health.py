"""The instance's health for operators: readiness of its dependencies (cached for a second),
the capacity figures admission rests on, and the gauges refreshed for /metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import aiohttp

from . import metrics
from .capacity import Bound, CapacityWatch, sandbox_runtimes
from .consul import KV, ConsulError
from .runview import RunView

if TYPE_CHECKING:
    from .services import EventBus


class Health:
    def __init__(self, nomad_addr: str, kv: KV, bus: EventBus, view: RunView, capacity: CapacityWatch,
                 queue_bound: Callable[[str], Bound]):
        self._nomad_addrs = nomad_addr.split(",")          # a server list: ready when one has a leader
        self._kv, self._bus, self._view, self._capacity = kv, bus, view, capacity
        self._queue_bound = queue_bound
        self.http: aiohttp.ClientSession | None = None     # opened by the services' start
        self._ready_cache: tuple[float, dict[str, str]] | None = None

    async def readiness(self) -> dict[str, str]:
        now = time.monotonic()
        if self._ready_cache is not None and now - self._ready_cache[0] < 1.0:
            return self._ready_cache[1]
        checks: dict[str, str] = {}
        checks["kafka"] = "ok" if (self._bus.consumer_ok and self._bus.producer is not None) else "down"
        checks["run_view"] = "ok" if self._bus.caught_up.is_set() else "catching up"
        try:
            checks["consul"] = "ok" if await self._kv.leader() else "down: no leader"
        except ConsulError:
            checks["consul"] = "down"
        checks["nomad"] = await self._nomad()
        for dep in ("kafka", "consul", "nomad"):
            metrics.dependency_up.labels(dep).set(1 if checks[dep] == "ok" else 0)
        self._ready_cache = (now, checks)
        return checks

    async def _nomad(self) -> str:
        """ok when one of the configured Nomad servers knows a leader (a cluster keeps working
        with one server down); else the last server's answer."""
        answer = "down"
        for addr in self._nomad_addrs:
            try:
                assert self.http is not None
                async with self.http.get(addr + "/v1/status/leader") as r:
                    body = await r.read()
                    if r.status == 200 and len(body.strip(b'" \n')) > 0:
                        return "ok"
                    answer = f"down: HTTP {r.status}"
            except (aiohttp.ClientError, TimeoutError, OSError, AssertionError):
                answer = "down"
        return answer

    def capacity_report(self) -> dict:
        """What admission's queue bounds rest on (informational: /readyz, tests, operators)."""
        runtimes = {}
        for r in self._capacity.runtimes():
            bound = self._queue_bound(r)
            runtimes[r] = {"queued": self._view.runtime_queued(r), "queued_max": bound.queued_max,
                           "start_rate_per_s": round(bound.start_rate_per_s, 3)}
        return {"known": self._capacity.known, "agents": len(self._capacity.agents),
                "queued": self._view.queue_depth(), "runtimes": runtimes,
                "sandbox_runtimes": sandbox_runtimes(self._capacity.agents)}

    async def refresh_gauges(self) -> None:
        view, capacity = self._view, self._capacity
        metrics.runs_queued.set(view.queue_depth())
        metrics.runs_active.set(view.active())
        metrics.live_agents.set(len(capacity.agents))
        for gauge in (metrics.queue_bound, metrics.start_rate, metrics.warm_idle, metrics.warm_size):
            gauge.clear()
        for r in capacity.runtimes():
            bound = self._queue_bound(r)
            metrics.queue_bound.labels(r).set(bound.queued_max)
            metrics.start_rate.labels(r).set(bound.start_rate_per_s)
        for a in capacity.agents:
            for r, f in a.runtimes.items():
                metrics.warm_idle.labels(a.name, r).set(f.idle)
                metrics.warm_size.labels(a.name, r).set(f.size)
        metrics.events_lag.set(await self._bus.lag())
