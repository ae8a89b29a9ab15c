"""The per-instance singletons and the run submission path shared by runs and functions."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
import msgspec

from throwbox_common.aio import cancel_and_wait
from throwbox_common.deadlines import START_GRACE_MS
from throwbox_common.messages import (
    Cancel,
    ErrorInfo,
    Finished,
    RunEventRecord,
    RunJob,
    RunResult,
    Submitted,
    now_ms,
)
from throwbox_common.runtimes import Registry

from . import metrics
from .admission import Admission, Quota
from .auth import KeyStore, Principal
from .bus import Bus, KafkaUnavailable
from .capacity import Bound, CapacityWatch, QueueDecision, QueuePlace, QueuePlaces, decide_queue
from .config import Settings
from .consul import KV, ConsulError
from .errors import ApiError, overloaded
from .runview import RunState, RunView, synthetic_result
from .store import FunctionStore, IdempotencyStore
from .validation import CheckedRun

log = logging.getLogger("throwbox.control")
RUN_ID_RE = re.compile(r"^run_[0-9a-f]{24}$")
SLOT_MARGIN_MS = 30_000       # admission entry outlives queue timeout + wall limit by this
REAP_GRACE_MS = START_GRACE_MS  # an unstarted run is failed this long after its start deadline
LOST_MARGIN_MS = 60_000        # a started run with no result this long past the max wall time is lost
_enc = msgspec.json.Encoder()


def new_run_id() -> str:
    return "run_" + secrets.token_hex(12)


def links(run_id: str) -> dict[str, str]:
    base = f"/v1/runs/{run_id}"
    return {"self": base, "events": base + "/events", "ws": base + "/ws"}


def accepted_body(run_id: str, status: str = "queued") -> bytes:
    return _enc.encode({"id": run_id, "status": status, "links": links(run_id)})


class EventBus(Protocol):
    """What the services use of Kafka (bus.Bus; a fake in unit tests)."""

    producer: object | None
    caught_up: asyncio.Event
    consumer_ok: bool

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def sync(self) -> None: ...
    async def lag(self) -> int: ...
    async def publish_submission(self, submitted: Submitted, job: RunJob) -> None: ...
    async def publish_event(self, rec: RunEventRecord) -> None: ...
    async def publish_control(self, rec: Cancel) -> None: ...


@dataclass
class Services:
    """The instance's parts. Production builds its own Consul KV and Kafka bus from the settings;
    unit tests hand in fakes (`kv`, `make_bus`) and a clock."""

    settings: Settings
    registry: Registry
    kv: KV | None = None
    make_bus: Callable[[RunView], EventBus] | None = None
    clock: Callable[[], int] = now_ms
    keys: KeyStore = field(init=False)
    admission: Admission = field(init=False)
    capacity: CapacityWatch = field(init=False)
    view: RunView = field(init=False)
    bus: EventBus = field(init=False)
    functions: FunctionStore = field(init=False)
    idempotency: IdempotencyStore = field(init=False)
    _tasks: list[asyncio.Task] = field(default_factory=list)
    _reaped: set[str] = field(default_factory=set)
    _background: set[asyncio.Task] = field(default_factory=set)
    _http: aiohttp.ClientSession | None = None
    _ready_cache: tuple[float, dict[str, str]] | None = None
    _places: QueuePlaces = field(default_factory=QueuePlaces)

    def __post_init__(self) -> None:
        s = self.settings
        if self.kv is None:
            self.kv = KV(s.consul_addr, s.consul_timeout_ms)
        self.keys = KeyStore(self.kv, Quota(s.default_max_concurrent, s.default_runs_per_minute), s.key_cache_ttl_ms)
        self.admission = Admission(self.kv, s.consul_retry_after_ms)
        self.capacity = CapacityWatch(self.kv, s.runs_topic)
        self.view = RunView(s.event_log_cache_bytes, s.result_cache_bytes, on_finished=self._on_finished)
        make_bus = self.make_bus or (lambda view: Bus(s.kafka_bootstrap, view, s.history_ms, s.runs_topic))
        self.bus = make_bus(self.view)
        self.functions = FunctionStore(self.kv)
        self.idempotency = IdempotencyStore(self.kv)
        self.max_wall_ms = self.registry.server_max.wall_time_ms

    # ---- lifecycle

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.0))
        await self.bus.start()
        self._tasks.append(asyncio.create_task(self._reaper(), name="reaper"))
        self._tasks.append(asyncio.create_task(self.capacity.run(), name="capacity"))

    async def stop(self) -> None:
        await cancel_and_wait(*self._tasks)
        await self.bus.stop()
        await self.kv.close()
        if self._http is not None:
            await self._http.close()

    # ---- run lookup

    async def find_run(self, principal: Principal, run_id: str) -> RunState:
        """The tenant's run, or 404 for anything else (unknown, malformed, another tenant's)."""
        if not RUN_ID_RE.match(run_id):
            raise ApiError(404, "not_found", "run not found")
        await self.wait_caught_up()
        st = self.view.get(run_id)
        if st is None or st.tenant is None:
            await self.bus.sync()  # submitted on another instance a moment ago?
            st = self.view.get(run_id)
        if st is None or st.tenant != principal.tenant:
            raise ApiError(404, "not_found", "run not found")
        return st

    async def wait_caught_up(self) -> None:
        if self.bus.caught_up.is_set():
            return
        try:
            await asyncio.wait_for(self.bus.caught_up.wait(), 5)
        except TimeoutError:
            raise overloaded("this instance is still reading the run history", 2) from None

    # ---- submission

    async def submit(self, principal: Principal, run: CheckedRun, function: str | None = None,
                     run_id: str | None = None, compat: dict[str, str] | None = None) -> tuple[str, RunState | None]:
        """Admit and publish one run; returns its id (an earlier run's for a repeated idempotency key).

        `run_id`: a caller-chosen id (Kafka invocations derive it from the request id); new if None.
        `compat`: what a compatibility API needs to read back with the run (Submitted.compat).
        """
        s = self.settings
        tenant = principal.tenant
        if run.idempotency_key is not None:
            earlier = await self._earlier_run(tenant, run.idempotency_key)
            if earlier is not None:
                return earlier, self.view.get(earlier)
        if self.view.active() >= s.max_active_runs:
            metrics.admission_refused.labels("overloaded").inc()
            raise overloaded("the platform is at its cap of active runs", 2)
        if self.bus.producer is None:
            raise overloaded("the event log (Kafka) is not reachable", 2)
        place = self._admit_to_queue(run.runtime.key, tenant)
        try:
            return await self._submit_admitted(principal, run, function, run_id, place, compat)
        finally:
            place.release()

    async def _submit_admitted(self, principal: Principal, run: CheckedRun, function: str | None,
                               run_id: str | None, place: QueuePlace,
                               compat: dict[str, str] | None = None) -> tuple[str, RunState | None]:
        s = self.settings
        tenant = principal.tenant

        run_id = run_id or new_run_id()
        created = self.clock()
        expires = created + s.queue_timeout_ms + run.limits.wall_time_ms + SLOT_MARGIN_MS
        decision = await self.admission.admit(tenant, run_id, principal.quota, expires)
        if not decision.admitted:
            metrics.admission_refused.labels(decision.code).inc()
            if decision.code == "quota_exceeded":
                raise ApiError(429, "quota_exceeded",
                               f"tenant already has its maximum of {principal.quota.max_concurrent} concurrent runs",
                               retry_after_s=decision.retry_after_s)
            raise ApiError(429, "rate_limited",
                           f"tenant is over its limit of {principal.quota.runs_per_minute} runs per minute",
                           retry_after_s=decision.retry_after_s)
        try:
            if run.idempotency_key is not None:
                owner = await self.idempotency.claim(tenant, run.idempotency_key, run_id)
                if owner != run_id:  # lost a race with a concurrent request carrying the same key
                    await self.admission.release(tenant, run_id)
                    return owner, self.view.get(owner)
            submitted = Submitted(run_id=run_id, tenant=tenant, language=run.runtime.language,
                                  version=run.runtime.version, created_at_ms=created,
                                  interactive=run.interactive, function=function,
                                  start_deadline_ms=created + s.queue_timeout_ms, compat=compat)
            job = RunJob(run_id=run_id, tenant=tenant, language=run.runtime.language,
                         version=run.runtime.version, files=run.files, entrypoint=run.entrypoint,
                         limits=run.limits, created_at_ms=created, args=run.args, env=run.env,
                         stdin=run.stdin, interactive=run.interactive,
                         start_deadline_ms=created + s.queue_timeout_ms, tests=run.tests)
        except ConsulError as e:
            await self.admission.release(tenant, run_id)
            raise overloaded(f"could not accept the run: {e}", 2) from e
        st = self.view.submitted(submitted)  # visible here at once, before our consumer reads it back
        place.release()                       # counted by the view from here on
        try:
            await self.bus.publish_submission(submitted, job)
        except KafkaUnavailable as e:
            log.error("run not published", extra={"run_id": run_id, "error": str(e)})
            await self.admission.release(tenant, run_id)
            if run.idempotency_key is not None:
                await self.idempotency.unclaim(tenant, run.idempotency_key, run_id)
            try:  # if the job got through after all, make sure the run still ends
                await self._finish_synthetic(st, "failed", ErrorInfo("submit_failed", "the run could not be queued"))
            except KafkaUnavailable:
                pass  # the reaper of any instance finishes it after the queue timeout
            raise overloaded("could not queue the run", 2) from e
        metrics.runs_submitted.inc()
        log.info("run submitted", extra={"run_id": run_id, "tenant": tenant, "runtime": run.runtime.key,
                                         "function": function})
        return run_id, st

    def queue_bound(self, runtime: str) -> Bound:
        s = self.settings
        return self.capacity.bound(runtime, s.queue_timeout_ms, s.queue_start_margin_ms,
                                   s.queue_bound_safety_percent / 100, s.max_queue_depth)

    def _admit_to_queue(self, runtime: str, tenant: str) -> QueuePlace:
        """A place in the runtime's queue, or 503 unless one more run of this tenant can wait for,
        and get, a sandbox in time. Decided without a pause, on the view's counts plus the places
        of submissions still on their way into the view (concurrent requests see each other)."""
        s = self.settings
        bound = self.queue_bound(runtime)
        queued_all = self.view.queue_depth() + self._places.total
        queued = self.view.runtime_queued(runtime) + self._places.of(runtime)
        if bound.agents < 0:    # no figures yet: the fixed outer limit alone
            decision = QueueDecision(True) if queued_all < s.max_queue_depth else \
                QueueDecision(False, 2, "too many runs are waiting for a sandbox")
        else:
            wanting = self.capacity.tenants_wanting(
                runtime, [*self.view.queued_tenants(runtime), *self._places.tenants(runtime)], tenant)
            tenant_queued = self.view.tenant_queued(runtime, tenant) + self._places.of(runtime, tenant)
            decision = decide_queue(bound, queued, tenant_queued, wanting, queued_all, s.max_queue_depth)
        if not decision.admitted:
            self.capacity.refused(runtime, tenant)
            metrics.admission_refused.labels("overloaded").inc()
            raise overloaded(decision.reason, decision.retry_after_s)
        return self._places.take(runtime, tenant)

    async def _earlier_run(self, tenant: str, key: str) -> str | None:
        from .store import IDEMPOTENCY_TTL_MS, _idem_dec  # noqa: PLC0415
        try:
            entry = await self.kv.get(self.idempotency._key(tenant, key))  # noqa: SLF001
        except ConsulError:
            rec = self.idempotency._local.get((tenant, key))  # noqa: SLF001
            return rec.run_id if rec and self.clock() - rec.created_at_ms < IDEMPOTENCY_TTL_MS else None
        if entry is None:
            return None
        rec = _idem_dec.decode(entry.value)
        return rec.run_id if self.clock() - rec.created_at_ms < IDEMPOTENCY_TTL_MS else None

    async def cancel(self, st: RunState) -> None:
        if st.finished:
            return
        await self.bus.publish_control(Cancel(run_id=st.run_id))
        if st.started_ms is None:
            # No agent holds it yet: record the end ourselves; an agent that picks the job up
            # later sees the result on throwbox.events and skips it.
            await self._finish_synthetic(st, "cancelled", None)

    async def _finish_synthetic(self, st: RunState, status: str, error: ErrorInfo | None) -> None:
        result = synthetic_result(st, status, error)
        await self.bus.publish_event(Finished(run_id=st.run_id, result=result, agent="control-plane"))

    # ---- bookkeeping

    def _on_finished(self, st: RunState, result: RunResult, live: bool) -> None:
        metrics.runs_finished.labels(result.status, result.outcome or "none").inc()
        if st.tenant is not None and self.admission.holds(st.run_id):  # only the admitter releases
            task = asyncio.get_running_loop().create_task(self._release(st.tenant, st.run_id))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _release(self, tenant: str, run_id: str) -> None:
        try:
            await self.admission.release(tenant, run_id)
        except Exception as e:
            log.warning("admission release failed (the entry will expire)", extra={"run_id": run_id, "error": repr(e)})

    async def _reaper(self) -> None:
        """Finish runs nobody will finish: never started by the deadline, or started and then lost."""
        jitter_ms = random.randint(0, 3000)  # instances rarely reap the same run at once
        while True:
            await asyncio.sleep(1)
            if not self.bus.caught_up.is_set() or self.bus.producer is None:
                continue
            try:
                await self._reap_once(self.clock(), jitter_ms)
            except Exception:  # one bad pass must not end reaping for the life of the process
                log.exception("reaper pass failed")

    async def _reap_once(self, now: int, jitter_ms: int) -> None:
        for st in list(self.view.unfinished.values()):
            if st.tenant is None or st.run_id in self._reaped or not st.created_ms:
                continue
            if st.started_ms is None:
                deadline = st.start_deadline_ms or st.created_ms + self.settings.queue_timeout_ms
                if now < deadline + REAP_GRACE_MS + jitter_ms:
                    continue
                status, err = "failed", ErrorInfo("queue_timeout", self._queue_timeout_cause())
            else:
                if now < st.started_ms + self.max_wall_ms + LOST_MARGIN_MS + jitter_ms:
                    continue
                status, err = "failed", ErrorInfo("executor_lost", "the executor running this run stopped reporting")
            self._reaped.add(st.run_id)
            try:
                await self._finish_synthetic(st, status, err)
                log.warning("run reaped", extra={"run_id": st.run_id, "reason": err.code})
            except KafkaUnavailable:
                self._reaped.discard(st.run_id)
        if len(self._reaped) > 100_000:
            self._reaped = {r for r in self._reaped if r in self.view.unfinished}

    def capacity_report(self) -> dict:
        """What admission's queue bounds rest on (informational: /readyz, tests, operators)."""
        runtimes = {}
        for r in self.capacity.runtimes():
            bound = self.queue_bound(r)
            runtimes[r] = {"queued": self.view.runtime_queued(r), "queued_max": bound.queued_max,
                           "start_rate_per_s": round(bound.start_rate_per_s, 3)}
        return {"known": self.capacity.known, "agents": len(self.capacity.agents),
                "queued": self.view.queue_depth(), "runtimes": runtimes}

    def _queue_timeout_cause(self) -> str:
        if self.capacity.known and not self.capacity.agents:
            return "no executor agent was alive to start the run within the queue timeout"
        return "no sandbox became free within the queue timeout"

    # ---- operations

    async def readiness(self) -> dict[str, str]:
        now = time.monotonic()
        if self._ready_cache is not None and now - self._ready_cache[0] < 1.0:
            return self._ready_cache[1]
        checks: dict[str, str] = {}
        checks["kafka"] = "ok" if (self.bus.consumer_ok and self.bus.producer is not None) else "down"
        checks["run_view"] = "ok" if self.bus.caught_up.is_set() else "catching up"
        try:
            checks["consul"] = "ok" if await self.kv.leader() else "down: no leader"
        except ConsulError:
            checks["consul"] = "down"
        checks["nomad"] = await self._nomad_readiness()
        for dep in ("kafka", "consul", "nomad"):
            metrics.dependency_up.labels(dep).set(1 if checks[dep] == "ok" else 0)
        self._ready_cache = (now, checks)
        return checks

    async def _nomad_readiness(self) -> str:
        """ok when one of the configured Nomad servers knows a leader (a cluster keeps working
        with one server down); else the last server's answer."""
        answer = "down"
        for addr in self.settings.nomad_addr.split(","):
            try:
                assert self._http is not None
                async with self._http.get(addr + "/v1/status/leader") as r:
                    body = await r.read()
                    if r.status == 200 and len(body.strip(b'" \n')) > 0:
                        return "ok"
                    answer = f"down: HTTP {r.status}"
            except (aiohttp.ClientError, TimeoutError, OSError, AssertionError):
                answer = "down"
        return answer

    async def refresh_gauges(self) -> None:
        metrics.runs_queued.set(self.view.queue_depth())
        metrics.runs_active.set(self.view.active())
        metrics.live_agents.set(len(self.capacity.agents))
        metrics.queue_bound.clear()
        metrics.start_rate.clear()
        metrics.warm_idle.clear()
        metrics.warm_size.clear()
        for r in self.capacity.runtimes():
            bound = self.queue_bound(r)
            metrics.queue_bound.labels(r).set(bound.queued_max)
            metrics.start_rate.labels(r).set(bound.start_rate_per_s)
        for a in self.capacity.agents:
            for r, f in a.runtimes.items():
                metrics.warm_idle.labels(a.name, r).set(f.idle)
                metrics.warm_size.labels(a.name, r).set(f.size)
        metrics.events_lag.set(await self.bus.lag())
