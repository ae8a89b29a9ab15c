"""The agent's Consul service: registered with an HTTP check on /healthz, registered again
whenever what it advertises changes (the control planes read it), deregistered on exit; and
whether another agent is alive, from the same service's health entries."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping

import aiohttp

from throwbox_common import acl_tokens, capacity_meta
from throwbox_common.capacity_meta import RuntimeCapacity

from .config import AgentConfig
from .errors import AgentError
from .liveness import agent_alive
from .start_rate import StartRateMeter

log = logging.getLogger(__name__)

SERVICE_NAME = "throwbox-agent"
MIN_ADVERTISED_RATE_PER_S = 0.1
REGISTER_EVERY_S = 2                 # how often the agent looks whether its meta changed


def capacity(pools: Mapping[str, dict], start_rates: Mapping[str, StartRateMeter],
             prior_rate_per_s: float) -> dict[str, RuntimeCapacity]:
    """Per runtime: warm sandboxes idle and kept, and the start rate (never advertised as 0:
    a backlog that started nothing must not shut admission for good). `pools` is the warm
    pool's snapshot; a dormant pool (its image is missing) is left out: the runtime is not
    offered by this agent."""
    out = {}
    for key, snap in pools.items():
        if snap.get("dormant"):
            continue
        meter = start_rates.get(key)
        rate = meter.rate_per_s if meter is not None else prior_rate_per_s
        out[key] = RuntimeCapacity(idle=snap["idle"], size=snap["size"],
                                   start_rate_per_s=max(MIN_ADVERTISED_RATE_PER_S, rate))
    return out


def service_meta(config: AgentConfig, oci_runtime: str, runtime_meta: Mapping[str, str],
                 runtimes: Mapping[str, RuntimeCapacity], draining: bool) -> dict[str, str]:
    """What the control planes read: the pools, and admission's figures (throwbox_control.capacity)."""
    meta = {"agent": config.name, "oci_runtime": oci_runtime, "runs_topic": config.runs_topic}
    meta.update(runtime_meta)
    meta.update(capacity_meta.encode(runtimes))
    if draining:
        meta["draining"] = "true"
    return meta


class ConsulService:
    """The agent's registration in its local Consul agent (THROWBOX_AGENT_CONSUL_ADDR)."""

    def __init__(self, config: AgentConfig):
        self.config = config
        self.service_id = f"{SERVICE_NAME}-{config.name}"
        self.registered = False
        self._last_meta: dict | None = None
        self._http: aiohttp.ClientSession | None = None

    def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10),
                                           headers=acl_tokens.consul_headers(self.config.consul_token_file))

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def _call(self, method: str, path: str, body: dict | None = None):
        assert self._http is not None, "ConsulService.start() first"
        async with self._http.request(method, self.config.consul_addr + path, json=body) as resp:
            text = await resp.text()
            if resp.status != 200:
                raise AgentError(f"consul {method} {path}: {resp.status} {text[:200]}")
            return json.loads(text) if text else None

    async def agent_alive(self, name: str) -> bool:
        try:
            entries = await self._call("GET", f"/v1/health/service/{SERVICE_NAME}")
        except (AgentError, aiohttp.ClientError, TimeoutError):
            return True    # cannot tell: do not declare it lost
        return agent_alive(entries, name)

    async def register(self, meta: dict[str, str]) -> None:
        check_url = f"http://{self.config.metrics_host}:{self.config.metrics_port}/healthz"
        await self._call("PUT", "/v1/agent/service/register", {
            "ID": self.service_id, "Name": SERVICE_NAME, "Meta": meta,
            "Address": self.config.metrics_host, "Port": self.config.metrics_port,
            # Passing from the start (Consul's default is critical until the first check, up to
            # an interval later): the agent registers once it serves, and admission counts only
            # passing agents, so a new agent's capacity counts at once.
            "Check": {"HTTP": check_url, "Interval": "5s", "Timeout": "2s", "Status": "passing",
                      "DeregisterCriticalServiceAfter": "1m"},
        })
        self.registered = True
        self._last_meta = meta

    async def follow(self, meta: Callable[[], dict[str, str]], draining: Callable[[], bool]) -> None:
        """Register (again whenever the meta changes: the control plane reads it) until draining."""
        while not draining():
            current = meta()
            if current != self._last_meta:
                try:
                    await self.register(current)
                except (AgentError, aiohttp.ClientError, TimeoutError) as e:
                    log.warning("consul registration: %s", e)
            await asyncio.sleep(REGISTER_EVERY_S)

    async def deregister(self) -> None:
        await self._call("PUT", f"/v1/agent/service/deregister/{self.service_id}")
