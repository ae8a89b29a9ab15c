"""One invocation request: its tenant, its checked run, the run id derived from (tenant,
request_id), submitted once (waiting while admission refuses it for now or a dependency is
away), then its run's result."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re

import msgspec
from prometheus_client import Counter

from .. import metrics
from ..auth import Principal
from ..errors import ApiError, DependencyError, invalid, not_found
from ..runview import RunState
from ..schemas import FUNCTION_NAME_PATTERN
from ..services import Services
from ..validation import CheckedRun, check_invocation_tests, check_program, check_run, encode_stdin
from . import wire
from .tenants import TenantDirectory

log = logging.getLogger("throwbox.invocations")
FUNCTION_NAME = re.compile(FUNCTION_NAME_PATTERN)
RETRY_MAX_S = 5.0

waiting_quota = Counter("throwbox_invocations_admission_waits_total",
                        "Times an invocation waited because admission refused it for now, by code",
                        ["code"], registry=metrics.registry)


def invocation_run_id(tenant: str, request_id: str) -> str:
    """The one run id a (tenant, request_id) ever gets; same shape as any other run id."""
    digest = hashlib.sha256(b"throwbox-invocation\0" + tenant.encode() + b"\0" + request_id.encode())
    return "run_" + digest.hexdigest()[:24]


def _message(e: ApiError) -> str:
    if e.details and not e.message.startswith(e.details[0].get("field", "\0")):
        return e.message + " (" + "; ".join(f"{d['field']}: {d['problem']}" for d in e.details) + ")"
    return e.message


class InvocationHandler:
    def __init__(self, svc: Services, tenants: TenantDirectory):
        self.svc = svc
        self.tenants = tenants
        self._submitting: dict[str, asyncio.Lock] = {}

    async def execute(self, req: wire.Request) -> bytes:
        """The request's result (encoded RunResult): its run's, or a failed one."""
        tenant = req.tenant
        assert tenant, "wire.parse sets the topic's tenant"
        quota = await self._retrying(lambda: self.tenants.quota(tenant), "tenant lookup")
        if quota is None:
            return wire.failed_result("unauthorized", f"tenant {tenant!r} is unknown (it has no API key)")
        principal = Principal(tenant, quota)
        language = req.run.language if req.run is not None else ""
        try:
            checked = await self._check(req)
        except ApiError as e:
            return wire.failed_result(e.code, _message(e), language)
        run_id = invocation_run_id(tenant, req.request_id)
        # One check-and-submit at a time per run id: the same request twice in one batch is one run.
        derived = run_id
        lock = self._submitting.setdefault(derived, asyncio.Lock())
        try:
            async with lock:
                st = await self._known(run_id)
                if st is None:
                    run_id, st = await self._submit(principal, checked, req.function, run_id)
        except ApiError as e:
            return wire.failed_result(e.code, _message(e), checked.runtime.language)
        finally:
            if not lock.locked() and self._submitting.get(derived) is lock:
                del self._submitting[derived]
        log.info("invocation waiting for its run", extra={"request_id": req.request_id, "run_id": run_id})
        return await self._result(run_id, st)

    async def _check(self, req: wire.Request) -> CheckedRun:
        s, registry = self.svc.settings, self.svc.registry
        if req.run is not None:
            if req.run.interactive:
                raise invalid("run.interactive", "an interactive run needs the WebSocket API, not Kafka")
            return check_run(req.run, registry, s)
        name = req.function or ""
        if not FUNCTION_NAME.match(name):
            raise not_found("function not found")
        fn = await self._retrying(lambda: self.svc.functions.get(req.tenant or "", name), "function lookup")
        if fn is None:
            raise not_found("function not found")
        stdin = None if req.input is msgspec.UNSET else json.dumps(req.input)
        runtime, files, entry, limits = check_program(
            registry, s, language=fn.language, version=fn.version, files=fn.files,
            entrypoint=fn.entrypoint, env=fn.env, limits=fn.limits)
        tests = check_invocation_tests(req.tests, req.compare, req.stop_on_first_failure,
                                       {"input": req.input is not msgspec.UNSET}, limits, s)
        return CheckedRun(runtime, files, entry, [], dict(fn.env), encode_stdin(stdin, s), False, limits, None, tests)

    async def _known(self, run_id: str) -> RunState | None:
        """The run if any record of it exists (only this request can have made that id)."""
        while True:
            try:
                await self.svc.wait_caught_up()
                break
            except ApiError:
                await asyncio.sleep(1)
        st = self.svc.view.get(run_id)
        if st is None:
            await self.svc.bus.sync()
            st = self.svc.view.get(run_id)
        return st

    async def _submit(self, principal: Principal, checked: CheckedRun, function: str | None,
                      run_id: str) -> tuple[str, RunState | None]:
        delay = 0.2
        while True:
            try:
                # shielded: a cancelled handler must not leave an admitted run half-published
                return await asyncio.shield(self.svc.submit(principal, checked, function=function, run_id=run_id))
            except ApiError as e:
                if e.status not in (429, 503):
                    raise
                waiting_quota.labels(e.code).inc()
                wait = min(RETRY_MAX_S, float(e.retry_after_s or 1))
            except DependencyError as e:
                log.info("submission waits for a dependency", extra={"run_id": run_id, "error": str(e)})
                wait = delay
                delay = min(RETRY_MAX_S, delay * 2)
            await asyncio.sleep(wait)
            # A failed attempt may still have made the run known (e.g. Kafka failed mid-publish):
            # then that run, and its result, is the answer.
            st = await self._known(run_id)
            if st is not None:
                return run_id, st

    async def _result(self, run_id: str, st: RunState | None) -> bytes:
        while True:
            if st is None:
                st = await self._known(run_id)
                if st is None:
                    await asyncio.sleep(1)
                    continue
            if await self.svc.view.wait_finished(st, 30):
                return st.snapshot()

    async def _retrying(self, call, what: str):
        delay = 0.2
        while True:
            try:
                return await call()
            except DependencyError as e:
                log.info("%s waits for a dependency", what, extra={"error": str(e)})
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX_S, delay * 2)
