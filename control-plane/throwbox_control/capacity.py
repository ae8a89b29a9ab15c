"""Admission bounded by what the workers can start: a queue bound per runtime, shared fairly.

Every live executor agent advertises in its Consul registration (service `throwbox-agent`,
passing checks only) the runs topic it consumes and, per runtime, its warm sandboxes (idle and
kept) and the rate at which it starts that runtime's runs while they wait
(throwbox_common.capacity_meta, measured by the agent: throwbox_agent.start_rate). A runtime's
runs wait only for that runtime's sandboxes, so each runtime has its own bound:

    bound(R) = safety × Σ_agents (idle(R) + start_rate(R) × (queue_timeout − start_margin))

and all runtimes together stay below THROWBOX_CP_MAX_QUEUE_DEPTH. Every control-plane instance
reads the same registrations and the same run view (the queue: submitted, not started), so all
compute the same bound. A run is accepted only while its runtime's queue is below the bound, so
an accepted run can start before its queue timeout; past it the answer is `503 overloaded` at
once, with a Retry-After of the time the workers need to start the backlog above the bound.

The queue is shared fairly: with N tenants wanting to queue runs of a runtime (those with
queued runs of it, the asking one, and those refused it in the last few seconds), a tenant may
hold at most ⌈bound / N⌉ of them, so one tenant's burst cannot take the others' places. The
agents start held runs round robin across tenants (throwbox_agent.fair_queue).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from throwbox_common import capacity_meta, topics
from throwbox_common.capacity_meta import RuntimeCapacity

from .consul import KV, ConsulError

log = logging.getLogger("throwbox.capacity")
AGENT_SERVICE = "throwbox-agent"
RETRY_AFTER_MAX_S = 60
NO_WORKER_RETRY_AFTER_S = 15
DEMAND_MEMORY_S = 5.0      # a refused tenant still counts as wanting a share this long


class AgentCapacity(msgspec.Struct, frozen=True):
    """One live agent's advertised figures (read from its Consul service meta)."""

    name: str
    runs_topic: str
    runtimes: dict[str, RuntimeCapacity]
    # The sandbox runtime it runs (dockerd's name: runsc-go, runsc or runc) and, for gVisor,
    # its version and platform ("" from an agent that does not say).
    sandbox_runtime: str = ""
    gvisor_version: str = ""
    gvisor_platform: str = ""


@dataclass(frozen=True)
class Bound:
    queued_max: int            # runs of the runtime that may wait for a sandbox, cluster-wide
    start_rate_per_s: float    # Σ of the live agents' rates for it (0: nobody runs it)
    agents: int                # live agents offering the runtime (-1: not known yet)


@dataclass(frozen=True)
class QueueDecision:
    admitted: bool
    retry_after_s: int = 0
    reason: str = ""


def queue_bound(agents: Iterable[AgentCapacity], runtime: str, queue_timeout_ms: int, start_margin_ms: int,
                safety: float, outer_max: int) -> Bound:
    """Pure: how many runs of `runtime` may be queued so that each can start within the queue timeout."""
    window_s = max(0.0, (queue_timeout_ms - start_margin_ms) / 1000)
    offering = [a.runtimes[runtime] for a in agents if runtime in a.runtimes]
    rate = sum(max(0.0, f.start_rate_per_s) for f in offering)
    idle = sum(max(0, f.idle) for f in offering)
    raw = safety * (idle + rate * window_s)
    return Bound(queued_max=max(0, min(outer_max, math.floor(raw))), start_rate_per_s=rate,
                 agents=len(offering))


def fair_share(queued_max: int, tenants_wanting: int) -> int:
    """Pure: the most queued runs one tenant may hold while `tenants_wanting` tenants want some."""
    if queued_max <= 0:
        return 0
    return max(1, math.ceil(queued_max / max(1, tenants_wanting)))


