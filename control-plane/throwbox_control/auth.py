"""API keys: random tokens stored by their sha256 in Consul KV (throwbox/keys/<hash>).

Keys are random 32-byte tokens, so a plain sha256 is enough (nothing to brute-force).
Each instance caches answers for a short TTL and keeps serving the last known answer when
Consul cannot be reached (a revoked key then stays valid until Consul is back).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass

import msgspec

from .admission import Quota
from .consul import KV, ConsulError

log = logging.getLogger("throwbox.auth")
KEY_PREFIX = "throwbox/keys/"
TOKEN_PREFIX = "tbx_"
MAX_KEY_CHARS = 200


class KeyRecord(msgspec.Struct):
    tenant: str
    created_at: str
    max_concurrent: int | None = None
    runs_per_minute: int | None = None
    prefix: str = ""   # first characters of the key, for `keys list`


@dataclass(frozen=True)
class Principal:
    tenant: str
    quota: Quota


def new_key() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


_dec = msgspec.json.Decoder(KeyRecord)


class KeyStore:
    """Key → principal, cached for `ttl_ms`. A key in steady use is read again in the background
    once its answer is older than half the TTL, so its requests do not wait for Consul, and no
    answer older than the TTL is ever used while Consul answers."""

    def __init__(self, kv: KV, default_quota: Quota, ttl_ms: int = 5000):
        self.kv = kv
        self.default_quota = default_quota
        self.ttl_s = ttl_ms / 1000
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._refreshing: dict[str, asyncio.Task] = {}

    async def lookup(self, key: str) -> Principal | None:
        """The key's tenant, or None for an unknown key. Raises ConsulError if never seen and Consul is down."""
        if not key or len(key) > MAX_KEY_CHARS:
            return None
        h = key_hash(key)
        cached = self._cache.get(h)
        if cached is not None:
            age = time.monotonic() - cached[0]
            if age < self.ttl_s:
                if age >= self.ttl_s / 2 and h not in self._refreshing:
                    task = asyncio.get_running_loop().create_task(self._refresh(h))
                    self._refreshing[h] = task
                    task.add_done_callback(lambda _t, h=h: self._refreshing.pop(h, None))
                return cached[1]
        return await self._read(h)

    async def _refresh(self, h: str) -> None:
        try:
            await self._read(h)
        except ConsulError:
            pass   # the next lookup past the TTL tries again (and serves the last answer if it must)

    async def _read(self, h: str) -> Principal | None:
        now = time.monotonic()
        try:
            entry = await self.kv.get(KEY_PREFIX + h)
        except ConsulError:
            cached = self._cache.get(h)
            if cached is not None:
                return cached[1]  # stale but better than refusing everyone
            raise
        principal = None
        if entry is not None:
            try:
                rec = _dec.decode(entry.value)
                principal = Principal(rec.tenant, Quota(
                    rec.max_concurrent if rec.max_concurrent is not None else self.default_quota.max_concurrent,
                    rec.runs_per_minute if rec.runs_per_minute is not None else self.default_quota.runs_per_minute))
            except msgspec.DecodeError:
                log.error("unreadable key record", extra={"key_hash": h[:12]})
        if principal is None:
            # Not cached: Consul answers 404 for a moment after it restarts, and a cached "unknown"
            # would turn that moment into seconds of 401s for every tenant.
            self._cache.pop(h, None)
            return None
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[h] = (now, principal)
        return principal
