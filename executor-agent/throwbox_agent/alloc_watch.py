"""The live allocations dispatched from the agent's pool jobs, kept fresh from Nomad's event stream.

A blocking query on a filtered `/v1/allocations` wakes on every allocation change in the cluster
(any job, any agent) and Nomad then evaluates the filter over every allocation it still keeps,
terminal ones included: per replacement that was the agent's largest Nomad cost. The event
stream sends each change once, without the job. Its topic filter matches whole job IDs only,
and every sandbox is a job of its own (dispatched from the pool job), so the agent subscribes
to all allocation events and keeps those whose job was dispatched from one of its pool jobs.

Consistency: the stream is subscribed first (its first line, a heartbeat, comes after the
subscription exists), then the filtered list is read once; events at or below the list's index
are already in it and are skipped, later ones are applied in order. On any stream error the
caller gets a NomadError and the next call subscribes and lists again; the list is also re-read
every RESYNC_S, so even an event lost some other way heals itself.

The same events say when an allocation has ended on its client (`AllocEnds`): a destroyed
sandbox's alloc dir is collected then, without asking Nomad for the alloc again and again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator

import aiohttp

from throwbox_common.aio import cancel_and_wait

from .errors import NomadError
from .ledger import LRU
from .nomad_api import LIVE_CLIENT_STATUSES, TERMINAL_CLIENT_STATUSES, AllocStub, NomadClient, parent_job

log = logging.getLogger(__name__)

RESYNC_S = 60.0          # a full list this often, whatever the stream says
CONNECT_TIMEOUT_S = 15.0
READ_TIMEOUT_S = 75.0    # Nomad sends a heartbeat every 30 s on an idle stream
# With no change the caller still gets the view this often (its stop-retry check runs then).
IDLE_WAKE_S = 10.0
ENDED_REMEMBERED = 4096  # allocations whose end is kept: it may be reported before anyone waits for it


def is_ours(alloc: dict, pool_ids: set[str]) -> bool:
    return parent_job(alloc.get("JobID") or "") in pool_ids


def is_live(alloc: dict, pool_ids: set[str]) -> bool:
    return (is_ours(alloc, pool_ids) and alloc.get("DesiredStatus") == "run"
            and alloc.get("ClientStatus") in LIVE_CLIENT_STATUSES)


def batch_allocations(batch: dict) -> Iterator[dict]:
    """The allocations (API JSON, with an ID) that one event-stream batch carries."""
    for event in batch.get("Events") or ():
        if event.get("Topic") != "Allocation":
            continue
        alloc = (event.get("Payload") or {}).get("Allocation")
        if alloc and "ID" in alloc:
            yield alloc


def apply_events(live: dict[str, AllocStub], batch: dict, pool_ids: set[str], after_index: int) -> bool:
    """Apply one event-stream batch ({"Index": n, "Events": [...]}) to the live set; batches at or
    below `after_index` are already reflected in it. True if the live set changed."""
    if int(batch.get("Index") or 0) <= after_index:
        return False
    changed = False
    for alloc in batch_allocations(batch):
        if is_live(alloc, pool_ids):
            stub = AllocStub.from_api(alloc)
            changed |= live.get(stub.id) != stub
            live[stub.id] = stub
        elif live.pop(alloc["ID"], None) is not None:
            changed = True
    return changed


def ended_allocs(batch: dict, pool_ids: set[str]) -> list[str]:
    """Our allocations that one event-stream batch reports terminal on their client (an end
    never reverts: batches the list already reflects count too)."""
    return [alloc["ID"] for alloc in batch_allocations(batch)
            if is_ours(alloc, pool_ids) and alloc.get("ClientStatus") in TERMINAL_CLIENT_STATUSES]


class AllocEnds:
    """Allocations the event stream reported ended on their client, and a wait for one. An end
    is remembered for a while: it may come before anyone waits for it (a sandbox whose container
    died by itself, a stop asked for again)."""

    def __init__(self, remember: int = ENDED_REMEMBERED):
        self._ended = LRU(remember)
        self._waiters: dict[str, list[asyncio.Future]] = {}

    def ended(self, alloc_id: str) -> None:
        self._ended.put(alloc_id)
        for fut in self._waiters.pop(alloc_id, ()):
            if not fut.done():
                fut.set_result(None)

    async def wait(self, alloc_id: str, timeout_s: float) -> bool:
        """True once the alloc has ended; False if no end was reported within timeout_s."""
        if alloc_id in self._ended:
            return True
        fut = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(alloc_id, [])
        waiters.append(fut)
        try:
            await asyncio.wait_for(fut, timeout_s)
            return True
        except TimeoutError:
            return False
        finally:
            if fut in waiters:
                waiters.remove(fut)
            if not waiters and self._waiters.get(alloc_id) is waiters:
                del self._waiters[alloc_id]

    def waiting(self) -> int:
        return sum(len(w) for w in self._waiters.values())


def split_lines(buffer: bytes, chunk: bytes) -> tuple[list[bytes], bytes]:
    """Newline-delimited JSON from arbitrary chunks: the complete lines, and the rest."""
    *lines, rest = (buffer + chunk).split(b"\n")
    return [line for line in lines if line.strip()], rest


class AllocEventWatch:
    """`next(index)` returns the live allocs dispatched from the pool jobs `job_ids` and an
    index, as soon as they changed past `index` (or after wait_s with no change), like Nomad's
    blocking list did. Every alloc the stream reports ended on its client is passed to `on_ended`."""

    def __init__(self, nomad: NomadClient, job_ids: Iterable[str],
                 on_ended: Callable[[str], None] | None = None):
        self._nomad = nomad
        self._jobs = sorted(set(job_ids))
        self._job_set = set(self._jobs)
        self._on_ended = on_ended
        self._live: dict[str, AllocStub] = {}
        self._index = 0
        self._listed_at = 0.0
        self._changed = asyncio.Event()
        self._reader: asyncio.Task | None = None

    @property
    def job_ids(self) -> list[str]:
        return self._jobs

    async def next(self, index: int, wait_s: float = IDLE_WAKE_S) -> tuple[list[AllocStub], int]:
        if self._reader is not None and self._reader.done():
            raise self._failure()
        if self._reader is None:
            await self._connect()
            return list(self._live.values()), self._index
        if time.monotonic() - self._listed_at >= RESYNC_S:
            await self._resync()
        if self._index <= index:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), wait_s)
            except TimeoutError:
                pass
        if self._reader.done():
            raise self._failure()
        return list(self._live.values()), self._index

    async def close(self) -> None:
        await cancel_and_wait(self._reader)
        self._reader = None

    # ---- internals

    def _failure(self) -> NomadError:
        err = None if self._reader.cancelled() else self._reader.exception()
        self._reader = None
        return err if isinstance(err, NomadError) else NomadError(f"allocation event stream ended: {err!r}")

    async def _connect(self) -> None:
        await self.close()
        resp = await self._nomad.open_stream("/v1/event/stream?topic=Allocation", READ_TIMEOUT_S)
        try:
            # The first line (a heartbeat) is written once the subscription exists.
            first = await asyncio.wait_for(resp.content.readuntil(b"\n"), CONNECT_TIMEOUT_S)
            await self._resync()
        except BaseException as e:
            resp.close()
            if isinstance(e, (asyncio.CancelledError, NomadError)):
                raise
            raise NomadError(f"allocation event stream: {e!r}") from e
        self._reader = asyncio.create_task(self._read(resp, first), name="alloc-events")
        self._reader.add_done_callback(lambda _: self._changed.set())   # a waiting next() learns at once

    async def _resync(self) -> None:
        allocs, index = await self._nomad.live_allocs(self._jobs)
        self._listed_at = time.monotonic()
        if self._reader is not None and index < self._index:
            return      # the stream is already past this list: it is the newer view
        self._live = {a.id: a for a in allocs}
        self._index = index
        self._changed.set()

    async def _read(self, resp, first: bytes) -> None:
        buffer = first
        try:
            async for chunk in resp.content.iter_any():
                lines, buffer = split_lines(buffer, chunk)
                for line in lines:
                    batch = json.loads(line)
                    if not batch:          # heartbeat
                        continue
                    index = int(batch.get("Index") or 0)
                    if apply_events(self._live, batch, self._job_set, self._index):
                        self._changed.set()
                    if self._on_ended is not None:
                        for alloc_id in ended_allocs(batch, self._job_set):
                            self._on_ended(alloc_id)
                    self._index = max(self._index, index)
            raise NomadError("allocation event stream closed by Nomad")
        except (ValueError, TypeError) as e:
            raise NomadError(f"allocation event stream: unreadable event: {e!r}") from e
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise NomadError(f"allocation event stream: {e!r}") from e
        finally:
            resp.close()
