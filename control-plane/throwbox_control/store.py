"""Durable per-tenant data in Consul KV: functions (with revisions) and idempotency keys."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

import msgspec

from throwbox_common.messages import now_ms, rfc3339

from .consul import KV, ConsulError
from .schemas import FunctionSpec, StoredFunction, stored_function_decoder

FUNCTIONS_PREFIX = "throwbox/functions/"
IDEMPOTENCY_PREFIX = "throwbox/idempotency/"
IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000
_enc = msgspec.json.Encoder()


def _tenant_path(tenant: str) -> str:
    return quote(tenant, safe="")


class FunctionStore:
    def __init__(self, kv: KV):
        self.kv = kv

    def _key(self, tenant: str, name: str) -> str:
        return f"{FUNCTIONS_PREFIX}{_tenant_path(tenant)}/{name}"

    async def get(self, tenant: str, name: str) -> StoredFunction | None:
        entry = await self.kv.get(self._key(tenant, name))
        return stored_function_decoder.decode(entry.value) if entry else None

    async def list(self, tenant: str) -> list[StoredFunction]:
        entries = await self.kv.list(f"{FUNCTIONS_PREFIX}{_tenant_path(tenant)}/")
        return sorted((stored_function_decoder.decode(e.value) for e in entries), key=lambda f: f.name)

    async def put(self, tenant: str, name: str, spec: FunctionSpec) -> tuple[StoredFunction, bool]:
        """Create or update (CAS on the current revision). Returns (function, created)."""
        key = self._key(tenant, name)
        for _ in range(10):
            entry = await self.kv.get(key)
            old = stored_function_decoder.decode(entry.value) if entry else None
            now = rfc3339(now_ms())
            fn = StoredFunction(
                name=name, revision=(old.revision + 1) if old else 1, language=spec.language,
                version=spec.version, files=spec.files, entrypoint=spec.entrypoint, env=spec.env,
                limits=spec.limits, description=spec.description,
                created_at=old.created_at if old else now, updated_at=now)
            if await self.kv.cas(key, _enc.encode(fn), entry.modify_index if entry else 0) is not None:
                return fn, old is None
        raise ConsulError(f"function {name}: too many concurrent updates")

    async def delete(self, tenant: str, name: str) -> bool:
        key = self._key(tenant, name)
        entry = await self.kv.get(key)
        if entry is None:
            return False
        await self.kv.delete(key)
        return True


class IdempotencyRecord(msgspec.Struct):
    run_id: str
    created_at_ms: int


_idem_dec = msgspec.json.Decoder(IdempotencyRecord)


class IdempotencyStore:
    """tenant + key → run id for 24 h, claimed with a create-only CAS so two instances agree."""

    def __init__(self, kv: KV):
        self.kv = kv
        self._local: dict[tuple[str, str], IdempotencyRecord] = {}  # used while Consul is down

    def _key(self, tenant: str, key: str) -> str:
        return f"{IDEMPOTENCY_PREFIX}{_tenant_path(tenant)}/{hashlib.sha256(key.encode()).hexdigest()}"

    async def claim(self, tenant: str, key: str, run_id: str) -> str:
        """The run id that owns this key: `run_id` if we claimed it, else the earlier run's."""
        now = now_ms()
        rec = IdempotencyRecord(run_id, now)
        try:
            path = self._key(tenant, key)
            index = 0  # first try a create-only write: one round trip in the common case
            for _ in range(10):
                if await self.kv.cas(path, _enc.encode(rec), index) is not None:
                    return run_id
                entry = await self.kv.get(path)
                if entry is None:
                    index = 0
                    continue
                old = _idem_dec.decode(entry.value)
                if now - old.created_at_ms < IDEMPOTENCY_TTL_MS:
                    return old.run_id
                index = entry.modify_index  # expired: take it over
            raise ConsulError("idempotency: too many concurrent claims")
        except ConsulError:
            old = self._local.get((tenant, key))
            if old is not None and now - old.created_at_ms < IDEMPOTENCY_TTL_MS:
                return old.run_id
            if len(self._local) > 100_000:
                self._local.clear()
            self._local[(tenant, key)] = rec
            return run_id

    async def lookup(self, tenant: str, key: str, now: int) -> str | None:
        """The run that holds this key (claimed less than IDEMPOTENCY_TTL_MS before `now`), if any;
        while Consul is down, this instance's own claims."""
        try:
            entry = await self.kv.get(self._key(tenant, key))
        except ConsulError:
            rec = self._local.get((tenant, key))
        else:
            rec = _idem_dec.decode(entry.value) if entry is not None else None
        return rec.run_id if rec is not None and now - rec.created_at_ms < IDEMPOTENCY_TTL_MS else None

    async def unclaim(self, tenant: str, key: str, run_id: str) -> None:
        """Forget a claim whose run was never queued, so a retry with the key makes a new run."""
        self._local.pop((tenant, key), None)
        try:
            path = self._key(tenant, key)
            entry = await self.kv.get(path)
            if entry is not None and _idem_dec.decode(entry.value).run_id == run_id:
                await self.kv.delete(path, entry.modify_index)
        except ConsulError:
            pass  # the claim stays; its run ends failed (submit_failed), which the retry then sees