def retry_after_s(queued: int, queued_max: int, rate_per_s: float) -> int:
    """Pure: seconds until the workers have started enough of the backlog for one more run."""
    if rate_per_s <= 0:
        return NO_WORKER_RETRY_AFTER_S
    over = max(1, queued - queued_max + 1)
    return max(1, min(RETRY_AFTER_MAX_S, math.ceil(over / rate_per_s)))


def decide_queue(bound: Bound, queued: int, tenant_queued: int, tenants_wanting: int,
                 queued_all: int = 0, outer_max: int | None = None) -> QueueDecision:
    """Pure: may one more run of this tenant join its runtime's queue (`queued` runs of the
    runtime, `tenant_queued` of them the tenant's, `queued_all` of every runtime)?"""
    if bound.agents == 0:
        return QueueDecision(False, NO_WORKER_RETRY_AFTER_S, "no executor agent is alive to start this runtime's runs")
    if outer_max is not None and queued_all >= outer_max:
        return QueueDecision(False, retry_after_s(queued_all, outer_max, bound.start_rate_per_s),
                             f"the platform's queue is at its limit of {outer_max} waiting runs")
    if queued >= bound.queued_max:
        return QueueDecision(False, retry_after_s(queued, bound.queued_max, bound.start_rate_per_s),
                             f"the workers cannot start more than {bound.queued_max} waiting runs of "
                             "this runtime within the queue timeout")
    share = fair_share(bound.queued_max, tenants_wanting)
    if tenant_queued >= share:
        # The time for this tenant's own runs above its share to start, at its share of the rate.
        per_tenant_rate = bound.start_rate_per_s / max(1, tenants_wanting)
        return QueueDecision(False, retry_after_s(tenant_queued, share, per_tenant_rate),
                             f"this tenant already has its fair share ({share}) of the runs waiting for "
                             "this runtime")
    return QueueDecision(True)


def parse_agent(meta: dict[str, str]) -> AgentCapacity | None:
    """An agent's figures from its service meta; None when it advertises none (an older agent)
    or is draining (it starts nothing new)."""
    if meta.get("draining") == "true":
        return None
    runtimes = capacity_meta.decode(meta)
    if runtimes is None:
        return None
    return AgentCapacity(name=meta.get("agent", ""), runs_topic=meta.get("runs_topic", topics.RUNS),
                         runtimes=runtimes,
                         sandbox_runtime=meta.get("sandbox_runtime") or meta.get("oci_runtime", ""),
                         gvisor_version=meta.get("gvisor_version", ""),
                         gvisor_platform=meta.get("gvisor_platform", ""))


def runtime_offered(runtime: str, agents: list[AgentCapacity] | None) -> bool:
    """Pure: whether a runtime is offered (listed, and runs of it accepted). The live agents
    advertise only the runtimes they can run (an agent whose node lacks the image, still being
    built, leaves it out): offered when one of them advertises it. With no live agent, or their
    figures not read yet (`agents` None), every runtime is offered: a run then waits for an
    agent or is answered `503 overloaded`, as a platform fault, not as a runtime that is
    not installed."""
    if not agents:
        return True
    return any(runtime in a.runtimes for a in agents)


class OfferedRuntimes:
    """The runtimes the live agents offer now, as the container Registry.offered consults."""

    def __init__(self, watch: CapacityWatch):
        self._watch = watch

    def __contains__(self, runtime: object) -> bool:
        return isinstance(runtime, str) and runtime_offered(
            runtime, self._watch.agents if self._watch.known else None)


def sandbox_runtimes(agents: Iterable[AgentCapacity]) -> list[dict]:
    """Pure: the sandbox runtimes the live agents run, each with its gVisor version and
    platform and how many agents run it (/readyz)."""
    counts: dict[tuple[str, str, str], int] = {}
    for a in agents:
        key = (a.sandbox_runtime, a.gvisor_version, a.gvisor_platform)
        counts[key] = counts.get(key, 0) + 1
    return [{"runtime": r, "gvisor_version": v, "platform": p, "agents": n}
            for (r, v, p), n in sorted(counts.items())]


