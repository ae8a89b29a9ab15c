"""Which tenants exist, for callers that name their tenant instead of presenting a key.

A tenant exists while it has at least one API key in Consul (throwbox/keys/<hash>). Its quota
over Kafka is the strictest of its keys' quotas (a key without its own quota has the defaults).
The whole key list is read at most every `ttl_s` (sooner for a name not seen yet), and the last
list read keeps being used while Consul is unreachable.
"""

from __future__ import annotations

import asyncio
import logging
import time

import msgspec

from ..admission import Quota
from ..auth import KEY_PREFIX, KeyRecord
from ..consul import KV, ConsulError

log = logging.getLogger("throwbox.invocations")
_dec = msgspec.json.Decoder(KeyRecord)
UNKNOWN_RECHECK_S = 0.5   # a tenant created a moment ago is found after at most this long


class TenantDirectory:
    def __init__(self, kv: KV, default_quota: Quota, ttl_s: float = 5.0, clock=time.monotonic):
        self.kv = kv
        self.default_quota = default_quota
        self.ttl_s = ttl_s
        self.clock = clock
        self._quotas: dict[str, Quota] | None = None
        self._read_at = 0.0
        self._lock = asyncio.Lock()

    async def quota(self, tenant: str) -> Quota | None:
        """The tenant's quota, None if it has no key. Raises ConsulError if it never could read."""
        age = self.clock() - self._read_at
        if self._quotas is None or age > self.ttl_s or (tenant not in self._quotas and age > UNKNOWN_RECHECK_S):
            await self._refresh()
        assert self._quotas is not None
        return self._quotas.get(tenant)

    async def _refresh(self) -> None:
        async with self._lock:
            if self._quotas is not None and self.clock() - self._read_at <= UNKNOWN_RECHECK_S:
                return  # another caller just read it
            try:
                entries = await self.kv.list(KEY_PREFIX)
            except ConsulError:
                if self._quotas is None:
                    raise
                log.warning("consul unreachable: tenant list kept from %.0fs ago", self.clock() - self._read_at)
                return
            quotas = quotas_of(entries_records(entries), self.default_quota)
            if not quotas and self._quotas:
                # Consul answers "no keys at all" for a moment after it restarts (state not yet
                # restored): never conclude from that that every tenant is gone.
                log.warning("consul listed no API keys at all: tenant list kept")
                return
            self._quotas = quotas
            self._read_at = self.clock()


def entries_records(entries) -> list[KeyRecord]:
    out = []
    for e in entries:
        try:
            out.append(_dec.decode(e.value))
        except msgspec.DecodeError:
            continue
    return out


def quotas_of(records: list[KeyRecord], default: Quota) -> dict[str, Quota]:
    """Pure: tenant → the strictest quota among its keys."""
    out: dict[str, Quota] = {}
    for r in records:
        q = Quota(r.max_concurrent if r.max_concurrent is not None else default.max_concurrent,
                  r.runs_per_minute if r.runs_per_minute is not None else default.runs_per_minute)
        old = out.get(r.tenant)
        out[r.tenant] = q if old is None else Quota(min(old.max_concurrent, q.max_concurrent),
                                                    min(old.runs_per_minute, q.runs_per_minute))
    return out
