"""The Nomad HTTP API calls the agent needs (aiohttp; python-nomad is synchronous)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

import aiohttp

from .errors import NomadError

LIVE_CLIENT_STATUSES = ("pending", "running")
TERMINAL_CLIENT_STATUSES = ("complete", "failed", "lost")
# Nomad names a dispatched job <parameterized job>/dispatch-<unix time>-<8 hex>.
DISPATCH_SUFFIX = "/dispatch-"


def parent_job(job_id: str) -> str | None:
    """The parameterized job a dispatched job was made from (None if it is not a dispatch)."""
    parent, sep, _ = job_id.partition(DISPATCH_SUFFIX)
    return parent if sep else None


@dataclass(frozen=True)
class AllocStub:
    id: str
    job_id: str
    client_status: str
    desired_status: str
    create_index: int
    modify_time_ns: int = 0

    @classmethod
    def from_api(cls, d: dict) -> AllocStub:
        return cls(id=d["ID"], job_id=d["JobID"], client_status=d["ClientStatus"],
                   desired_status=d["DesiredStatus"], create_index=int(d["CreateIndex"]),
                   modify_time_ns=int(d.get("ModifyTime") or 0))


def live_allocs_filter(parent_ids: list[str]) -> str:
    """Server-side filter: only the allocs dispatched from these jobs that are (about to be)
    running, so the many terminal allocs Nomad keeps never cross the wire."""
    jobs = " or ".join(f"JobID contains {json.dumps(p + DISPATCH_SUFFIX)}" for p in parent_ids)
    statuses = " or ".join(f"ClientStatus == {json.dumps(s)}" for s in LIVE_CLIENT_STATUSES)
    return f'({jobs}) and DesiredStatus == "run" and ({statuses})'


class NomadClient:
    """Jobs and allocations are the sandboxes', in `namespace` (the agent's token may submit jobs
    there only); nodes and the agent's own endpoint have none."""

    def __init__(self, addr: str, namespace: str = "default", headers: dict[str, str] | None = None):
        self._addr = addr.rstrip("/")
        self._ns = "namespace=" + quote(namespace, safe="")
        self._headers = dict(headers or {})
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30), headers=self._headers)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(self, method: str, path: str, body: dict | None = None,
                    timeout_s: float = 15) -> tuple[object, dict]:
        assert self._session is not None, "NomadClient.start() first"
        try:
            async with self._session.request(method, self._addr + path, json=body,
                                             timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
                text = await resp.text()
                if resp.status != 200:
                    raise NomadError(f"{method} {path}: {resp.status} {text[:300]}")
                return (json.loads(text) if text else None), dict(resp.headers)
        except (aiohttp.ClientError, TimeoutError) as e:
            raise NomadError(f"{method} {path}: {e!r}") from e

    async def open_stream(self, path: str, read_timeout_s: float) -> aiohttp.ClientResponse:
        """A long-lived GET (the event stream, of the sandboxes' namespace): the open response,
        for the caller to read and close."""
        assert self._session is not None, "NomadClient.start() first"
        path += ("&" if "?" in path else "?") + self._ns
        try:
            resp = await self._session.get(self._addr + path, timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=10, sock_read=read_timeout_s))
        except (aiohttp.ClientError, TimeoutError) as e:
            raise NomadError(f"GET {path}: {e!r}") from e
        if resp.status != 200:
            text = await resp.text()
            resp.close()
            raise NomadError(f"GET {path}: {resp.status} {text[:300]}")
        return resp

    async def agent_self(self) -> dict:
        data, _ = await self._call("GET", "/v1/agent/self")
        return data

    async def node(self, node_id: str) -> dict:
        data, _ = await self._call("GET", f"/v1/node/{node_id}")
        return data

    async def register_job(self, job: dict) -> int:
        """Register or update; returns the job's modify index (allocs created before it are older)."""
        data, _ = await self._call("POST", f"/v1/jobs?{self._ns}", {"Job": job})
        return int(data.get("JobModifyIndex") or 0)

    async def job(self, job_id: str) -> dict | None:
        try:
            data, _ = await self._call("GET", f"/v1/job/{quote(job_id, safe='')}?{self._ns}")
        except NomadError as e:
            if " 404 " in str(e):
                return None
            raise
        return data

    async def stop_job(self, job_id: str, purge: bool = False) -> None:
        """Deregister (a dispatched job's ID has a slash: it is escaped)."""
        await self._call("DELETE", f"/v1/job/{quote(job_id, safe='')}?purge={'true' if purge else 'false'}&{self._ns}")

    async def dispatch(self, job_id: str) -> str:
        """A new job from a parameterized one (no payload, no meta); returns its ID."""
        data, _ = await self._call("POST", f"/v1/job/{quote(job_id, safe='')}/dispatch?{self._ns}", {})
        return data["DispatchedJobID"]

    async def live_allocs(self, parent_ids: list[str]) -> tuple[list[AllocStub], int]:
        """Allocs dispatched from these jobs that are pending/running with desired status run,
        and the index they are current at."""
        q = f"/v1/allocations?{self._ns}&task_states=false&filter={quote(live_allocs_filter(parent_ids))}"
        data, headers = await self._call("GET", q)
        new_index = int(headers.get("X-Nomad-Index") or 0)
        # The filter's "contains" is a substring match: keep only exact parents.
        parents = set(parent_ids)
        return [AllocStub.from_api(d) for d in data if parent_job(d["JobID"]) in parents], new_index

    async def allocation(self, alloc_id: str) -> dict:
        """One allocation, whole (with its job): for the rare lookup, never in a loop."""
        data, _ = await self._call("GET", f"/v1/allocation/{alloc_id}?{self._ns}")
        return data

    async def gc_alloc(self, alloc_id: str) -> None:
        """Remove a terminal alloc's directory on its client now, not 30 allocs later."""
        await self._call("GET", f"/v1/client/allocation/{alloc_id}/gc?{self._ns}")

