"""The per-instance singletons and the run submission path shared by runs and functions."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
import msgspec

from throwbox_common import acl_tokens
from throwbox_common.aio import cancel_and_wait
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
from .capacity import (
    Bound,
    CapacityWatch,
    OfferedRuntimes,
    QueueDecision,
    QueuePlace,
    QueuePlaces,
    decide_queue,
)
from .config import Settings
from .consul import KV, ConsulError
from .errors import ApiError, overloaded
from .health import Health
from .kafka_replication import ReplicationWatch
from .reaper import Reaper
from .runview import RunState, RunView, synthetic_result
from .store import FunctionStore, IdempotencyStore
from .validation import CheckedRun

log = logging.getLogger("throwbox.control")
RUN_ID_RE = re.compile(r"^run_[0-9a-f]{24}$")
SLOT_MARGIN_MS = 30_000       # admission entry outlives queue timeout + wall limit by this
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
    reaper: Reaper = field(init=False)
    health: Health = field(init=False)
    _tasks: list[asyncio.Task] = field(default_factory=list)
    _background: set[asyncio.Task] = field(default_factory=set)
    _places: QueuePlaces = field(default_factory=QueuePlaces)

    def __post_init__(self) -> None:
        s = self.settings
        if self.kv is None:
            self.kv = KV(s.consul_addr, s.consul_timeout_ms, acl_tokens.consul_headers(s.consul_token_file))
        self.keys = KeyStore(self.kv, Quota(s.default_max_concurrent, s.default_runs_per_minute), s.key_cache_ttl_ms)
        self.admission = Admission(self.kv, s.consul_retry_after_ms)
        self.capacity = CapacityWatch(self.kv, s.runs_topic)
        # Runs and the catalogues see only the runtimes some live agent can run (its image built).
        self.registry.offered = OfferedRuntimes(self.capacity)
        self.view = RunView(s.event_log_cache_bytes, s.result_cache_bytes, on_finished=self._on_finished)
        make_bus = self.make_bus or (lambda view: Bus(s.kafka_bootstrap, view, s.history_ms, s.runs_topic))
        self.bus = make_bus(self.view)
        self.functions = FunctionStore(self.kv)
        self.idempotency = IdempotencyStore(self.kv)
        self.max_wall_ms = self.registry.server_max.wall_time_ms
        self.reaper = Reaper(self.view, self.bus, self.capacity, s.queue_timeout_ms, self.max_wall_ms, self.clock,
                             self._finish_synthetic)
        self.health = Health(s.nomad_addr, self.kv, self.bus, self.view, self.capacity, self.queue_bound)

    # ---- lifecycle

    async def start(self) -> None:
        self.health.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.0))
        await self.bus.start()
        self._tasks.append(asyncio.create_task(self.reaper.run(), name="reaper"))
        self._tasks.append(asyncio.create_task(self.capacity.run(), name="capacity"))
        self._tasks.append(asyncio.create_task(ReplicationWatch(self.settings.kafka_bootstrap).run(),
                                               name="kafka-replication"))

    async def stop(self) -> None:
        await cancel_and_wait(*self._tasks)
        await self.bus.stop()
        await self.kv.close()
        if self.health.http is not None:
            await self.health.http.close()

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
            earlier = await self.idempotency.lookup(tenant, run.idempotency_key, self.clock())
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
