"""Per-tenant admission shared by every instance: concurrency and runs-per-minute.

One Consul key per tenant (throwbox/admission/<tenant>) holds both the active runs (run id →
expiry) and a sliding-window rate counter, so one admission costs one CAS. Requests of one
tenant that arrive together on one instance are decided in one batch (one CAS for the lot),
which keeps Consul writes far below the request rate under load.

Slots are released when any instance sees the run's Finished record (idempotent: removing an
absent id writes nothing). An entry expires at created + queue timeout + wall limit + margin,
so a lost release cannot hold a slot forever.

When Consul cannot be reached, decisions fall back to per-instance counters (each instance
then enforces the quotas on its own share: with N instances a tenant may briefly get up to N
times its quota). Consul is retried after `consul_retry_after_ms`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field

import msgspec

from .consul import KV, ConsulError

log = logging.getLogger("throwbox.admission")
WINDOW_MS = 60_000
KEY_PREFIX = "throwbox/admission/"


class TenantCounters(msgspec.Struct):
    """The value of throwbox/admission/<tenant>."""

    active: dict[str, int] = {}   # run id → expiry (ms)
    window_start_ms: int = 0       # start of the current 60 s bucket
    window_count: int = 0
    prev_count: int = 0            # the bucket before


@dataclass(frozen=True)
class Quota:
    max_concurrent: int
    runs_per_minute: int


@dataclass(frozen=True)
class Decision:
    admitted: bool
    code: str | None = None          # quota_exceeded | rate_limited
    retry_after_s: int = 0


def _roll(c: TenantCounters, now: int) -> None:
    bucket = now - now % WINDOW_MS
    if bucket != c.window_start_ms:
        c.prev_count = c.window_count if bucket - c.window_start_ms == WINDOW_MS else 0
        c.window_count = 0
        c.window_start_ms = bucket


def rate_estimate(c: TenantCounters, now: int) -> float:
    elapsed = now - c.window_start_ms
    return c.prev_count * max(0.0, 1 - elapsed / WINDOW_MS) + c.window_count


def decide(c: TenantCounters, quota: Quota, run_id: str, expires_ms: int, now: int) -> Decision:
    """Pure: admit (mutating `c`) or refuse with the contract's code and a Retry-After."""
    for rid in [r for r, exp in c.active.items() if exp <= now]:
        del c.active[rid]
    _roll(c, now)
    if run_id in c.active:
        return Decision(True)
    if len(c.active) >= quota.max_concurrent:
        return Decision(False, "quota_exceeded", 1)
    if rate_estimate(c, now) + 1 > quota.runs_per_minute:
        return Decision(False, "rate_limited", rate_retry_after_s(c, quota, now))
    c.active[run_id] = expires_ms
    c.window_count += 1
    return Decision(True)


def rate_retry_after_s(c: TenantCounters, quota: Quota, now: int) -> int:
    """Seconds until one more run fits the sliding window."""
    bucket_end = c.window_start_ms + WINDOW_MS
    if c.window_count + 1 > quota.runs_per_minute or c.prev_count == 0:
        wait_ms = bucket_end - now
    else:
        # prev * (1 - (t - start)/W) + cur + 1 <= limit  →  t >= start + W * (1 - (limit-cur-1)/prev)
        t = c.window_start_ms + WINDOW_MS * (1 - (quota.runs_per_minute - c.window_count - 1) / c.prev_count)
        wait_ms = t - now
    return max(1, math.ceil(wait_ms / 1000))


def release(c: TenantCounters, run_id: str) -> bool:
    return c.active.pop(run_id, None) is not None


@dataclass
class _Pending:
    run_id: str
    quota: Quota | None          # None: a release
    expires_ms: int
    future: asyncio.Future


@dataclass
class _Tenant:
    counters: TenantCounters | None = None
    index: int = 0
    pending: list[_Pending] = field(default_factory=list)
    busy: bool = False


_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder(TenantCounters)


