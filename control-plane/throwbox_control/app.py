"""The Sanic application: settings, start and stop, authentication, and each route module's routes.

Routes live in `routes_ops.py`, `routes_runs.py`, `routes_events.py`, `routes_functions.py`,
`playground.py` and `compat/`; error answers in `http_errors.py`.
"""

from __future__ import annotations

import time

from sanic import Request, Sanic
from sanic.response import HTTPResponse

from throwbox_common.runtimes import Registry

from . import (
    compat,
    http_errors,
    metrics,
    playground,
    routes_events,
    routes_functions,
    routes_ops,
    routes_runs,
)
from .config import Settings
from .consul import ConsulError
from .errors import ApiError, overloaded, unauthorized
from .http_common import error_response
from .invocations import InvocationConsumer
from .services import Services


def create_app(settings: Settings, registry: Registry, name: str = "throwbox") -> Sanic:
    app = Sanic(name, configure_logging=False)
    configure(app, settings)
    svc = Services(settings, registry)
    app.ctx.svc = svc
    invocations = InvocationConsumer(svc)  # Kafka callers (docs/kafka-callers.md)
    app.ctx.invocations = invocations

    @app.before_server_start
    async def _start(app_: Sanic) -> None:
        await svc.start()
        await invocations.start()

    @app.after_server_stop
    async def _stop(app_: Sanic) -> None:
        await invocations.stop()
        await svc.stop()

    app.on_request(authenticator(svc))
    app.on_response(_observe)
    http_errors.register(app, settings)
    routes_ops.register(app, svc, registry)
    playground.register(app, settings)  # the editor at / (docs/playground.md)
    routes_runs.register(app, svc, settings, registry)
    routes_events.register(app, svc, settings)
    routes_functions.register(app, svc, settings, registry)
    compat.register(app, svc, settings, registry)  # /api/v2 (Piston) and /judge0 (Judge0 CE)
    return app


def configure(app: Sanic, settings: Settings) -> None:
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


def authenticator(svc: Services):
    """The request hook: starts the timing, and finds the caller of every /v1/ route by its key."""
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

    return _authenticate


async def _observe(request: Request, response: HTTPResponse):
    t0 = getattr(request.ctx, "t0", None)
    if t0 is None or response is None:
        return
    route = request.route.path if request.route else "unmatched"
    metrics.request_latency.labels(request.method, route, str(response.status)).observe(time.perf_counter() - t0)
