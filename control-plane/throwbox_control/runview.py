"""Every instance's view of every run, built from throwbox.events.

All records of a run share its key, so they sit in one partition in write order; numbering
the client-visible ones here (seq 1, 2, 3...) gives the same numbers on every instance.
Memory is bounded: finished runs' event logs are dropped oldest-first past a byte budget
(their result stays, served as the only event), and results past a second budget.
"""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import msgspec

from throwbox_common import results
from throwbox_common.messages import (
    ErrorInfo,
    Finished,
    Output,
    RunEventRecord,
    RunResult,
    RunTestEnded,
    Started,
    Submitted,
    now_ms,
    rfc3339,
)

_enc = msgspec.json.Encoder()


@dataclass(eq=False)
class RunState:
    run_id: str
    tenant: str | None = None
    language: str = ""
    version: str = ""
    created_ms: int = 0
    interactive: bool = False
    function: str | None = None
    start_deadline_ms: int | None = None
    compat: dict[str, str] | None = None   # Submitted.compat
    status: str = "queued"
    started_ms: int | None = None
    agent: str = ""                      # the agent that started it (named after its node)
    events: list[bytes] = field(default_factory=list)   # events[i] has seq i+1
    last_seq: int = 0
    outputs: list[tuple[str, str]] = field(default_factory=list)  # while unfinished only
    result: bytes | None = None          # encoded RunResult
    result_event: bytes | None = None    # encoded {"type":"result",...}
    events_dropped: bool = False
    size_bytes: int = 0
    _waiters: list[asyncio.Future] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.result is not None

    def _append(self, event: dict) -> bytes:
        self.last_seq += 1
        data = _enc.encode({"type": event.pop("type"), "seq": self.last_seq, **event})
        self.events.append(data)
        self.size_bytes += len(data)
        return data

    def _wake(self) -> None:
        for w in self._waiters:
            if not w.done():
                w.set_result(None)
        self._waiters.clear()

    async def changed(self, timeout_s: float | None = None) -> None:
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            pass
        finally:
            if fut in self._waiters:
                self._waiters.remove(fut)

    def snapshot(self) -> bytes:
        """The run result as the client sees it now (final, or a partial one while it runs)."""
        if self.result is not None:
            return self.result
        out = "".join(d for s, d in self.outputs if s == "stdout")
        err = "".join(d for s, d in self.outputs if s == "stderr")
        partial = RunResult(id=self.run_id, language=self.language, version=self.version,
                            status=self.status,  # type: ignore[arg-type]
                            created_at=rfc3339(self.created_ms), stdout=out, stderr=err)
        return _enc.encode(partial)

    def events_after(self, after: int) -> list[tuple[int, bytes]]:
        if self.events_dropped:
            if self.result_event is not None and self.last_seq > after:
                return [(self.last_seq, self.result_event)]
            return []
        return [(i + 1, e) for i, e in enumerate(self.events[after:], start=after)]


OnFinished = Callable[[RunState, RunResult, bool], None]


