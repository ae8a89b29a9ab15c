"""Per-tenant admission shared by every instance: concurrency and runs-per-minute.

One Consul key per tenant (throwbox/admission/<tenant>) holds both the active-run count and
a sliding-window rate counter, so one admission costs one CAS. Requests of one tenant that
arrive together on one instance are decided in one batch (one CAS for the lot), which keeps
Consul writes far below the request rate under load.

Active runs are counted per expiry bucket (10 s wide), not listed by id, so the value stays a
few hundred bytes however many runs are active. A run's slot expires with its bucket
(created + queue timeout + wall limit + margin), so a lost release cannot hold a slot forever.
The instance that admitted a run releases it, once, when it sees the run's Finished record
(any instance may see it first; only the admitter holds the run's bucket). If the admitter
dies, its runs' slots come back when their buckets expire.

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
BUCKET_MS = 10_000
KEY_PREFIX = "throwbox/admission/"
STALE_MS = 500  # a refusal is decided on counters read at most this long ago


class TenantCounters(msgspec.Struct):
    """The value of throwbox/admission/<tenant>."""

    active: dict[str, int] = {}   # expiry bucket (ms, as text) → runs admitted that expire then
    window_start_ms: int = 0       # start of the current 60 s rate bucket
    window_count: int = 0
    prev_count: int = 0            # the rate bucket before


@dataclass(frozen=True)
class Quota:
    max_concurrent: int
    runs_per_minute: int


@dataclass(frozen=True)
class Decision:
    admitted: bool
    code: str | None = None          # quota_exceeded | rate_limited
    retry_after_s: int = 0


def bucket_of(expires_ms: int) -> str:
    """The bucket a slot expiring at expires_ms belongs to (its end, rounded up)."""
    return str(-(-expires_ms // BUCKET_MS) * BUCKET_MS)


def _roll(c: TenantCounters, now: int) -> None:
    bucket = now - now % WINDOW_MS
    if bucket != c.window_start_ms:
        c.prev_count = c.window_count if bucket - c.window_start_ms == WINDOW_MS else 0
        c.window_count = 0
        c.window_start_ms = bucket


def _prune(c: TenantCounters, now: int) -> None:
    for b in [b for b, n in c.active.items() if int(b) <= now or n <= 0]:
        del c.active[b]


def active_count(c: TenantCounters, now: int) -> int:
    return sum(n for b, n in c.active.items() if int(b) > now)


def rate_estimate(c: TenantCounters, now: int) -> float:
    elapsed = now - c.window_start_ms
    return c.prev_count * max(0.0, 1 - elapsed / WINDOW_MS) + c.window_count


def decide(c: TenantCounters, quota: Quota, expires_ms: int, now: int) -> Decision:
    """Pure: admit (mutating `c`) or refuse with the contract's code and a Retry-After."""
    _prune(c, now)
    _roll(c, now)
    active = active_count(c, now)
    if active >= quota.max_concurrent:
        return Decision(False, "quota_exceeded", 1)
    if rate_estimate(c, now) + 1 > quota.runs_per_minute:
        return Decision(False, "rate_limited", rate_retry_after_s(c, quota, now))
    b = bucket_of(expires_ms)
    c.active[b] = c.active.get(b, 0) + 1
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


def release(c: TenantCounters, bucket: str) -> bool:
    """Give back one slot of `bucket` (a bucket already expired has nothing to give back)."""
    n = c.active.get(bucket, 0)
    if n <= 0:
        return False
    if n == 1:
        del c.active[bucket]
    else:
        c.active[bucket] = n - 1
    return True


@dataclass
class _Pending:
    quota: Quota | None          # None: a release of `bucket`
    expires_ms: int
    bucket: str
    future: asyncio.Future
    shared: bool = True          # decided on the Consul counters (False: on this instance's)


@dataclass
class _Tenant:
    counters: TenantCounters | None = None
    index: int = 0
    read_at_ms: int = 0
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
        self._held: dict[str, tuple[str, str, bool]] = {}  # run id → (tenant, bucket, shared) admitted here
        self._consul_down_until = 0
        self.cas_writes = 0
        self.cas_conflicts = 0

    @property
    def consul_ok(self) -> bool:
        return self.clock() >= self._consul_down_until

    async def admit(self, tenant: str, run_id: str, quota: Quota, expires_ms: int) -> Decision:
        p = _Pending(quota, expires_ms, bucket_of(expires_ms), asyncio.get_running_loop().create_future())
        decision = await self._submit(tenant, p)
        if decision.admitted:
            self._held[run_id] = (tenant, p.bucket, p.shared)
            if len(self._held) > 50_000:
                self._forget_expired()
        return decision

    def holds(self, run_id: str) -> bool:
        return run_id in self._held

    async def release(self, tenant: str, run_id: str) -> None:
        """Give back the slot of a run this instance admitted; anything else is a no-op."""
        held = self._held.pop(run_id, None)
        if held is None:
            return
        _, bucket, shared = held
        if int(bucket) <= self.clock():
            return  # expired already: nothing left to give back
        if not shared:
            local = self._local.get(tenant)
            if local is not None:
                release(local, bucket)
            return
        p = _Pending(None, 0, bucket, asyncio.get_running_loop().create_future())
        await self._submit(tenant, p)

    def _forget_expired(self) -> None:
        now = self.clock()
        self._held = {r: h for r, h in self._held.items() if int(h[1]) > now}

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
        for p in batch:
            p.shared = False
        return self._apply(local, batch)

    def _apply(self, c: TenantCounters, batch: list[_Pending]) -> list[Decision]:
        now = self.clock()
        out = []
        for p in batch:
            if p.quota is None:
                release(c, p.bucket)
                out.append(Decision(True))
            else:
                out.append(decide(c, p.quota, p.expires_ms, now))
        return out

    async def _decide_shared(self, tenant: str, t: _Tenant, batch: list[_Pending]) -> list[Decision]:
        key = KEY_PREFIX + tenant
        for _attempt in range(20):
            if t.counters is None:
                entry = await self.kv.get(key)
                t.counters = _decode(entry.value) if entry else TenantCounters()
                t.index = entry.modify_index if entry else 0
                t.read_at_ms = self.clock()
            work = msgspec.structs.replace(t.counters, active=dict(t.counters.active))
            before = _enc.encode(work)
            decisions = self._apply(work, batch)
            value = _enc.encode(work)
            if value == before:
                # Nothing to write (all refused, or releases of expired slots). A refusal must not
                # rest on counters another instance may have lowered since: re-read once if old.
                if any(not d.admitted for d in decisions) and self.clock() - t.read_at_ms > STALE_MS:
                    t.counters = None
                    continue
                return decisions
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
        c = _dec.decode(value) if value else TenantCounters()
        c.active = {b: n for b, n in c.active.items() if b.isdigit()}  # ignore anything unexpected
        return c
    except msgspec.DecodeError:
        log.warning("unreadable admission counters replaced")
        return TenantCounters()
