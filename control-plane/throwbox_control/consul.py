"""A small async Consul KV client (aiohttp): get, list, CAS, delete, and CAS through /v1/txn.

/v1/txn is used for CAS writes because, unlike `PUT /v1/kv?cas=`, it returns the new
ModifyIndex, so the next CAS needs no extra read.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import aiohttp

from .errors import DependencyError


class ConsulError(DependencyError):
    """Consul unreachable, timed out, or answered an unexpected status."""


@dataclass(frozen=True)
class Entry:
    key: str
    value: bytes
    modify_index: int


class KV:
    def __init__(self, addr: str, timeout_ms: int = 1000, headers: dict[str, str] | None = None):
        self.addr = addr.rstrip("/")
        self.headers = dict(headers or {})      # the ACL token (throwbox_common.acl_tokens)
        self.timeout = aiohttp.ClientTimeout(total=timeout_ms / 1000)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, headers=self.headers, connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=30))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _request(self, method: str, path: str, **kw) -> tuple[int, bytes]:
        try:
            async with self.session.request(method, self.addr + path, **kw) as resp:
                return resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise ConsulError(f"consul {method} {path.split('?')[0]}: {type(e).__name__}") from e

    async def leader(self) -> bool:
        status, body = await self._request("GET", "/v1/status/leader")
        return status == 200 and len(body.strip(b'" \n')) > 0

    async def get(self, key: str) -> Entry | None:
        status, body = await self._request("GET", f"/v1/kv/{key}")
        if status == 404:
            return None
        if status != 200:
            raise ConsulError(f"consul get {key}: HTTP {status}")
        item = _decode_items(body)[0]
        return item

    async def list(self, prefix: str) -> list[Entry]:
        status, body = await self._request("GET", f"/v1/kv/{prefix}?recurse=true")
        if status == 404:
            return []
        if status != 200:
            raise ConsulError(f"consul list {prefix}: HTTP {status}")
        return _decode_items(body)

    async def put(self, key: str, value: bytes) -> None:
        status, _ = await self._request("PUT", f"/v1/kv/{key}", data=value)
        if status != 200:
            raise ConsulError(f"consul put {key}: HTTP {status}")

    async def cas(self, key: str, value: bytes, index: int) -> int | None:
        """Write if the key's ModifyIndex is `index` (0: only if absent). New index, or None on conflict."""
        op = [{"KV": {"Verb": "cas", "Key": key, "Value": base64.b64encode(value).decode(), "Index": index}}]
        status, body = await self._request("PUT", "/v1/txn", json=op)
        if status == 409:
            return None
        if status != 200:
            raise ConsulError(f"consul txn {key}: HTTP {status}")
        try:
            return int(json.loads(body)["Results"][0]["KV"]["ModifyIndex"])
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise ConsulError(f"consul txn {key}: unexpected answer") from e

    async def delete(self, key: str, index: int | None = None) -> bool:
        suffix = f"?cas={index}" if index is not None else ""
        status, body = await self._request("DELETE", f"/v1/kv/{key}{suffix}")
        if status != 200:
            raise ConsulError(f"consul delete {key}: HTTP {status}")
        return body.strip() == b"true"

    async def healthy_service_meta(self, service: str, index: int = 0,
                                   wait_s: int = 5) -> tuple[int, list[dict[str, str]]]:
        """The meta of the service's instances whose checks pass, as a blocking query: it answers
        when they change after `index` (or after `wait_s`), with the index to ask with next."""
        path = f"/v1/health/service/{service}?passing=true"
        timeout = self.timeout
        if index > 0:
            path += f"&index={index}&wait={wait_s}s"
            timeout = aiohttp.ClientTimeout(total=wait_s + wait_s / 16 + 2)  # Consul adds up to wait/16
        try:
            async with self.session.get(self.addr + path, timeout=timeout) as resp:
                status, body = resp.status, await resp.read()
                new_index = int(resp.headers.get("X-Consul-Index", "0") or 0)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as e:
            raise ConsulError(f"consul health {service}: {type(e).__name__}") from e
        if status != 200:
            raise ConsulError(f"consul health {service}: HTTP {status}")
        try:
            entries = json.loads(body)
            metas = [dict((e.get("Service") or {}).get("Meta") or {}) for e in entries]
        except (ValueError, AttributeError, TypeError) as e:
            raise ConsulError(f"consul health {service}: unreadable answer") from e
        return new_index, metas

def _decode_items(body: bytes) -> list[Entry]:
    try:
        items = json.loads(body)
        return [Entry(i["Key"], base64.b64decode(i["Value"]) if i.get("Value") else b"", int(i["ModifyIndex"]))
                for i in items]
    except (ValueError, KeyError, TypeError) as e:
        raise ConsulError("consul: unexpected KV answer") from e