class RunView:
    def __init__(self, event_log_budget_bytes: int = 128 << 20, result_budget_bytes: int = 256 << 20,
                 on_finished: OnFinished | None = None):
        self.runs: dict[str, RunState] = {}
        self.unfinished: dict[str, RunState] = {}
        self.queued: set[str] = set()   # submitted, neither started nor finished
        # Of `queued`, those whose submission is known: by runtime key, and by (runtime key, tenant).
        self.queued_by_runtime: Counter[str] = Counter()
        self.queued_by_tenant: Counter[tuple[str, str]] = Counter()
        self._with_events: OrderedDict[str, RunState] = OrderedDict()  # finished, log still kept
        self._with_result: OrderedDict[str, RunState] = OrderedDict()  # finished, result kept
        self._events_bytes = 0
        self._result_bytes = 0
        self.event_log_budget = event_log_budget_bytes
        self.result_budget = result_budget_bytes
        self.on_finished = on_finished
        self.live = False  # set once caught up: finishes seen from then on are "live"

    # ---- counts used by admission

    def queue_depth(self) -> int:
        return len(self.queued)

    def runtime_queued(self, runtime: str) -> int:
        return self.queued_by_runtime.get(runtime, 0)

    def tenant_queued(self, runtime: str, tenant: str) -> int:
        return self.queued_by_tenant.get((runtime, tenant), 0)

    def queued_tenants(self, runtime: str) -> list[str]:
        return [t for (r, t) in self.queued_by_tenant if r == runtime]

    def _count_queued(self, st: RunState, delta: int) -> None:
        runtime = f"{st.language}-{st.version}"
        for counter, key in ((self.queued_by_runtime, runtime), (self.queued_by_tenant, (runtime, st.tenant))):
            left = counter[key] + delta
            if left > 0:
                counter[key] = left
            else:
                del counter[key]

    def _unqueue(self, st: RunState) -> None:
        if st.run_id in self.queued:
            self.queued.discard(st.run_id)
            if st.tenant is not None:
                self._count_queued(st, -1)

    def active(self) -> int:
        return len(self.unfinished)

    def get(self, run_id: str) -> RunState | None:
        return self.runs.get(run_id)

    # ---- applying records

    def _state(self, run_id: str) -> RunState:
        st = self.runs.get(run_id)
        if st is None:
            st = RunState(run_id=run_id)
            self.runs[run_id] = st
            self.unfinished[run_id] = st
            self.queued.add(run_id)
        return st

    def submitted(self, rec: Submitted) -> RunState:
        st = self._state(rec.run_id)
        if st.tenant is None:
            st.tenant = rec.tenant
            st.language, st.version = rec.language, rec.version
            st.created_ms, st.interactive, st.function = rec.created_at_ms, rec.interactive, rec.function
            st.start_deadline_ms = rec.start_deadline_ms
            st.compat = rec.compat
            if rec.run_id in self.queued:
                self._count_queued(st, +1)
        return st

    def apply(self, rec: RunEventRecord) -> None:
        match rec:
            case Submitted():
                self.submitted(rec)
                return
            case _:
                pass
        st = self._state(rec.run_id)
        if st.finished:
            return  # the first result is final; later records (a duplicate, a late agent) are ignored
        match rec:
            case Started():
                if st.started_ms is not None:
                    return
                st.started_ms = rec.at_ms or now_ms()
                st.agent = rec.agent
                st.status = "running"
                self._unqueue(st)
                st._append({"type": "status", "status": "running"})
            case Output():
                st.outputs.append((rec.stream, rec.data))
                event = {"type": rec.stream, "stage": rec.stage, "data": rec.data}
                if rec.test is not msgspec.UNSET:
                    event["test"] = rec.test
                st._append(event)
            case RunTestEnded():
                st._append({"type": "test", **{f: getattr(rec, f) for f in rec.__struct_fields__ if f != "run_id"}})
            case Finished():
                self._finish(st, rec.result)
        st._wake()

    def _finish(self, st: RunState, result: RunResult) -> None:
        result = with_lost_output(st, result)
        st.status = result.status
        st.result = _enc.encode(result)
        st.result_event = st._append({"type": "result", "result": msgspec.Raw(st.result)})
        st.outputs = []
        self.unfinished.pop(st.run_id, None)
        self._unqueue(st)
        self._with_events[st.run_id] = st
        self._events_bytes += st.size_bytes
        self._with_result[st.run_id] = st
        self._result_bytes += len(st.result)
        self._evict()
        if self.on_finished is not None:
            self.on_finished(st, result, self.live)

    def _evict(self) -> None:
        while self._events_bytes > self.event_log_budget and len(self._with_events) > 1:
            _, old = self._with_events.popitem(last=False)
            self._events_bytes -= old.size_bytes
            old.events, old.events_dropped, old.size_bytes = [], True, 0
        while self._result_bytes > self.result_budget and len(self._with_result) > 1:
            rid, old = self._with_result.popitem(last=False)
            self._result_bytes -= len(old.result or b"")
            if rid in self._with_events:
                self._events_bytes -= self._with_events.pop(rid).size_bytes
            self.runs.pop(rid, None)

    # ---- readers

    async def follow(self, st: RunState, after: int = 0, idle_s: float = 15.0) -> AsyncIterator[tuple[int, bytes] | None]:
        """(seq, event JSON) from seq after+1 until the result; None every idle_s as a keep-alive."""
        cursor = after
        while True:
            batch = st.events_after(cursor)
            for seq, data in batch:
                cursor = seq
                yield seq, data
            if st.finished and cursor >= st.last_seq:
                return
            if not batch:
                await st.changed(idle_s)
                if not st.events_after(cursor) and not st.finished:
                    yield None

    async def wait_finished(self, st: RunState, timeout_s: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not st.finished:
            left = deadline - loop.time()
            if left <= 0:
                return False
            await st.changed(left)
        return True


LOST_CODES = ("agent_lost", "executor_lost")


def with_lost_output(st: RunState, result: RunResult) -> RunResult:
    """A run whose agent died mid-run is ended by someone who never saw its output (another
    agent, the reaper): its result keeps what the run had streamed, and the node it ran on."""
    if result.status != "failed" or result.error is None or result.error.code not in LOST_CODES:
        return result
    if result.stdout or result.stderr or not st.outputs:
        return result
    stdout = "".join(data for stream, data in st.outputs if stream == "stdout")
    stderr = "".join(data for stream, data in st.outputs if stream == "stderr")
    node = result.node or st.agent or None
    return msgspec.structs.replace(result, stdout=stdout, stderr=stderr, node=node)


def synthetic_result(st: RunState, status: str, error: ErrorInfo | None) -> RunResult:
    """A result the control plane writes itself (cancelled while queued, never started, lost)."""
    return results.never_ran(st.run_id, st.language, st.version, status, error,  # type: ignore[arg-type]
                             created_at_ms=st.created_ms)