class QueuePlaces:
    """Queue places held by submissions admitted here and not yet in the run view."""

    def __init__(self) -> None:
        self.total = 0
        self._held: dict[tuple[str, str], int] = {}    # (runtime, tenant) → places

    def of(self, runtime: str, tenant: str | None = None) -> int:
        return sum(n for (r, t), n in self._held.items() if r == runtime and (tenant is None or t == tenant))

    def tenants(self, runtime: str) -> list[str]:
        return [t for (r, t) in self._held if r == runtime]

    def take(self, runtime: str, tenant: str) -> QueuePlace:
        self.total += 1
        self._held[(runtime, tenant)] = self._held.get((runtime, tenant), 0) + 1
        return QueuePlace(self, (runtime, tenant))

    def _give_back(self, key: tuple[str, str]) -> None:
        self.total -= 1
        left = self._held[key] - 1
        if left:
            self._held[key] = left
        else:
            del self._held[key]


class QueuePlace:
    def __init__(self, places: QueuePlaces, key: tuple[str, str]):
        self._places: QueuePlaces | None = places
        self._key = key

    def release(self) -> None:
        """Once: when the run view counts the run, or when the submission failed."""
        if self._places is not None:
            self._places._give_back(self._key)   # noqa: SLF001
            self._places = None


class CapacityWatch:
    """The live agents' figures, kept current by a Consul blocking query on their health.

    When Consul is away the last figures stand (an outage of Consul is not one of the workers)."""

    def __init__(self, kv: KV | None, runs_topic: str = topics.RUNS, wait_s: int = 5,
                 clock=time.monotonic):
        self.kv = kv
        self.runs_topic = runs_topic
        self.wait_s = wait_s
        self.clock = clock
        self.agents: list[AgentCapacity] = []
        self.known = False                 # read at least once
        self._index = 0
        self._refused: dict[tuple[str, str], float] = {}   # (runtime, tenant) → last refused

    def set_agents(self, metas: Iterable[dict[str, str]]) -> None:
        parsed = [parse_agent(m) for m in metas]
        self.agents = [a for a in parsed if a is not None and a.runs_topic == self.runs_topic]
        self.known = True

    async def run(self) -> None:
        assert self.kv is not None
        while True:
            try:
                index, metas = await self.kv.healthy_service_meta(AGENT_SERVICE, self._index, self.wait_s)
                self._index = index if index >= self._index else 0   # an index going back: Consul restarted
                self.set_agents(metas)
            except ConsulError as e:
                log.debug("agent capacity not read: %s", e)
                self._index = 0
                await asyncio.sleep(1)
                continue
            await asyncio.sleep(0.2)  # at most ~5 reads a second however often the agents change

    def bound(self, runtime: str, queue_timeout_ms: int, start_margin_ms: int, safety: float,
              outer_max: int) -> Bound:
        if not self.known:
            # Consul not read yet (start-up while it is away): the fixed outer limit alone.
            return Bound(queued_max=outer_max, start_rate_per_s=0.0, agents=-1)
        return queue_bound(self.agents, runtime, queue_timeout_ms, start_margin_ms, safety, outer_max)

    def runtimes(self) -> list[str]:
        return sorted({r for a in self.agents for r in a.runtimes})

    def tenants_wanting(self, runtime: str, queued_tenants: Iterable[str], asking: str) -> int:
        now = self.clock()
        self._refused = {k: at for k, at in self._refused.items() if now - at < DEMAND_MEMORY_S}
        refused = {t for (r, t) in self._refused if r == runtime}
        return len(set(queued_tenants) | refused | {asking})

    def refused(self, runtime: str, tenant: str) -> None:
        self._refused[(runtime, tenant)] = self.clock()