class Admission:
    def __init__(self, kv: KV, retry_after_ms: int = 3000, clock=lambda: int(time.time() * 1000)):
        self.kv = kv
        self.clock = clock
        self.retry_after_ms = retry_after_ms
        self._tenants: dict[str, _Tenant] = {}
        self._local: dict[str, TenantCounters] = {}   # fallback while Consul is down
        self._consul_down_until = 0
        self.cas_writes = 0
        self.cas_conflicts = 0

    @property
    def consul_ok(self) -> bool:
        return self.clock() >= self._consul_down_until

    async def admit(self, tenant: str, run_id: str, quota: Quota, expires_ms: int) -> Decision:
        return await self._submit(tenant, _Pending(run_id, quota, expires_ms,
                                                   asyncio.get_running_loop().create_future()))

    async def release(self, tenant: str, run_id: str) -> None:
        local = self._local.get(tenant)
        if local is not None:
            release(local, run_id)
        t = self._tenants.get(tenant)
        if t is not None and t.counters is not None and run_id not in t.counters.active and not t.pending:
            return  # nothing of ours to write (another instance or expiry takes care of it)
        await self._submit(tenant, _Pending(run_id, None, 0, asyncio.get_running_loop().create_future()))

    async def _submit(self, tenant: str, p: _Pending) -> Decision:
        t = self._tenants.setdefault(tenant, _Tenant())
        t.pending.append(p)
        if not t.busy:
            t.busy = True
            asyncio.get_running_loop().create_task(self._drain(tenant, t))
        return await p.future

    async def _drain(self, tenant: str, t: _Tenant) -> None:
        try:
            while t.pending:
                batch, t.pending = t.pending, []
                try:
                    decisions = await self._decide_batch(tenant, t, batch)
                except Exception as e:  # never leave a request hanging
                    log.exception("admission batch failed", extra={"tenant": tenant})
                    for p in batch:
                        if not p.future.done():
                            p.future.set_exception(e)
                    continue
                for p, d in zip(batch, decisions, strict=True):
                    if not p.future.done():
                        p.future.set_result(d)
        finally:
            t.busy = False

    async def _decide_batch(self, tenant: str, t: _Tenant, batch: list[_Pending]) -> list[Decision]:
        if self.consul_ok:
            try:
                return await self._decide_shared(tenant, t, batch)
            except ConsulError as e:
                log.warning("consul unreachable, admission falls back to per-instance counting",
                            extra={"tenant": tenant, "error": str(e)})
                self._consul_down_until = self.clock() + self.retry_after_ms
                t.counters = None
        local = self._local.setdefault(tenant, TenantCounters())
        return self._apply(local, batch)

    def _apply(self, c: TenantCounters, batch: list[_Pending]) -> list[Decision]:
        now = self.clock()
        out = []
        for p in batch:
            if p.quota is None:
                release(c, p.run_id)
                out.append(Decision(True))
            else:
                out.append(decide(c, p.quota, p.run_id, p.expires_ms, now))
        return out

    async def _decide_shared(self, tenant: str, t: _Tenant, batch: list[_Pending]) -> list[Decision]:
        key = KEY_PREFIX + tenant
        for _attempt in range(20):
            if t.counters is None:
                entry = await self.kv.get(key)
                t.counters = _decode(entry.value) if entry else TenantCounters()
                t.index = entry.modify_index if entry else 0
            work = msgspec.structs.replace(t.counters, active=dict(t.counters.active))
            before = _enc.encode(work)
            decisions = self._apply(work, batch)
            value = _enc.encode(work)
            if value == before and all(p.quota is None for p in batch):
                return decisions  # releases of ids we do not hold: no write
            new_index = await self.kv.cas(key, value, t.index)
            self.cas_writes += 1
            if new_index is not None:
                t.counters, t.index = work, new_index
                return decisions
            self.cas_conflicts += 1
            t.counters = None  # another instance wrote: read and decide again
        raise ConsulError(f"admission for {tenant}: too many CAS conflicts")


def _decode(value: bytes) -> TenantCounters:
    try:
        return _dec.decode(value) if value else TenantCounters()
    except msgspec.DecodeError:
        log.warning("unreadable admission counters replaced")
        return TenantCounters()
