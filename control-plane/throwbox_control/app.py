"""The Sanic application: routes, authentication, error answers, live events."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time

import msgspec
from sanic import Request, Sanic
from sanic.exceptions import (
    BadRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    SanicException,
)
from sanic.response import HTTPResponse, raw

from throwbox_common.aio import cancel_and_wait
from throwbox_common.messages import StdinData, StdinEof
from throwbox_common.runtimes import Registry

from . import compat, metrics, openapi, playground, sse
from .auth import Principal
from .config import Settings
from .consul import ConsulError
from .errors import ApiError, DependencyError, error_body, invalid, overloaded, too_large, unauthorized
from .invocations import InvocationConsumer
from .schemas import (
    FUNCTION_NAME_PATTERN,
    WsCancel,
    WsStdin,
    WsStdinEof,
    function_spec_decoder,
    invoke_decoder,
    ws_message_decoder,
)
from .services import Services, accepted_body
from .validation import (
    CheckedRun,
    check_content_type,
    check_invocation_tests,
    check_program,
    check_run,
    decode,
    encode_stdin,
    run_request_decoder,
)

log = logging.getLogger("throwbox.http")
FUNCTION_NAME = re.compile(FUNCTION_NAME_PATTERN)
MAX_FUNCTION_BYTES = 400 * 1024  # a Consul KV value is at most 512 KiB
JSON = "application/json"
_enc = msgspec.json.Encoder()


def json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> HTTPResponse:
    return raw(body, status=status, headers=headers, content_type=JSON)


def error_response(e: ApiError) -> HTTPResponse:
    return json_response(e.body(), e.status, e.headers())


def create_app(settings: Settings, registry: Registry, name: str = "throwbox") -> Sanic:
    app = Sanic(name, configure_logging=False)
    app.config.REQUEST_MAX_SIZE = settings.max_body_bytes
    app.config.RESPONSE_TIMEOUT = 3600
    app.config.REQUEST_TIMEOUT = 60
    app.config.KEEP_ALIVE_TIMEOUT = 75
    # Piston's /api/v2/connect init carries the program's files, not just stdin chunks.
    app.config.WEBSOCKET_MAX_SIZE = max(settings.max_stdin_bytes, settings.max_body_bytes) + 64 * 1024
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = 10
    app.config.NOISY_EXCEPTIONS = False
    app.config.MOTD = False
    app.config.ACCESS_LOG = False
    svc = Services(settings, registry)
    app.ctx.svc = svc
    invocations = InvocationConsumer(svc)  # Kafka callers (docs/kafka-callers.md)
    app.ctx.invocations = invocations
    runtimes_body = _enc.encode([
        {"language": r.language, "version": r.version, "aliases": list(r.aliases), "compiled": r.compiled}
        for r in sorted(registry.runtimes, key=lambda r: (r.language, r.version))])

    @app.before_server_start
    async def _start(app_: Sanic) -> None:
        await svc.start()
        await invocations.start()

    @app.after_server_stop
    async def _stop(app_: Sanic) -> None:
        await invocations.stop()
        await svc.stop()

    # ---- middleware: timing, authentication

    @app.on_request
    async def _authenticate(request: Request):
        request.ctx.t0 = time.perf_counter()
        request.ctx.principal = None
        if not request.path.startswith("/v1/") or request.path == "/v1/openapi.json":
            return None
        header = request.headers.get("authorization", "")
        key = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if not key and request.path.endswith("/ws"):
            key = request.args.get("access_token", "")  # browsers cannot set headers on a WebSocket
        try:
            principal = await svc.keys.lookup(key) if key else None
        except ConsulError:
            return error_response(overloaded("cannot verify API keys right now (Consul unreachable)", 2))
        if principal is None:
            return error_response(unauthorized())
        request.ctx.principal = principal
        if request.path.endswith("/ws") and request.method == "GET":
            # Check the run before the WebSocket upgrade so a wrong id is a plain 404.
            try:
                request.ctx.run = await svc.find_run(principal, request.path.split("/")[3])
            except ApiError as e:
                return error_response(e)
        return None

    @app.on_response
    async def _observe(request: Request, response: HTTPResponse):
        t0 = getattr(request.ctx, "t0", None)
        if t0 is None or response is None:
            return
        route = request.route.path if request.route else "unmatched"
        metrics.request_latency.labels(request.method, route, str(response.status)).observe(time.perf_counter() - t0)

    # ---- error answers: always the contract's shape, never internals

    @app.exception(ApiError)
    async def _api_error(request: Request, e: ApiError):
        return error_response(e)

    @app.exception(NotFound)
    async def _not_found(request: Request, e: Exception):
        return error_response(ApiError(404, "not_found", "no such route"))

    @app.exception(MethodNotAllowed)
    async def _method(request: Request, e: MethodNotAllowed):
        allowed = []
        for method in ("GET", "POST", "PUT", "DELETE"):
            try:
                app.router.get(request.path, method, None)
                allowed.append(method)
            except SanicException:
                continue
        allow = ", ".join(allowed)
        return json_response(error_body("method_not_allowed", f"{request.method} is not allowed here"), 405,
                             {"Allow": allow} if allow else None)

    @app.exception(PayloadTooLarge)
    async def _too_large(request: Request, e: Exception):
        return error_response(too_large("body", f"body is larger than {settings.max_body_bytes} bytes"))

    @app.exception(RequestTimeout)
    async def _timeout(request: Request, e: Exception):
        return json_response(error_body("request_timeout", "the request took too long to arrive"), 408)

    @app.exception(BadRequest)
    async def _bad_request(request: Request, e: Exception):
        return error_response(invalid("request", "malformed HTTP request"))

    @app.exception(DependencyError)
    async def _dependency(request: Request, e: Exception):
        log.warning("dependency unavailable", extra={"path": request.path, "error": str(e)})
        return error_response(overloaded("a backing service is unavailable; retry shortly", 2))

    @app.exception(SanicException)
    async def _sanic(request: Request, e: SanicException):
        status = getattr(e, "status_code", 400) or 400
        if status >= 500:
            log.warning("server-side HTTP error", extra={"path": request.path, "error": str(e)})
            return error_response(overloaded("temporarily unable to answer; retry shortly", 2))
        return json_response(error_body("invalid_request", "the request could not be handled"), status)

    @app.exception(Exception)
    async def _unexpected(request: Request, e: Exception):
        # A bug: log everything, tell the client nothing about internals.
        log.exception("unhandled error", extra={"path": request.path, "method": request.method})
        return error_response(overloaded("temporarily unable to answer; retry shortly", 2))

    # ---- helpers

    def principal_of(request: Request) -> Principal:
        p = request.ctx.principal
        assert p is not None
        return p

    def body_of(request: Request) -> bytes:
        check_content_type(request.headers.get("content-type"))
        body = request.body or b""
        if len(body) > settings.max_body_bytes:
            raise too_large("body", f"body is larger than {settings.max_body_bytes} bytes")
        return body

    def wants_wait(request: Request) -> bool:
        value = request.args.get("wait", "false").lower()
        if value not in ("true", "false", "1", "0", ""):
            raise invalid("wait", "must be true or false")
        return value in ("true", "1")

    async def answer_run(run_id: str, st, wait: bool) -> HTTPResponse:
        if wait:
            if st is None:
                st = svc.view.get(run_id)
            if st is not None and await svc.view.wait_finished(st, settings.wait_cap_ms / 1000):
                return json_response(st.snapshot(), 200)
        status = st.status if st is not None else "queued"
        return json_response(accepted_body(run_id, status), 202)

    # ---- routes: catalogue and operations

    @app.get("/v1/runtimes")
    async def runtimes(request: Request):
        return json_response(runtimes_body)

    @app.get("/v1/openapi.json")
    async def openapi_doc(request: Request):
        return json_response(openapi.document())

    @app.get("/healthz")
    async def healthz(request: Request):
        return json_response(b'{"status":"ok"}')

    @app.get("/readyz")
    async def readyz(request: Request):
        checks = await svc.readiness()
        down = sorted(k for k, v in checks.items() if v != "ok")
        return json_response(_enc.encode({"ready": not down, "checks": checks, "down": down,
                                          "capacity": svc.capacity_report()}),
                             503 if down else 200)

    @app.get("/metrics")
    async def metrics_route(request: Request):
        await svc.refresh_gauges()
        return raw(metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")

    playground.register(app, settings)  # the editor at / (docs/playground.md)

    # ---- runs

    @app.post("/v1/runs")
    async def create_run(request: Request):
        principal = principal_of(request)
        wait = wants_wait(request)
        req = decode(body_of(request), run_request_decoder)
        checked = check_run(req, registry, settings)
        run_id, st = await svc.submit(principal, checked)
        return await answer_run(run_id, st, wait)

    @app.get("/v1/runs/<run_id:str>")
    async def get_run(request: Request, run_id: str):
        st = await svc.find_run(principal_of(request), run_id)
        return json_response(st.snapshot())

    @app.delete("/v1/runs/<run_id:str>")
    async def cancel_run(request: Request, run_id: str):
        st = await svc.find_run(principal_of(request), run_id)
        await svc.cancel(st)
        return json_response(accepted_body(run_id, st.status), 202)

    @app.get("/v1/runs/<run_id:str>/events")
    async def run_events(request: Request, run_id: str):
        after = sse.parse_after(request.args.get("after"), request.headers.get("last-event-id"))
        if after is None:
            raise invalid("after", "must be a non-negative integer")
        st = await svc.find_run(principal_of(request), run_id)
        response = await request.respond(
            content_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        async for item in svc.view.follow(st, after):
            if item is None:
                await response.send(sse.sse_comment())
            else:
                await response.send(sse.sse_event(*item))
        await response.eof()

    @app.websocket("/v1/runs/<run_id:str>/ws")
    async def run_ws(request: Request, ws, run_id: str):
        st = request.ctx.run
        after = sse.parse_after(request.args.get("after"), None) or 0

        async def send_events() -> None:
            async for item in svc.view.follow(st, after):
                if item is not None:
                    await ws.send(item[1].decode())

        async def receive() -> None:
            while True:
                message = await ws.recv()
                if message is None:
                    return
                reply = await handle_client_message(st, message)
                if reply is not None:
                    await ws.send(reply)

        sender = asyncio.create_task(send_events())
        receiver = asyncio.create_task(receive())
        try:
            done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if sender in done and sender.exception() is None:
                await ws.close(1000, "run finished")
        finally:
            await cancel_and_wait(sender, receiver)  # the client went away: nothing left to tell it

    async def handle_client_message(st, message: str | bytes) -> str | None:
        """Publish one client message; an error reply (never a dropped connection) when it is bad."""
        def err(code: str, text: str) -> str:
            return _enc.encode({"type": "error", "error": {"code": code, "message": text, "details": []}}).decode()

        try:
            msg = ws_message_decoder.decode(message)
        except msgspec.ValidationError as e:
            return err("invalid_request", f"bad message: {e}")
        except msgspec.DecodeError:
            return err("invalid_request", "messages must be JSON objects with a type: stdin, stdin_eof, cancel")
        try:
            match msg:
                case WsCancel():
                    await svc.cancel(st)
                case WsStdin() | WsStdinEof() if st.finished:
                    return err("invalid_request", "the run has finished")
                case WsStdin() if not st.interactive:
                    return err("invalid_request", "the run is not interactive (stdin was given at submit)")
                case WsStdin(data=data):
                    encode_stdin(data, settings)
                    await svc.bus.publish_control(StdinData(run_id=st.run_id, data=data))
                case WsStdinEof():
                    await svc.bus.publish_control(StdinEof(run_id=st.run_id))
        except ApiError as e:
            return err(e.code, e.message)
        except DependencyError:
            return err("overloaded", "could not forward the message; retry")
        return None

    # ---- functions

    def check_name(name: str, for_write: bool = False) -> None:
        if not FUNCTION_NAME.match(name):
            if for_write:
                raise invalid("name", "must match [a-z0-9][a-z0-9-]{0,62}")
            raise ApiError(404, "not_found", "function not found")

    def function_json(fn, with_files: bool = True) -> dict:
        d = msgspec.to_builtins(fn)
        if not with_files:
            d.pop("files", None)
        return d

    @app.put("/v1/functions/<name:str>")
    async def put_function(request: Request, name: str):
        principal = principal_of(request)
        check_name(name, for_write=True)
        body = body_of(request)
        spec = decode(body, function_spec_decoder)
        check_program(registry, settings, language=spec.language, version=spec.version, files=spec.files,
                      entrypoint=spec.entrypoint, env=spec.env, limits=spec.limits)
        if len(body) > MAX_FUNCTION_BYTES:
            raise too_large("body", f"a function may be at most {MAX_FUNCTION_BYTES} bytes")
        fn, created = await svc.functions.put(principal.tenant, name, spec)
        return json_response(_enc.encode(function_json(fn)), 201 if created else 200)

    @app.get("/v1/functions")
    async def list_functions(request: Request):
        fns = await svc.functions.list(principal_of(request).tenant)
        return json_response(_enc.encode([function_json(f, with_files=False) for f in fns]))

    @app.get("/v1/functions/<name:str>")
    async def get_function(request: Request, name: str):
        check_name(name)
        fn = await svc.functions.get(principal_of(request).tenant, name)
        if fn is None:
            raise ApiError(404, "not_found", "function not found")
        return json_response(_enc.encode(function_json(fn)))

    @app.delete("/v1/functions/<name:str>")
    async def delete_function(request: Request, name: str):
        check_name(name)
        if not await svc.functions.delete(principal_of(request).tenant, name):
            raise ApiError(404, "not_found", "function not found")
        return HTTPResponse(status=204)

    @app.post("/v1/functions/<name:str>/invoke")
    async def invoke_function(request: Request, name: str):
        principal = principal_of(request)
        check_name(name)
        wait = wants_wait(request)
        req = decode(body_of(request), invoke_decoder)
        if req.input is not msgspec.UNSET and req.stdin is not None:
            raise invalid("stdin", "give either input or stdin, not both")
        fn = await svc.functions.get(principal.tenant, name)
        if fn is None:
            raise ApiError(404, "not_found", "function not found")
        stdin = req.stdin
        if req.input is not msgspec.UNSET:
            stdin = json.dumps(req.input)
        runtime, files, entry, limits = check_program(
            registry, settings, language=fn.language, version=fn.version, files=fn.files,
            entrypoint=fn.entrypoint, env=fn.env, limits=fn.limits)
        tests = check_invocation_tests(
            req.tests, req.compare, req.stop_on_first_failure,
            {"input": req.input is not msgspec.UNSET, "stdin": req.stdin is not None, "args": bool(req.args)},
            limits, settings)
        checked = CheckedRun(runtime, files, entry, list(req.args), dict(fn.env),
                             encode_stdin(stdin, settings), False, limits, None, tests)
        run_id, st = await svc.submit(principal, checked, function=name)
        return await answer_run(run_id, st, wait)

    compat.register(app, svc, settings, registry)  # /api/v2 (Piston) and /judge0 (Judge0 CE)
    return app
