"""Who calls a compatibility route: a key in the header its peer's clients use, or the key-less tenant.

Accepted: `Authorization: Bearer <key>`, the key alone in `Authorization` (Piston clients) or in
`X-Auth-Token` (Judge0's header). A request without any key runs as the operator's key-less
tenant when one is configured; a wrong key is always refused (never a silent fall-back).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..admission import Quota
from ..auth import KeyStore, Principal
from ..config import Settings


def key_of(headers: Mapping[str, str]) -> str:
    auth = (headers.get("authorization") or "").strip()
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    if auth:
        return auth
    return (headers.get("x-auth-token") or "").strip()


class CompatAuth:
    def __init__(self, keys: KeyStore, settings: Settings):
        self.keys = keys
        self.keyless: Principal | None = None
        if settings.compat_keyless_tenant:
            self.keyless = Principal(settings.compat_keyless_tenant,
                                     Quota(settings.default_max_concurrent, settings.default_runs_per_minute))

    async def principal(self, headers: Mapping[str, str]) -> Principal | None:
        """The caller, or None (401). Raises ConsulError when a key cannot be checked."""
        key = key_of(headers)
        if not key:
            return self.keyless
        return await self.keys.lookup(key)
